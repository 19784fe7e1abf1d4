"""Rollout use cases: what a target should serve, deploy, status, undeploy, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.ref import ModelRef
from modelyard.config import TargetConfig
from modelyard.deploy.plan import RolloutPlan, live_versions
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress, Rollout, default_actor
from modelyard.errors import Conflict, InputError, ModelyardError, NotFound, RolloutFailed
from modelyard.graph.dag import DependencyGraph
from modelyard.ops.build import Build, feasible_placement
from modelyard.ops.context import Context
from modelyard.store.access import AccessLog
from modelyard.store.history import DeploymentLog, DeploymentRecord
from modelyard.triton.client import TritonClient
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
    last_deployment: dict[str, Any] | None
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


def _rollout(
    ctx: Context,
    target: str,
    alias: str | None,
    options: DeployOptions | None,
    progress: Progress | None,
) -> Rollout:
    config, compiled, dependencies = deployment_inputs(Build(ctx, alias), target)
    return Rollout(
        DeploymentLog(ctx.store),
        target,
        config.url,
        Path(config.repository),
        compiled,
        dependencies,
        selection=f"alias {alias}" if alias else "newest",
        # The lease holder must stay unique per deployer: keep default_actor's token.
        actor=f"{ctx.actor} ({default_actor()})",
        options=options,
        progress=progress,
    )


def rollout_plan(ctx: Context, target: str = "local", *, alias: str | None = None) -> RolloutPlan:
    """What `deploy` would do: desired (compiled) against live (the server's index)."""
    rollout = _rollout(ctx, target, alias, None, None)
    try:
        return rollout.plan()
    finally:
        rollout.client.close()


def deploy(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> DeployResult:
    """Roll the selection out to `target`, dependencies first, with rollback on failure."""
    selection = {"alias": alias}
    rollout = _rollout(ctx, target, alias, options, progress)
    try:
        result = rollout.run()
    except ModelyardError as exc:  # recorded in the history too; the audit says who
        failed = (
            exc.result.to_dict()
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
    audit(ctx, "deploy", f"target {target}", selection, result.to_dict())
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
    selection = {"alias": alias, "fleet": True}
    for server in fleet.servers:
        assert server.url is not None and server.repository is not None
        share = server_share(compiled, placement, server.name, profile)
        rollout = Rollout(
            DeploymentLog(ctx.store),
            server.name,
            server.url,
            ctx.resolve_path(server.repository, f"fleet server {server.name}"),
            share,
            dependencies,
            selection=f"fleet, alias {alias}" if alias else "fleet, newest",
            options=options,
            progress=progress,
        )
        try:
            results[server.name] = rollout.run()
        except ModelyardError as exc:
            audit(
                ctx,
                "deploy",
                f"target {server.name}",
                selection,
                {"ok": False, "error": exc.message},
            )
            raise
        audit(ctx, "deploy", f"target {server.name}", selection, results[server.name].to_dict())
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
    with TritonClient(config.url, timeout_s=timeout_s) as client:
        live = live_versions(client.index())
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
    last = records[0].to_dict() if records else None
    failed = [a["model"] for a in (last or {}).get("actions", []) if a.get("status") == "failed"]
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
    name = compiled_model.triton_name
    log = DeploymentLog(ctx.store)
    holder = default_actor()
    log.acquire_lease(target, holder, DeployOptions().lease_ttl_s)
    try:
        with TritonClient(config.url) as client:
            live = live_versions(client.index())
            if name not in live:
                raise NotFound(f"{name} is not loaded on {target!r}")
            needing = _transitive_dependents(name, dependencies, set(live))
            if needing and not cascade:
                raise Conflict(
                    f"{', '.join(needing)} on {target!r} need {name}; undeploy them "
                    "first or pass --cascade to unload them too"
                )
            order = [*needing, name]
            record = log.start(target, f"{ctx.actor} ({holder})", f"undeploy {model_id}")
            for each in order:
                client.unload(each)
            log.finish(
                record,
                "succeeded",
                [{"model": m, "action": "unload", "status": "done"} for m in order],
            )
            audit(ctx, "undeploy", f"target {target}", {"live": sorted(live)}, {"unloaded": order})
            return order
    finally:
        log.release_lease(target, holder)


def _transitive_dependents(
    name: str, dependencies: dict[str, list[str]], live: set[str]
) -> list[str]:
    """Live models that need `name`, directly or not, dependents before what they need."""
    graph: DependencyGraph[str] = DependencyGraph(dependencies)
    if name not in graph.nodes:
        return []
    found = [n for n in graph.transitive_dependents(name) if n in live]
    return list(reversed(found))
