"""Rollout use cases: what a target should serve, deploy, status, undeploy, history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.ref import ModelRef
from modelyard.config import TargetConfig
from modelyard.deploy.plan import (
    RolloutPlan,
    keeping_others,
    live_versions,
    needs_kept_files,
    plan_changes,
)
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress, Rollout
from modelyard.deploy.runner import rollout_plan as plan_on_target
from modelyard.deploy.script import rollout_script
from modelyard.deploy.undeploy import run_undeploy
from modelyard.errors import (
    Conflict,
    Forbidden,
    InputError,
    ModelyardError,
    NotFound,
    Problem,
    RolloutFailed,
    Severity,
    TritonError,
    ValidationFailed,
)
from modelyard.ops.build import Build, CompileResult, feasible_placement, raise_if_blocked
from modelyard.ops.context import Context
from modelyard.ops.estimate import starting_estimate, with_estimate
from modelyard.store.access import AccessLog
from modelyard.store.experiments import ExperimentLog, ExperimentRecord
from modelyard.store.history import DeploymentLog, DeploymentRecord
from modelyard.targets.base import Target
from modelyard.targets.registry import open_target
from modelyard.triton.compiler import CompilePlan, server_share
from modelyard.triton.config import Profile
from modelyard.triton.repository import RepositoryWriteError


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
    # The experiments running on the target (A/B, canary, blue-green), as recorded: their
    # versions are part of what it should serve.
    experiments: list[ExperimentRecord] = []


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
    """The target's configuration, the selection compiled for it (with the target's own
    experiments' versions), and Triton's order."""
    build = build.on(target)
    config = build.ctx.target(target)
    if profile is not None:
        config = config.model_copy(update={"profile": profile})
    compiled = build.compiled(config.profile, "cannot deploy")
    return config, compiled, build.triton_dependencies()


def parse_refs(refs: Sequence[str] | None) -> tuple[ModelRef, ...] | None:
    """`ID`, `ID@VERSION`, `ID@ALIAS` each (InputError naming a malformed one); None for
    no reference at all (the whole selection)."""
    if not refs:
        return None
    return tuple(ModelRef.parse(ref) for ref in refs)


def targeted_inputs(
    ctx: Context, target: str, alias: str | None, refs: Sequence[str] | None
) -> tuple[TargetConfig, CompilePlan, dict[str, list[str]]]:
    """`deployment_inputs` of the whole selection, or (with `refs`) of the named versions
    and what they need only. A named model that is broken, or needs a broken one, stops
    the deploy before anything changes (ValidationFailed naming it); a model neither
    named nor needed is not even validated."""
    parsed = parse_refs(refs)
    if parsed is None:
        return deployment_inputs(Build(ctx, alias), target)
    named = ", ".join(map(str, parsed))

    def refused(problems: Sequence[Problem]) -> ValidationFailed:
        fix = "fix it, or name only the other models"
        if len(problems) == 1:
            message = f"{problems[0]}; nothing was deployed to {target}: {fix}"
            return ValidationFailed(message, problems)
        return ValidationFailed.from_problems(
            problems, f"cannot deploy {named} to {target}; nothing was deployed: {fix}"
        )

    try:
        config, compiled, dependencies = deployment_inputs(Build(ctx, alias, parsed), target)
    except ValidationFailed as exc:
        raise refused(exc.problems) from None
    skipped = [
        Problem(
            Severity.ERROR,
            "skipped",
            f"is not compiled for the {compiled.profile} profile of target {target!r}: "
            f"{compiled.skipped[ref.model_id]}; nothing was deployed",
            model=str(ref),
        )
        for ref in parsed
        if ref.model_id not in compiled.models and ref.model_id in compiled.skipped
    ]
    if skipped:
        raise ValidationFailed.from_problems(skipped, f"cannot deploy {named} to {target}")
    if compiled.blocked:  # every model of a targeted selection is named or needed
        raise refused([blocked.problem() for blocked in compiled.blocked.values()])
    return config, compiled, dependencies


def rollout_plan(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
    concurrency: int = DeployOptions.concurrency,
) -> RolloutPlan:
    """What `deploy` would do: desired (compiled) against live (the server's index), with
    how long its loads will take at `concurrency` (ops/estimate.py). With `refs`, only the
    named models and what they need change; every other one is `keep`."""
    config, compiled, dependencies = targeted_inputs(ctx, target, alias, refs)
    with open_target(target, config) as opened:
        plan, compiled = _plan_on(opened, compiled, dependencies, targeted=bool(refs))
    return with_estimate(ctx, plan, compiled, config, concurrency)


def _plan_on(
    opened: Target, compiled: CompilePlan, dependencies: dict[str, list[str]], *, targeted: bool
) -> tuple[RolloutPlan, CompilePlan]:
    """The plan on an open target, and the repository it publishes (targeted: with every
    other model's files as the target has them)."""
    if needs_kept_files(compiled, targeted):
        compiled = keeping_others(compiled, opened.published_files(), targeted=targeted)
    return plan_on_target(opened, compiled, dependencies, keep_others=targeted), compiled


def deploy(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
    expect_digest: str | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> DeployResult:
    """Roll the selection out to `target`, dependencies first, with rollback on failure.

    With `refs` (`ID`, `ID@VERSION`, `ID@ALIAS`), only the named versions and what they
    need change; every other model on the target keeps its files and stays loaded.
    With `expect_digest` (a plan's `digest`, e.g. the one a user confirmed), nothing
    starts unless today's plan is still that one (Conflict saying what it does now).
    """
    config, compiled, dependencies = targeted_inputs(ctx, target, alias, refs)
    if expect_digest is not None:
        with open_target(target, config) as opened:
            now, _ = _plan_on(opened, compiled, dependencies, targeted=bool(refs))
        _require_digest(now, expect_digest)
    return _audited_rollout(
        ctx,
        target,
        config,
        compiled,
        dependencies,
        described=_described(alias, refs),
        selection={"alias": alias, **({"refs": list(refs)} if refs else {})},
        options=options or DeployOptions(),
        progress=progress,
        keep_others=bool(refs),
    )


def team_deploy_refs(
    ctx: Context,
    target: str,
    team: str,
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
    check: bool = True,
) -> list[str]:
    """What a deploy by `team` (not an admin) may run: the named refs, or without any the
    selection's models `team` owns, so that it is targeted and every other model on the
    target is kept. With `check`, refused (Forbidden, naming them) when its plan would
    reload or unload a model of another team; loading one that is not served yet is
    allowed (no client of that team is served by it).

    Raises:
        Forbidden: the plan reloads another team's models.
        NotFound: the selection holds none of the team's models.
    """
    chosen = list(refs or ())
    if not chosen:
        view = Build(ctx, alias).view
        chosen = [ref for ref in view.roots if view.specs[ref].owner_team == team]
        if not chosen:
            raise NotFound(
                f"the selection ({_described(alias, None)}) holds no model of team {team!r}: "
                "nothing for this team to deploy"
            )
    if not check:
        return chosen
    try:
        plan = rollout_plan(ctx, target, alias=alias, refs=chosen)
    except TritonError:
        # The server does not answer: the deploy cannot reload anything either, and fails
        # with the same reason in its job; what it may change is still only `chosen`.
        return chosen
    others = other_teams_changes(ctx, plan, team)
    if others:
        raise Forbidden(
            f"deploying {', '.join(chosen)} to {target} would reload models of other teams: "
            f"{', '.join(others)}; ask those teams or an admin to deploy them first; "
            "nothing changed"
        )
    return chosen


def other_teams_changes(ctx: Context, plan: RolloutPlan, team: str) -> list[str]:
    """The models of other teams `plan` reloads or unloads, as `triton_name (team)`;
    loading one that is not served yet harms no client of that team."""
    owners = ctx.store.owners(a.model_id for a in plan.changes if a.model_id)
    return sorted(
        f"{a.triton_name} ({owners[a.model_id]})"
        for a in plan.changes
        if a.action in ("reload", "unload")
        and a.model_id is not None
        and owners.get(a.model_id, team) != team
    )


def confirm_plan(
    ctx: Context,
    target: str,
    digest: str,
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
) -> RolloutPlan:
    """Today's rollout plan if it is still the one with `digest` (the one a user was shown
    and confirmed); Conflict saying what it does now otherwise."""
    return _require_digest(rollout_plan(ctx, target, alias=alias, refs=refs), digest)


def _require_digest(plan: RolloutPlan, digest: str) -> RolloutPlan:
    if plan.digest != digest:
        doing = ", ".join(f"{a.action} {a.triton_name}" for a in plan.changes) or "nothing"
        raise Conflict(
            f"the rollout plan for {plan.target!r} changed since it was shown (the catalog "
            f"or the server changed); it now does: {doing}; review the plan again"
        )
    return plan


def _described(alias: str | None, refs: Sequence[str] | None) -> str:
    base = f"alias {alias}" if alias else "newest"
    return f"{', '.join(refs)} ({base}; others kept)" if refs else base


def export_script(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
    modelyard: Sequence[str],
    compile_args: Sequence[str],
) -> tuple[RolloutPlan, str]:
    """Today's rollout plan for `target` and the bash script that performs it (with its
    smoke tests, its rollback and the plan embedded for the compile step to check); see
    deploy/script.py. Only targets of kind `triton` (a local repository folder)."""
    config, compiled, dependencies = targeted_inputs(ctx, target, alias, refs)
    if config.kind != "triton":
        raise InputError(
            f"target {target!r} is of kind {config.kind!r}: an exported script restores a "
            "local repository folder on rollback, so it supports kind 'triton' only; use "
            "`modelyard deploy`"
        )
    if compiled.blocked:
        # The script's compile step would stop on them after writing the repository.
        raise ValidationFailed.from_problems(
            [blocked.problem() for blocked in compiled.blocked.values()],
            f"cannot export a rollout script for {target}: models are blocked; fix them, or "
            "use `modelyard deploy`, which deploys the rest and keeps them as served",
        )
    with open_target(target, config) as opened:
        plan, compiled = _plan_on(opened, compiled, dependencies, targeted=bool(refs))
    script = rollout_script(
        plan,
        compiled,
        url=config.url,
        repository=Path(config.repository),
        modelyard=modelyard,
        compile_args=compile_args,
    )
    return plan, script


def compile_target_repository(
    ctx: Context,
    target: str = "local",
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
    expected: RolloutPlan | None = None,
) -> CompileResult:
    """Write `target`'s repository as `deploy` would publish it (with `refs`: the named
    models compiled, every other model's files as they are), loading nothing.

    With `expected` (a plan written down earlier, as an exported script embeds it),
    write nothing unless today's plan is the same one.

    Raises:
        Conflict: today's plan is not `expected`; the message names what changed.
    """
    config, compiled, dependencies = targeted_inputs(ctx, target, alias, refs)
    with open_target(target, config) as opened:
        now, compiled = _plan_on(opened, compiled, dependencies, targeted=bool(refs))
        if expected is not None:
            changes = plan_changes(expected, now)
            if changes:
                raise Conflict(
                    f"target {target!r}: the catalog or the server no longer matches the plan "
                    f"this was written from ({'; '.join(changes)}); nothing was written; "
                    f"export the plan again (`modelyard plan --target {target} --script FILE`)"
                )
        diff = opened.diff(compiled.files)
        try:
            opened.publish(compiled.files)
        except RepositoryWriteError as exc:
            raise InputError(str(exc)) from exc
    result = CompileResult.of(compiled, diff, None, checked=False)
    raise_if_blocked(result, f"for target {target!r}")
    return result


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
    keep_others: bool = False,
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
                keep_others=keep_others,
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
        experiments=ExperimentLog(ctx.store).history(target=target, running_only=True),
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
