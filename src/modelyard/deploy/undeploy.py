"""Undeploy: unload a model (and, with `cascade`, the live models that need it) from a
target, under the target's lease, recorded in the deployment history.

The record names the ACTOR (who asked) and the lease HOLDER (the deployer process)
apart, as a rollout's does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from modelyard.deploy.lease import DEFAULT_LEASE_TTL_S, default_holder, hold_lease
from modelyard.deploy.plan import live_versions
from modelyard.errors import Conflict, ModelyardError, NotFound
from modelyard.graph.dag import DependencyGraph
from modelyard.store.history import DeploymentLog
from modelyard.targets.base import Target


class UndeployResult(BaseModel):
    """What an undeploy unloaded, in order (dependents first), and what was live before."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    ok: bool = True
    deployment_id: int = Field(serialization_alias="deployment")
    target: str
    model: str
    unloaded: list[str]
    live_before: list[str] = Field(default_factory=list)


def live_dependents(
    name: str, dependencies: Mapping[str, Sequence[str]], live: set[str]
) -> list[str]:
    """Live models that need `name`, directly or not, dependents before what they need."""
    graph: DependencyGraph[str] = DependencyGraph(dependencies)
    if name not in graph.nodes:
        return []
    found = [n for n in graph.transitive_dependents(name) if n in live]
    return list(reversed(found))


def run_undeploy(
    log: DeploymentLog,
    target: Target,
    name: str,
    dependencies: Mapping[str, Sequence[str]],
    *,
    cascade: bool,
    actor: str,
    holder: str | None = None,
    selection: str | None = None,
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    wait_for_lease_s: float = 0.0,
    unload_timeout_s: float | None = None,
) -> UndeployResult:
    """Unload the Triton model `name` from `target`.

    Args:
        dependencies: Triton name -> Triton names it needs (as for a rollout).
        cascade: unload the live models that need `name` first; without it they refuse.
        actor: who asked (recorded in the history as the actor).
        holder: the lease holder, unique per deployer; default: a new `default_holder()`.
        selection: what the history record says was asked; default `undeploy <name>`.

    Raises:
        Conflict: the lease is held by another deployer, or live models need `name`.
        NotFound: `name` is not loaded on the target.
        TritonError: the server refused an unload (recorded as a failed deployment).
    """
    holder = holder or default_holder()
    with hold_lease(log, target.name, holder=holder, ttl_s=lease_ttl_s, wait_s=wait_for_lease_s):
        live = live_versions(target.index())
        if name not in live:
            raise NotFound(f"{name} is not loaded on {target.name!r}")
        needing = live_dependents(name, dependencies, set(live))
        if needing and not cascade:
            raise Conflict(
                f"{', '.join(needing)} on {target.name!r} need {name}; undeploy them "
                "first or pass --cascade to unload them too"
            )
        order = [*needing, name]
        record = log.start(target.name, actor, selection or f"undeploy {name}", holder=holder)
        actions = [{"model": m, "action": "unload", "status": "pending"} for m in order]
        for action in actions:
            try:
                target.unload(action["model"], timeout_s=unload_timeout_s)
            except BaseException as exc:  # recorded, then re-raised: never left "running"
                action["status"] = "failed"
                message = (
                    exc.message
                    if isinstance(exc, ModelyardError)
                    else f"{type(exc).__name__}: {exc}"
                )
                log.finish(record, "failed", actions, message)
                raise
            action["status"] = "done"
        log.finish(record, "succeeded", actions)
        return UndeployResult(
            deployment_id=record,
            target=target.name,
            model=name,
            unloaded=order,
            live_before=sorted(live),
        )
