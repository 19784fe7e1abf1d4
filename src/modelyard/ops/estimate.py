"""Rollout estimates from the deployment history: the load seconds earlier rollouts to a
target recorded, scheduled by deploy/estimate.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.config import TargetConfig
from modelyard.deploy.estimate import RolloutEstimate, estimate_rollout, load_figures
from modelyard.deploy.plan import RolloutPlan
from modelyard.deploy.runner import rollout_plan as plan_on_target
from modelyard.errors import ModelyardError
from modelyard.ops.context import Context
from modelyard.store.history import DeploymentLog, DeploymentRecord
from modelyard.targets.base import Target
from modelyard.triton.compiler import CompilePlan

# The newest deployments of a target whose load times are read, and the newest loads of
# one model kept from them: recent enough to follow a model that got slower.
HISTORY_DEPLOYMENTS = 50
SAMPLES_PER_MODEL = 10


def recorded_loads(records: Sequence[DeploymentRecord]) -> dict[str, list[float]]:
    """Triton name -> the seconds of its completed loads and reloads, newest first.

    A load that failed took no load's time; one rolled back after it had finished
    (`rolled_back` without an error) did.
    """
    loads: dict[str, list[float]] = {}
    for record in records:  # newest first
        for action in record.actions:
            seconds = action.get("seconds")
            finished = action.get("status") == "done" or (
                action.get("status") == "rolled_back" and not action.get("error")
            )
            if (
                action.get("action") in ("load", "reload")
                and finished
                and isinstance(seconds, int | float)
            ):
                times = loads.setdefault(str(action["model"]), [])
                if len(times) < SAMPLES_PER_MODEL:
                    times.append(float(seconds))
    return loads


def backends(compiled: CompilePlan) -> dict[str, str]:
    """Triton name -> its backend (or platform: `ensemble`), as guesses group models."""
    return {
        model.triton_name: model.config.backend or model.config.platform or "unknown"
        for model in compiled.models.values()
    }


def estimate_plan(
    ctx: Context,
    plan: RolloutPlan,
    compiled: CompilePlan,
    *,
    concurrency: int,
    load_threads: int | None = None,
) -> RolloutEstimate:
    """How long `plan`'s loads will take on its target, from the target's history."""
    recorded = recorded_loads(DeploymentLog(ctx.store).history(plan.target, HISTORY_DEPLOYMENTS))
    names = [a.triton_name for a in plan.actions if a.action in ("load", "reload")]
    figures = load_figures(names, recorded, backends(compiled))
    return estimate_rollout(
        plan.actions, figures, concurrency=concurrency, load_threads=load_threads
    )


def with_estimate(
    ctx: Context, plan: RolloutPlan, compiled: CompilePlan, config: TargetConfig, concurrency: int
) -> RolloutPlan:
    """`plan` carrying its estimate (`plan --target`, the API's rollout plan)."""
    estimate = estimate_plan(
        ctx, plan, compiled, concurrency=concurrency, load_threads=config.load_threads
    )
    return plan.model_copy(update={"estimate": estimate})


def starting_estimate(
    ctx: Context,
    target: Target,
    compiled: CompilePlan,
    dependencies: Mapping[str, Sequence[str]],
    config: TargetConfig,
    concurrency: int,
) -> dict[str, Any] | None:
    """The estimate a deployment records when it starts, as JSON; None when the plan
    cannot be made (the server does not answer...): the rollout then fails with its own
    reason, recorded in the history."""
    try:
        plan = plan_on_target(target, compiled, dependencies)
        estimate = estimate_plan(
            ctx, plan, compiled, concurrency=concurrency, load_threads=config.load_threads
        )
    except ModelyardError:
        return None
    return estimate.model_dump(mode="json")
