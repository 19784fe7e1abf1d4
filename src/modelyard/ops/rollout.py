"""Rollout use cases: what a target should serve, deploy, status, undeploy, history."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.ref import ModelRef
from modelyard.config import TargetConfig
from modelyard.deploy.plan import RolloutPlan, live_versions
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress, Rollout
from modelyard.deploy.runner import rollout_plan as plan_on_target
from modelyard.deploy.undeploy import run_undeploy
from modelyard.errors import InputError, ModelyardError, NotFound, RolloutFailed
from modelyard.ops.build import Build, feasible_placement
from modelyard.ops.context import Context
from modelyard.ops.estimate import starting_estimate, with_estimate
from modelyard.store.access import AccessLog
from modelyard.store.history import DeploymentLog, DeploymentRecord
from modelyard.targets.registry import open_target
from modelyard.triton.compiler import CompilePlan, server_share
from modelyard.triton.config import Profile


class StatusModel(BaseModel):
    """One Triton model on a target: what the selection wants against what is loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    catalog_model: str | None
    desired_versions: list[int]
    live_versions: list[int]
    state: str


class StatusResult(BaseModel):
    """Desired (the compiled selection) against live (the server's index), and drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    target: str
    url: str
    in_sync: bool
    models: list[StatusModel]
    drift: list[StatusModel]
    last_deployment: DeploymentRecord | None
    failed_models: list[str]


class TargetStatus(BaseModel):
    """`status` of a target, or why it could not be read (the report never fails on it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str
    status: StatusResult | None = None
    error: str | None = None


def audit(ctx: Context, action: str, object_: str, before: Any, after: Any) -> None:
    AccessLog(ctx.store).record(ctx.actor, action, object_, before, after)


def deployment_inputs(
    build: Build, target: str, profile: Profile | None = None
) -> tuple[TargetConfig, CompilePlan, dict[str, list[str]]]:
    """The target's configuration, the selection compiled for it, and Triton's order."""
    config = build.ctx.target(target)
    if profile is not None:
        config = config.model_copy(update={"profile": profile})
    compiled = build.compiled(config.profile, "cannot deploy")
    return config, compiled, build.triton_dependencies()


def rollout_plan(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    concurrency: int = DeployOptions.concurrency,
) -> RolloutPlan:
    """What `deploy` would do: desired (compiled) against live (the server's index), with
    how long its loads will take at `concurrency` (ops/estimate.py)."""
    config, compiled, dependencies = deployment_inputs(Build(ctx, alias), target)
    with open_target(target, config) as opened:
        plan = plan_on_target(opened, compiled, dependencies)
    return with_estimate(ctx, plan, compiled, config, concurrency)


def deploy(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> DeployResult:
    """Roll the selection out to `target`, dependencies first, with rollback on failure."""
    config, compiled, dependencies = deployment_inputs(Build(ctx, alias), target)
    return _audited_rollout(
        ctx,
        target,
        config,
        compiled,
        dependencies,
        described=f"alias {alias}" if alias else "newest",
        selection={"alias": alias},
        options=options or DeployOptions(),
        progress=progress,
    )


def _audited_rollout(
    ctx: Context,
    target: str,
    config: TargetConfig,
    compiled: CompilePlan,
    dependencies: dict[str, list[str]],
    *,
    described: str,
    selection: dict[str, Any],
    options: DeployOptions,
    progress: Progress | None,
) -> DeployResult:
    """One rollout through the target's kind, audited as the context's actor either way."""
    try:
        with open_target(target, config, timeout_s=options.load_timeout_s) as opened:
            estimate = starting_estimate(
                ctx, opened, compiled, dependencies, config, options.concurrency
            )
            result = Rollout(
                DeploymentLog(ctx.store, estimate=estimate),
                opened,
                compiled,
                dependencies,
                selection=described,
                actor=ctx.actor,
                options=options,
                progress=progress,
            ).run()
    except ModelyardError as exc:  # recorded in the history too; the audit says who
        failed = (
            exc.result.model_dump(mode="json")
            if isinstance(exc, RolloutFailed) and isinstance(exc.result, DeployResult)
            else None
        )
        audit(
            ctx,
            "deploy",
            f"target {target}",
            selection,
            {"ok": False, "error": exc.message, "deployment": failed},
        )
        raise
    audit(ctx, "deploy", f"target {target}", selection, result.model_dump(mode="json"))
    return result


def deploy_fleet(
    ctx: Context,
    *,
    alias: str | None = None,
    profile: Profile = "production",
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> dict[str, DeployResult]:
    """Place the selection on the fleet and roll each server's share out to it.

    Each server is its own target (named after it, with its own lease and history):
    its `url` and `repository` in modelyard.yaml say where. Servers go one after the
    other; the first failure stops the rest (that server is rolled back).
    """
    fleet = ctx.require_fleet("deploy --fleet")
    missing = [s.name for s in fleet.servers if not s.url or not s.repository]
    if missing:
        raise InputError(
            f"fleet servers {', '.join(missing)} need `url` and `repository` "
            "in modelyard.yaml to be deployed to"
        )
    build = Build(ctx, alias)
    _, compiled, dependencies = deployment_inputs(build, "local", profile=profile)
    placement = feasible_placement(build, "nothing was deployed")
    results: dict[str, DeployResult] = {}
    options = options or DeployOptions()
    for server in fleet.servers:
        assert server.url is not None and server.repository is not None
        share = server_share(compiled, placement, server.name, profile)
        config = TargetConfig(
            url=server.url,
            repository=str(ctx.resolve_path(server.repository, f"fleet server {server.name}")),
            profile=profile,
        )
        results[server.name] = _audited_rollout(
            ctx,
            server.name,
            config,
            share,
            dependencies,
            described=f"fleet, alias {alias}" if alias else "fleet, newest",
            selection={"alias": alias, "fleet": True},
            options=options,
            progress=progress,
        )
    return results


def history(ctx: Context, target: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
    return DeploymentLog(ctx.store).history(target, limit)


def status(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    timeout_s: float = 30.0,
    build: Build | None = None,
) -> StatusResult:
    """Desired (compiled selection) against live (the server's index), and drift.

    `timeout_s` bounds each read from the server (a dashboard page wants a short one);
    `build` lets several targets' statuses share one selection and its compiles.
    """
    config, compiled, _ = deployment_inputs(build or Build(ctx, alias), target)
    with open_target(target, config, timeout_s=timeout_s) as opened:
        live = live_versions(opened.index())
    models: list[StatusModel] = []
    for model in compiled.models.values():
        wanted = sorted(model.versions.values())
        serving = live.get(model.triton_name, [])
        state = "serving" if serving == wanted else "missing" if not serving else "other versions"
        models.append(
            StatusModel(
                model=model.triton_name,
                catalog_model=model.model_id,
                desired_versions=wanted,
                live_versions=serving,
                state=state,
            )
        )
    desired = {m.triton_name for m in compiled.models.values()}
    models += [
        StatusModel(
            model=name,
            catalog_model=None,
            desired_versions=[],
            live_versions=versions,
            state="not in the catalog selection",
        )
        for name, versions in sorted(live.items())
        if name not in desired
    ]
    records = history(ctx, target, limit=1)
    last = records[0] if records else None
    failed = [a["model"] for a in (last.actions if last else []) if a.get("status") == "failed"]
    drift = [m for m in models if m.state != "serving"]
    return StatusResult(
        target=target,
        url=config.url,
        in_sync=not drift,
        models=models,
        drift=drift,
        last_deployment=last,
        failed_models=failed,
    )


def statuses(
    ctx: Context,
    targets: list[str],
    *,
    alias: str | None = None,
    timeout_s: float = 30.0,
    build: Build | None = None,
) -> list[TargetStatus]:
    """`status` of each target, over one build; a target that cannot be read says why."""
    build = build or Build(ctx, alias)
    found = []
    for name in targets:
        try:
            found.append(
                TargetStatus(
                    target=name, status=status(ctx, name, timeout_s=timeout_s, build=build)
                )
            )
        except ModelyardError as exc:
            found.append(TargetStatus(target=name, error=exc.message))
    return found


def undeploy(
    ctx: Context,
    reference: str,
    target: str = "local",
    *,
    cascade: bool = False,
    alias: str | None = None,
) -> list[str]:
    """Unload a model from `target`; refused while live models need it, unless `cascade`
    (then they go first). Returns the Triton names unloaded, in order."""
    model_id = ModelRef.parse(reference).model_id
    config, compiled, dependencies = deployment_inputs(Build(ctx, alias), target)
    compiled_model = compiled.models.get(model_id)
    if compiled_model is None:
        raise NotFound(f"{model_id} is not in the compiled selection for {target!r}")
    with open_target(target, config) as opened:
        result = run_undeploy(
            DeploymentLog(ctx.store),
            opened,
            compiled_model.triton_name,
            dependencies,
            cascade=cascade,
            actor=ctx.actor,
            selection=f"undeploy {model_id}",
        )
    audit(
        ctx,
        "undeploy",
        f"target {target}",
        {"live": result.live_before},
        {"unloaded": result.unloaded},
    )
    return result.unloaded
