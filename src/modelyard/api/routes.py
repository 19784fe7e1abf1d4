"""The REST endpoints under /api/v1: parse, check the caller, call the Workspace, answer.

Every change goes through a Workspace method that writes the audit entry; the checks
here are only who may do what (see auth.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from modelyard.api import schemas
from modelyard.api.auth import Principal, admin, principal
from modelyard.api.jobs import JobList, JobSnapshot
from modelyard.api.state import LIVE_READ_TIMEOUT_S, api_state
from modelyard.api.webhooks import configured
from modelyard.catalog.lifecycle import ACTIVE, VersionStatus
from modelyard.catalog.ref import ModelRef, check_version
from modelyard.catalog.spec import ModelSpec
from modelyard.deploy.plan import RolloutPlan
from modelyard.deploy.runner import DeployOptions
from modelyard.errors import Forbidden, InputError, ModelyardError, Problem, Severity
from modelyard.ops import canary, traffic
from modelyard.ops.canary import RolloutList, RolloutStatus
from modelyard.ops.catalog import GRAPH_HOPS_MAX, AliasMove, GraphData, ShowResult, StatusChange
from modelyard.ops.context import Context
from modelyard.ops.insight import ExperimentDetail, experiment_detail
from modelyard.ops.outcomes import ExperimentReport, FeedbackResult
from modelyard.ops.rollout import StatusResult, other_teams_changes
from modelyard.ops.traffic import ExperimentList, ExperimentResult, GatewayStatus
from modelyard.planning import DeploymentPlan
from modelyard.registry import ApplyResult
from modelyard.report.data import CatalogReport
from modelyard.report.graphs import render_svg, to_dot
from modelyard.report.html import PageLinks
from modelyard.store.access import ApiToken, parse_duration
from modelyard.store.webhooks import WebhookLog
from modelyard.traffic.haproxy import REQUEST_ID_MAX
from modelyard.validation import ValidationReport
from modelyard.workspace import Workspace

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorOut, "description": description}
    for status, description in (
        (400, "The body is not JSON."),
        (401, "No token, or an unknown or revoked one."),
        (
            403,
            "The token's role or team does not allow this, or a manifest names an "
            "artifact outside the server's `api.artifact_roots`.",
        ),
        (404, "No such model, version, alias, target, job or experiment, or no gateway runs."),
        (
            409,
            "Conflict: a stale alias (compare-and-set), an immutable version, a deployment "
            "already running on the target, a yanked version (as an alias target or an "
            "arm), an alias on a version being yanked, a second experiment on a model, a "
            "gateway running already or its port in use.",
        ),
        (422, "Malformed input: the offending field is named."),
        (502, "The Triton server (or the gateway) refused or could not be reached."),
        (503, "The catalog database cannot be used."),
    )
}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)

Caller = Annotated[Principal, Depends(principal)]
# The HTML report's pages link to one another through this endpoint (`?domain=`).
REPORT_URL = "/api/v1/report/html"
Admin = Annotated[Principal, Depends(admin)]
Domain = Annotated[str, Query(max_length=64)]
VersionQuery = Annotated[
    str | None, Query(max_length=32, description="A version; default: the newest.")
]
AliasQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Select the versions this alias points to instead of the newest of each model.",
    ),
]
TargetQuery = Annotated[
    str, Query(max_length=64, description="A target in modelyard.yaml, or local.")
]


def _ws(request: Request) -> Workspace:
    return api_state(request).workspace


def _reference(domain: str, name: str, version: str | None = None, alias: str | None = None) -> str:
    """`domain/name`, `@version` or `@alias`: the reference every operation parses."""
    if version and alias:
        raise InputError("give either version or alias, not both")
    if version:
        check_version(version, "version")
    reference = f"{domain}/{name}@{version or alias}" if version or alias else f"{domain}/{name}"
    return str(ModelRef.parse(reference))


def _summary(spec: ModelSpec, status: VersionStatus) -> schemas.ModelSummary:
    return schemas.ModelSummary(
        ref=spec.ref,
        id=spec.id,
        domain=spec.domain,
        name=spec.name,
        version=spec.version,
        framework=spec.framework,
        model_type=spec.model_type,
        owner_team=spec.owner_team,
        description=spec.description,
        dependencies=list(spec.dependencies),
        status=status.status,
        status_reason=status.reason,
    )


# Who am I, and where can I deploy ----------------------------------------------------


@router.get("/me", response_model=schemas.Me, tags=["access"])
def me(caller: Caller) -> schemas.Me:
    """The caller's team and role."""
    return schemas.Me(
        token_id=caller.token_id, prefix=caller.prefix, team=caller.team, role=caller.role
    )


@router.get("/targets", response_model=schemas.TargetList, tags=["deployments"])
def targets(request: Request, _caller: Caller) -> schemas.TargetList:
    """The deployment targets of modelyard.yaml (and `local`)."""
    ws = _ws(request)
    names = sorted({"local", *ws.config.targets})
    found = []
    for name in names:
        config = ws.config.targets.get(name) or ws.target(name)
        found.append(
            schemas.TargetOut(
                name=name,
                url=config.url,
                profile=config.profile,
                teams=list(config.teams) if config.teams is not None else None,
            )
        )
    return schemas.TargetList(targets=found)


# Models ------------------------------------------------------------------------------


def _listed_models(
    request: Request,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    framework: Annotated[str | None, Query(max_length=32)] = None,
    all_versions: bool = False,
    label: Annotated[list[str] | None, Query(max_length=128)] = None,
) -> list[ModelSpec]:
    """The filters GET /models and GET /specs share, applied."""
    return _ws(request).list_models(
        domain=domain,
        team=team,
        framework=framework,
        all_versions=all_versions,
        labels=label or (),
    )


ListedModels = Annotated[list[ModelSpec], Depends(_listed_models)]


@router.get("/models", response_model=schemas.ModelList, tags=["models"])
def list_models(
    request: Request,
    _caller: Caller,
    specs: ListedModels,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.ModelList:
    """Registered models (of each, the newest version not yanked; or every version),
    filtered (`label=KEY=VALUE` or `label=KEY`, repeatable: all must match), each with
    its status, ordered by id and version. `limit` and `offset` give one page of them;
    `count` is how many matched in all."""
    ws = _ws(request)
    specs.sort(key=lambda s: (s.id, s.parsed_version))
    page = specs[offset : None if limit is None else offset + limit]
    statuses = ws.version_statuses({s.id for s in page})
    return schemas.ModelList(
        count=len(specs), models=[_summary(s, statuses.get(s.ref, ACTIVE)) for s in page]
    )


@router.get("/specs", response_model=schemas.SpecList, tags=["models"])
def list_specs(_caller: Caller, specs: ListedModels) -> schemas.SpecList:
    """As GET /models, with each version's whole spec, in the catalog's order: what
    `modelyard list` lists (GET /statuses says which are yanked or deprecated)."""
    return schemas.SpecList(count=len(specs), specs=[s.model_dump(mode="json") for s in specs])


@router.get("/statuses", response_model=schemas.StatusMap, tags=["models"])
def statuses(request: Request, _caller: Caller) -> schemas.StatusMap:
    """Every yanked or deprecated version, with why and since when (the rest are active)."""
    return schemas.StatusMap(statuses=_ws(request).version_statuses())


@router.post(
    "/models",
    response_model=ApplyResult,
    tags=["models"],
    summary="Register versions from a manifest body",
)
def register(request: Request, body: schemas.ManifestIn, caller: Caller) -> ApplyResult:
    """Register the manifest's versions in one transaction, as `modelyard apply` does.

    Maintainers register only models their team owns; re-registering the same content
    changes nothing; a registered version with other content is 409. An `artifact` is a
    path on the server, relative to the workspace folder, and must lie (symlinks followed)
    under `api.artifact_roots` of modelyard.yaml (default: the workspace folder): 403 if not.
    """
    if caller.role == "viewer":
        raise Forbidden(
            "a viewer token cannot register models; ask for a maintainer token of "
            "the team that owns them"
        )
    if (body.manifest is None) == (body.files is None):
        raise InputError("give either `manifest` (one YAML text) or `files`, not both or neither")
    files = (
        [(f.source, f.text) for f in body.files]
        if body.files is not None
        else [(f"<{caller.actor}>", body.manifest or "")]
    )
    ws = _ws(request)
    return ws.apply_texts(
        files,
        dry_run=body.dry_run,
        actor=caller.actor,
        owner_team=None if caller.role == "admin" else caller.team,
        base_dir=ws.root,
        artifact_roots=ws.api_artifact_roots,
        transfer_owner=body.transfer_owner,
    )


@router.get("/models/{domain}/{name}", response_model=ShowResult, tags=["models"])
def show(
    request: Request,
    domain: str,
    name: str,
    _caller: Caller,
    version: VersionQuery = None,
    alias: Annotated[
        str | None, Query(max_length=64, description="The version this alias points to.")
    ] = None,
) -> ShowResult:
    """One version (the newest, `version`, or the one `alias` points to) in full: spec,
    other versions, aliases, resolved dependencies, dependents."""
    return _ws(request).show(_reference(domain, name, version, alias))


@router.get(
    "/models/{domain}/{name}/dependencies", response_model=schemas.DependenciesOut, tags=["models"]
)
def dependencies(
    request: Request,
    domain: str,
    name: str,
    _caller: Caller,
    version: VersionQuery = None,
    alias: Annotated[
        str | None, Query(max_length=64, description="The version this alias points to.")
    ] = None,
) -> schemas.DependenciesOut:
    """Every version the model needs, directly or not, dependencies first."""
    reference = _reference(domain, name, version, alias)
    return schemas.DependenciesOut(
        model=reference, dependencies=_ws(request).dependencies(reference)
    )


@router.get("/models/{domain}/{name}/impact", response_model=schemas.ImpactOut, tags=["models"])
def impact(
    request: Request,
    domain: str,
    name: str,
    _caller: Caller,
    version: VersionQuery = None,
    alias: Annotated[
        str | None, Query(max_length=64, description="The version this alias points to.")
    ] = None,
) -> schemas.ImpactOut:
    """Every registered version that needs the model, nearest first."""
    reference = _reference(domain, name, version, alias)
    return schemas.ImpactOut(model=reference, dependents=_ws(request).impact(reference))


@router.get(
    "/models/{domain}/{name}/graph",
    tags=["models"],
    response_class=Response,
    responses={
        200: {
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
            "description": "The model's dependency neighbourhood as SVG.",
        }
    },
)
def graph(
    request: Request,
    domain: str,
    name: str,
    _caller: Caller,
    version: VersionQuery = None,
    alias: AliasQuery = None,
) -> Response:
    """What the model needs and what needs it, drawn by Graphviz."""
    view = _ws(request).graph_view(_reference(domain, name, version), alias=alias)
    return Response(render_svg([to_dot(view)])[0], media_type="image/svg+xml")


@router.get("/graph", response_model=GraphData, tags=["models"])
def explore_graph(
    request: Request,
    _caller: Caller,
    domain: Annotated[
        str | None, Query(max_length=64, description="Only this domain's models.")
    ] = None,
    focus: Annotated[
        str | None,
        Query(max_length=200, description="A model reference: its neighbourhood."),
    ] = None,
    hops: Annotated[
        int, Query(ge=1, le=GRAPH_HOPS_MAX, description="How far from the focus, either way.")
    ] = 2,
    q: Annotated[
        str | None, Query(max_length=200, description="Models whose id holds this text.")
    ] = None,
    alias: AliasQuery = None,
) -> GraphData:
    """The dependency graph as the dashboard's viewer draws it: one node per domain for a
    large catalog, else models (a domain's, a search's, a model's neighbourhood), each
    with its position, colour and whether it is on the critical path."""
    return _ws(request).explore_graph(domain=domain, focus=focus, hops=hops, search=q, alias=alias)


# Aliases -----------------------------------------------------------------------------


def _alias_out(record: Any) -> schemas.AliasOut:
    return schemas.AliasOut(
        model=record.model_id,
        alias=record.name,
        version=record.version,
        revision=record.revision,
        updated_at=record.updated_at,
    )


@router.get("/aliases", response_model=schemas.AliasList, tags=["aliases"])
def all_aliases(request: Request, _caller: Caller) -> schemas.AliasList:
    """Every alias of every model."""
    return schemas.AliasList(aliases=[_alias_out(a) for a in _ws(request).aliases()])


@router.put("/aliases", response_model=schemas.AliasList, tags=["aliases"])
def set_aliases(request: Request, body: schemas.AliasMovesIn, caller: Caller) -> schemas.AliasList:
    """Make every move in one transaction (as `modelyard alias set --from FILE`): all, or
    none when one is refused. Maintainers move only their team's models' aliases."""
    ws = _ws(request)
    moves = []
    for move in body.moves:
        model_id = ModelRef.parse(move.model).model_id
        caller.require_team(ws.owner_of(model_id), model_id)
        moves.append(
            AliasMove(move.model, move.alias, move.version, move.expect, move.expect_revision)
        )
    records = ws.set_aliases(moves, actor=caller.actor)
    return schemas.AliasList(aliases=[_alias_out(a) for a in records])


@router.get("/models/{domain}/{name}/aliases", response_model=schemas.AliasList, tags=["aliases"])
def model_aliases(request: Request, domain: str, name: str, _caller: Caller) -> schemas.AliasList:
    """The model's aliases."""
    records = _ws(request).aliases(_reference(domain, name))
    return schemas.AliasList(aliases=[_alias_out(a) for a in records])


@router.put(
    "/models/{domain}/{name}/aliases/{alias}", response_model=schemas.AliasOut, tags=["aliases"]
)
def set_alias(
    request: Request, domain: str, name: str, alias: str, body: schemas.AliasIn, caller: Caller
) -> schemas.AliasOut:
    """Point the alias at a version; with `expect`, only if it points there now (409 if not)."""
    ws = _ws(request)
    model_id = _reference(domain, name)
    caller.require_team(ws.owner_of(model_id), model_id)
    record = ws.set_alias(
        model_id,
        alias,
        body.version,
        expect=body.expect,
        expect_revision=body.expect_revision,
        actor=caller.actor,
    )
    return _alias_out(record)


# Yanked and deprecated versions ------------------------------------------------------

VersionPath = Annotated[str, PathParam(max_length=32, description="MAJOR.MINOR[.PATCH]")]


def _owned_version(
    request: Request, caller: Principal, domain: str, name: str, version: str
) -> str:
    """`domain/name@version`, once the caller may change the model (its team, or admin)."""
    reference = _reference(domain, name, version)
    model_id = ModelRef.parse(reference).model_id
    caller.require_team(_ws(request).owner_of(model_id), reference)
    return reference


@router.put(
    "/models/{domain}/{name}/versions/{version}/yank",
    response_model=StatusChange,
    tags=["models"],
)
def yank(
    request: Request,
    domain: str,
    name: str,
    version: VersionPath,
    body: schemas.YankIn,
    caller: Caller,
) -> StatusChange:
    """Withdraw the version: it stays in the catalog, but no selection, constraint or
    alias chooses it again. 409 while an alias points at it, unless `force`."""
    reference = _owned_version(request, caller, domain, name, version)
    return _ws(request).yank(reference, body.reason, force=body.force, actor=caller.actor)


@router.delete(
    "/models/{domain}/{name}/versions/{version}/yank",
    response_model=StatusChange,
    tags=["models"],
)
def unyank(
    request: Request, domain: str, name: str, version: VersionPath, caller: Caller
) -> StatusChange:
    """Make the yanked version choosable again (a deprecation stays)."""
    reference = _owned_version(request, caller, domain, name, version)
    return _ws(request).unyank(reference, actor=caller.actor)


@router.put(
    "/models/{domain}/{name}/versions/{version}/deprecation",
    response_model=StatusChange,
    tags=["models"],
)
def deprecate(
    request: Request,
    domain: str,
    name: str,
    version: VersionPath,
    body: schemas.DeprecateIn,
    caller: Caller,
) -> StatusChange:
    """Deprecate the version: still chosen, and validation warns wherever it is."""
    reference = _owned_version(request, caller, domain, name, version)
    return _ws(request).deprecate(reference, body.reason, actor=caller.actor)


@router.delete(
    "/models/{domain}/{name}/versions/{version}/deprecation",
    response_model=StatusChange,
    tags=["models"],
)
def undeprecate(
    request: Request, domain: str, name: str, version: VersionPath, caller: Caller
) -> StatusChange:
    """Clear the version's deprecation."""
    reference = _owned_version(request, caller, domain, name, version)
    return _ws(request).undeprecate(reference, actor=caller.actor)


# Validation and plans ----------------------------------------------------------------


@router.get("/validation", response_model=ValidationReport, tags=["catalog"])
def validation(
    request: Request,
    _caller: Caller,
    strict: bool = False,
    alias: AliasQuery = None,
    live: Annotated[
        bool, Query(description="Also check the latest measurements (`validate --live`).")
    ] = False,
    target: Annotated[
        str | None, Query(max_length=64, description="With live: only this target's.")
    ] = None,
) -> ValidationReport:
    """Every finding about the catalog: dependencies, cycles, capacity, SLA budgets."""
    return _ws(request).validate(strict=strict, alias=alias, live=live, target=target)


@router.get("/plan", response_model=DeploymentPlan, tags=["catalog"])
def plan(request: Request, _caller: Caller, alias: AliasQuery = None) -> DeploymentPlan:
    """Deployment order: waves, each model's dependencies, the critical path."""
    return _ws(request).plan(alias=alias)


RefsQuery = Annotated[
    list[Annotated[str, Query(max_length=200)]] | None,
    Query(
        max_length=1000,
        description="Only these models (ID, ID@VERSION or ID@ALIAS) and what they need "
        "change; every other model on the target is `keep`. Repeat for several.",
    ),
]


@router.get("/plan/rollout", response_model=RolloutPlan, tags=["deployments"])
def rollout_plan(
    request: Request,
    caller: Caller,
    target: TargetQuery = "local",
    alias: AliasQuery = None,
    ref: RefsQuery = None,
    concurrency: Annotated[
        int, Query(ge=1, le=64, description="The deploy's loads at once, for the estimate.")
    ] = 4,
) -> RolloutPlan:
    """What a deploy would do on the target: load, reload, unload or keep each model, and
    how long its loads will take (from the target's earlier deployments).

    Its `digest` is what POST /jobs takes as `expect_digest` to deploy this plan only.
    A maintainer's plan is the one their deploy would run: without `ref`, their team's
    models of the selection, every other model kept.
    """
    ws = _ws(request)
    refs = ref or None
    if caller.role != "admin":
        refs = ws.team_deploy_refs(target, caller.team, alias=alias, refs=refs, check=False)
    return ws.rollout_plan(target, alias=alias, refs=refs, concurrency=concurrency)


def _require_named_models(ws: Workspace, caller: Principal, refs: list[str]) -> None:
    """A maintainer names only models of their own team in a targeted deploy."""
    for reference in refs:
        model_id = ModelRef.parse(reference).model_id
        caller.require_team(ws.owner_of(model_id), model_id)


# Deployments -------------------------------------------------------------------------


@router.post(
    "/jobs",
    response_model=JobSnapshot,
    status_code=202,
    tags=["deployments"],
    summary="Start a deployment (a background job)",
)
def start_deploy(request: Request, body: schemas.DeployIn, caller: Caller) -> JobSnapshot:
    """Roll the selection out to the target in the background; follow it at /jobs/{id}.

    With `refs`, only those models (which must be the caller's team's, unless an admin
    calls) and what they need change. A maintainer's deploy without `refs` is the
    selection's models of the caller's team, targeted: every other model on the target is
    kept, and a plan that would reload another team's model is refused (403). With
    `expect_digest`, 409 unless today's plan is still the one reviewed (GET /plan/rollout).
    One job per target at a time (409 while one runs).
    """
    state = api_state(request)
    caller.require_deploy(body.target, state.workspace.target(body.target))
    _require_named_models(state.workspace, caller, body.refs)
    if caller.role != "admin":
        body = body.model_copy(
            update={
                "refs": state.workspace.team_deploy_refs(
                    body.target, caller.team, alias=body.alias, refs=body.refs or None
                )
            }
        )
    if body.expect_digest is not None:  # say it now, not only in the job
        state.workspace.confirm_plan(
            body.target, body.expect_digest, alias=body.alias, refs=body.refs or None
        )
    options = DeployOptions(
        concurrency=body.concurrency,
        load_timeout_s=body.load_timeout_s,
        ready_timeout_s=body.ready_timeout_s,
        smoke=body.smoke,
        wait_for_lease_s=body.wait_for_lease_s,
    )
    return state.jobs.start(
        body.target,
        alias=body.alias,
        refs=body.refs,
        expect_digest=body.expect_digest,
        options=options,
        actor=caller.actor,
    )


@router.get("/jobs", response_model=JobList, tags=["deployments"])
def jobs(request: Request, _caller: Caller) -> JobList:
    """This server's deploy jobs, newest first."""
    return JobList(jobs=api_state(request).jobs.list())


@router.get("/jobs/{job_id}", response_model=JobSnapshot, tags=["deployments"])
def job(request: Request, job_id: str, _caller: Caller) -> JobSnapshot:
    """A deploy job: state, each model's progress, the result once done."""
    return api_state(request).jobs.get(job_id)


@router.delete(
    "/targets/{target}/models/{domain}/{name}",
    response_model=schemas.UndeployOut,
    tags=["deployments"],
)
def undeploy(
    request: Request,
    target: str,
    domain: str,
    name: str,
    caller: Caller,
    cascade: bool = False,
    alias: AliasQuery = None,
) -> schemas.UndeployOut:
    """Unload the model from the target (refused while live models need it, unless cascade)."""
    ws = _ws(request)
    model_id = _reference(domain, name)
    caller.require_deploy(target, ws.target(target))
    caller.require_team(ws.owner_of(model_id), model_id)
    unloaded = ws.undeploy(model_id, target, cascade=cascade, alias=alias, actor=caller.actor)
    return schemas.UndeployOut(target=target, unloaded=unloaded)


@router.get("/history", response_model=schemas.HistoryOut, tags=["deployments"])
def history(
    request: Request,
    _caller: Caller,
    target: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> schemas.HistoryOut:
    """Recorded deployments, newest first: who, when, where, what, outcome."""
    records = _ws(request).history(target, limit)
    return schemas.HistoryOut(deployments=records)


@router.get("/status", response_model=StatusResult, tags=["deployments"])
def status(
    request: Request, _caller: Caller, target: TargetQuery = "local", alias: AliasQuery = None
) -> StatusResult:
    """Desired (the compiled selection) against live (the server's index), and drift."""
    return _ws(request).status(target, alias=alias, timeout_s=LIVE_READ_TIMEOUT_S)


# Experiments -------------------------------------------------------------------------


@router.put(
    "/feedback/{request_id}",
    response_model=FeedbackResult,
    tags=["experiments"],
    summary="Store an A/B outcome for a request the gateway routed",
)
def feedback(
    request: Request,
    request_id: Annotated[str, PathParam(max_length=REQUEST_ID_MAX)],
    body: schemas.FeedbackIn,
    caller: Caller,
) -> FeedbackResult:
    """The outcome of the request with this `x-request-id` (as the gateway answered it),
    for the arm that served it, as `modelyard experiment feedback` stores it. Maintainers
    give feedback on their team's models' experiments; a second feedback replaces the
    first; an id the gateway recorded no arm for is 404."""
    ws = _ws(request)
    origin = ws.request_origin(request_id, target=body.target)
    caller.require_team(ws.owner_of(origin.model), f"the experiments of {origin.model}")
    return ws.record_feedback(request_id, body.value, target=body.target, actor=caller.actor)


@router.get(
    "/experiments/{experiment_id}/report",
    response_model=ExperimentReport,
    tags=["experiments"],
    summary="Compare an experiment's arms on their outcomes",
)
def experiment_report(
    request: Request,
    experiment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    _caller: Caller,
    mde: Annotated[float, Query(allow_inf_nan=False)] = 0.02,
    alpha: Annotated[float, Query(gt=0, lt=0.5)] = 0.05,
    power: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    baseline_rate: Annotated[float | None, Query(gt=0, lt=1)] = None,
) -> ExperimentReport:
    """As `modelyard experiment report ID`: per-arm n, rate or mean with intervals, effect,
    p-value, the sample size for the MDE, and the verdict corrected for repeated looks. A
    report with more information than the last look is recorded as the next look."""
    return _ws(request).experiment_report(
        str(experiment_id), mde=mde, alpha=alpha, power=power, baseline_rate=baseline_rate
    )


# Reports -----------------------------------------------------------------------------


@router.get("/report", response_model=CatalogReport, tags=["reports"])
def report(request: Request, _caller: Caller, alias: AliasQuery = None) -> CatalogReport:
    """Structure by domain, resource usage, SLA statistics."""
    return _ws(request).report(alias=alias)


@router.get(
    "/report/html",
    tags=["reports"],
    response_class=HTMLResponse,
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "One self-contained page of the HTML report: the index, or a domain's.",
        }
    },
)
def report_html(
    request: Request,
    _caller: Caller,
    alias: AliasQuery = None,
    domain: Annotated[
        str | None, Query(max_length=64, description="A domain's page instead of the index.")
    ] = None,
) -> HTMLResponse:
    """The HTML report's index (domains, charts, SLA statistics, findings by kind,
    placement, history), or one domain's page (its graph, models, SLAs, findings)."""
    page = _ws(request).html_report_page(
        domain=domain,
        alias=alias,
        live_timeout_s=LIVE_READ_TIMEOUT_S,
        links=PageLinks(
            index_from_domain=REPORT_URL,
            domain_from_index=REPORT_URL + "?domain={domain}",
            domain_from_domain=REPORT_URL + "?domain={domain}",
        ),
    )
    return HTMLResponse(page)


# Audit and tokens (admin) ------------------------------------------------------------


@router.get("/audit", response_model=schemas.AuditOut, tags=["access"])
def audit(
    request: Request,
    _caller: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="An action or its prefix, e.g. alias or token.create."),
    ] = None,
) -> schemas.AuditOut:
    """Every change, newest first: who, what, before, after, when (admins only)."""
    entries = _ws(request).access.entries(limit=limit, actor=actor, action=action)
    return schemas.AuditOut(entries=entries)


@router.get("/tokens", response_model=schemas.TokenList, tags=["access"])
def tokens(request: Request, _caller: Admin, include_revoked: bool = False) -> schemas.TokenList:
    """API tokens (never their secrets)."""
    found = _ws(request).access.tokens(include_revoked=include_revoked)
    return schemas.TokenList(tokens=found)


@router.post("/tokens", response_model=schemas.TokenCreated, status_code=201, tags=["access"])
def create_token(request: Request, body: schemas.TokenIn, caller: Admin) -> schemas.TokenCreated:
    """A new token; its secret is in this response only."""
    expires_in = (
        parse_duration(body.expires_in, "expires_in") if body.expires_in is not None else None
    )
    token, secret = _ws(request).access.create_token(
        body.team, body.role, body.description, actor=caller.actor, expires_in=expires_in
    )
    return schemas.TokenCreated(token=token, secret=secret)


@router.delete("/tokens/{token_id}", response_model=ApiToken, tags=["access"])
def revoke_token(
    request: Request, token_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], caller: Admin
) -> ApiToken:
    """Revoke a token: it is refused (401) from now on."""
    return _ws(request).access.revoke_token(token_id, actor=caller.actor)


@router.get("/webhooks", response_model=schemas.WebhookList, tags=["access"])
def list_webhooks(request: Request, _caller: Admin) -> schemas.WebhookList:
    """Webhooks of modelyard.yaml and of the catalog (admins only)."""
    ws = _ws(request)
    return schemas.WebhookList(
        webhooks=WebhookLog(ws.store).webhooks(configured(ws.config.webhooks))
    )


@router.get("/webhooks/deliveries", response_model=schemas.DeliveryList, tags=["access"])
def webhook_deliveries(
    request: Request,
    _caller: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    event: Annotated[str | None, Query(max_length=64)] = None,
) -> schemas.DeliveryList:
    """The delivery log, newest first: each try's HTTP status or error (admins only)."""
    found = WebhookLog(_ws(request).store).deliveries(limit=limit, event=event)
    return schemas.DeliveryList(deliveries=found)


# Traffic: the gateway and experiments ------------------------------------------------

# The CLI's flags, as the operations name them in their messages, and the body fields
# they are here.
_FLAG_FIELDS = {
    "--arm": "arms",
    "--keep": "keep",
    "--to": "to",
    "--sticky-header": "sticky_header",
    "--steps": "steps",
    "--interval": "interval",
    "--max-error-rate": "max_error_rate",
    "--min-requests": "min_requests",
    "--max-extensions": "max_extensions",
    "--max-latency-increase": "max_latency_increase",
    "--max-throughput-drop": "max_throughput_drop",
    "--max-memory-drift": "max_memory_drift",
}


@contextmanager
def _named_fields() -> Iterator[None]:
    """An operation's InputError about one of its flags, naming the body field instead."""
    try:
        yield
    except InputError as exc:
        for flag, field in _FLAG_FIELDS.items():
            if exc.message.startswith((f"{flag} ", f"{flag}:")):
                message = field + exc.message[len(flag) :]
                problem = Problem(Severity.ERROR, "invalid-input", message, field=field)
                raise InputError(message, [problem]) from None
        raise


def _traffic_change(
    request: Request, caller: Principal, domain: str, name: str, target: str
) -> tuple[str, Context]:
    """The model id and the context of a change to its traffic, once the caller may make
    it: a maintainer of the model's team on a target that allows the team, or an admin."""
    ws = _ws(request)
    model_id = _reference(domain, name)
    caller.require_team(ws.owner_of(model_id), model_id)
    caller.require_deploy(target, ws.target(target))
    return model_id, ws.context(caller.actor)


def _require_team_deploy(
    ctx: Context,
    caller: Principal,
    model_id: str,
    versions: list[str],
    target: str,
    alias: str | None,
) -> None:
    """A maintainer's experiment deploys its arms beside the selection: refused (403) when
    that would reload or unload another team's models, as a maintainer's deploy is."""
    if caller.role == "admin":
        return
    try:
        plan = traffic.arms_plan(ctx, model_id, versions, target=target, alias=alias)
    except ModelyardError:
        # An unknown version, a server that does not answer: the operation itself says
        # so, in its own words, before anything changes.
        return
    others = other_teams_changes(ctx, plan, caller.team)
    if others:
        raise Forbidden(
            f"deploying the arms of {model_id} to {target} would reload models of other "
            f"teams: {', '.join(others)}; ask those teams or an admin to deploy them first; "
            "nothing changed"
        )


def _arms(arms: list[schemas.ArmIn]) -> list[str]:
    return [f"{arm.version}={arm.weight}" for arm in arms]


ExperimentState = Annotated[
    Literal["running", "all"],
    Query(description="running: as `modelyard experiment status`; all: stopped ones too."),
]


@router.get("/rollouts", response_model=RolloutList, tags=["traffic"])
def rollouts(
    request: Request,
    _caller: Caller,
    target: Annotated[str | None, Query(max_length=64, description="Only this target.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> RolloutList:
    """Canary rollouts, newest first, each with its steps, analyses and decisions, and
    whether its driver died mid-way (interrupted), as `modelyard rollout status`."""
    return canary.rollout_status(_ws(request).context(), target=target, limit=limit)


@router.get("/rollouts/{domain}/{name}", response_model=RolloutList, tags=["traffic"])
def model_rollouts(
    request: Request,
    domain: str,
    name: str,
    _caller: Caller,
    target: Annotated[str | None, Query(max_length=64, description="Only this target.")] = None,
) -> RolloutList:
    """The model's canary rollouts, newest first."""
    reference = _reference(domain, name)
    return canary.rollout_status(_ws(request).context(), reference, target=target)


@router.post(
    "/rollouts/{domain}/{name}",
    response_model=RolloutStatus,
    status_code=202,
    tags=["traffic"],
    summary="Start a stepwise canary rollout (driven in the background)",
)
def start_rollout(
    request: Request, domain: str, name: str, body: schemas.RolloutStartIn, caller: Caller
) -> RolloutStatus:
    """Roll version `to` out step by step, as `modelyard rollout REF --to VERSION`: each
    step holds its weight for the interval and is analysed (error rate, p99 against the
    SLA and the baseline, throughput per unit of weight, memory against the manifest).

    Answers once every check passed and the rollout is recorded (202); the server drives
    its steps in the background: follow it at GET /rollouts/{domain}/{name}, stop it with
    POST .../abort. Bad input (steps not ending in 100, interval 0, no reachable
    Prometheus, no latency of the model to compare with its SLA) is one 4xx naming the
    field, and nothing changed. A maintainer of the model's team, or an admin.
    """
    model_id, ctx = _traffic_change(request, caller, domain, name, body.target)
    _require_team_deploy(ctx, caller, model_id, [body.to], body.target, None)
    interval = body.interval if isinstance(body.interval, str) else f"{body.interval:g}s"
    with _named_fields():
        return (
            api_state(request)
            .rollout_runs()
            .start(
                model_id,
                body.to,
                actor=caller.actor,
                steps=",".join(str(step) for step in body.steps),
                interval=interval,
                max_error_rate=body.max_error_rate,
                min_requests=body.min_requests,
                max_extensions=body.max_extensions,
                max_latency_increase=body.max_latency_increase,
                max_throughput_drop=body.max_throughput_drop,
                max_memory_drift=body.max_memory_drift,
                check_latency=body.check_latency,
                target=body.target,
            )
        )


@router.post("/rollouts/{domain}/{name}/abort", response_model=RolloutStatus, tags=["traffic"])
def abort_rollout(
    request: Request, domain: str, name: str, body: schemas.RolloutAbortIn, caller: Caller
) -> RolloutStatus:
    """Every request of the model's running (or interrupted) rollout back to its baseline
    at once, as `modelyard rollout abort`; the alias stays."""
    model_id, ctx = _traffic_change(request, caller, domain, name, body.target)
    return canary.abort_rollout(ctx, model_id, target=body.target)


@router.get("/experiments", response_model=ExperimentList, tags=["traffic"])
def experiments(
    request: Request,
    _caller: Caller,
    target: Annotated[str | None, Query(max_length=64, description="Only this target.")] = None,
    state: ExperimentState = "running",
) -> ExperimentList:
    """Experiments, newest first, each with its arms' weights and the requests and 5xx
    answers the gateway counted per arm."""
    ctx = _ws(request).context()
    if state == "running":
        return traffic.experiment_status(ctx, target=target)
    return traffic.list_experiments(ctx, target=target)


@router.get("/experiments/{experiment_id}", response_model=ExperimentDetail, tags=["traffic"])
def experiment(
    request: Request,
    experiment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    _caller: Caller,
) -> ExperimentDetail:
    """One experiment and each of its changes (who, when, weights before and after)."""
    return experiment_detail(_ws(request).context(), experiment_id)


@router.get("/experiments/{domain}/{name}", response_model=ExperimentList, tags=["traffic"])
def model_experiments(
    request: Request,
    domain: str,
    name: str,
    _caller: Caller,
    target: Annotated[str | None, Query(max_length=64, description="Only this target.")] = None,
) -> ExperimentList:
    """Every experiment of the model (running and stopped), newest first."""
    reference = _reference(domain, name)
    return traffic.experiment_status(_ws(request).context(), reference, target=target)


@router.post(
    "/experiments/{domain}/{name}",
    response_model=ExperimentResult,
    status_code=201,
    tags=["traffic"],
    summary="Start an experiment (A/B test, canary)",
)
def start_experiment(
    request: Request, domain: str, name: str, body: schemas.ExperimentStartIn, caller: Caller
) -> ExperimentResult:
    """Split the model's requests between its versions, as `modelyard experiment start`.

    Every arm is deployed to the target beside the selection and verified (READY and a
    smoke inference) before any gets weight; the answer comes once that is done (seconds
    per new version). A broken arm: 502 naming Triton's reason, and nothing changed for
    clients. Needs a running gateway on the target (404 otherwise). A maintainer's start
    is refused (403) when that deploy would reload or unload another team's models.
    """
    model_id, ctx = _traffic_change(request, caller, domain, name, body.target)
    versions = [arm.version for arm in body.arms]
    if body.shadow is not None:
        versions.append(body.shadow.version)
    _require_team_deploy(ctx, caller, model_id, versions, body.target, body.alias)
    with _named_fields():
        return traffic.start_experiment(
            ctx,
            model_id,
            _arms(body.arms),
            sticky_header=body.sticky_header,
            shadow=_shadow(body.shadow),
            target=body.target,
            alias=body.alias,
            options=DeployOptions(load_timeout_s=body.load_timeout_s),
        )


@router.put(
    "/experiments/{domain}/{name}/weights", response_model=ExperimentResult, tags=["traffic"]
)
def set_weights(
    request: Request, domain: str, name: str, body: schemas.WeightsIn, caller: Caller
) -> ExperimentResult:
    """New weights for the model's running experiment (no reload), as `modelyard
    experiment set`; an arm not named gets 0. A new shadow version is loaded and verified
    first, beside the selection (`alias`), as the arms of a start are; `no_shadow` ends
    the copies."""
    model_id, ctx = _traffic_change(request, caller, domain, name, body.target)
    if body.shadow is not None:
        versions = [*traffic.running_arms(ctx, model_id, body.target), body.shadow.version]
        _require_team_deploy(ctx, caller, model_id, versions, body.target, body.alias)
    with _named_fields():
        return traffic.set_weights(
            ctx,
            model_id,
            _arms(body.arms),
            target=body.target,
            shadow=_shadow(body.shadow),
            no_shadow=body.no_shadow,
            alias=body.alias,
            options=DeployOptions(load_timeout_s=body.load_timeout_s),
        )


def _shadow(shadow: schemas.ShadowIn | None) -> str | None:
    """The operation's `VERSION=PERCENT` form of a shadow in a body."""
    return None if shadow is None else f"{shadow.version}={shadow.percent}"


@router.post("/experiments/{domain}/{name}/stop", response_model=ExperimentResult, tags=["traffic"])
def stop_experiment(
    request: Request, domain: str, name: str, body: schemas.ExperimentStopIn, caller: Caller
) -> ExperimentResult:
    """End the model's experiment: every request to the arm `keep`, and the alias
    `promote` moves to it, as `modelyard experiment stop`."""
    model_id, ctx = _traffic_change(request, caller, domain, name, body.target)
    with _named_fields():
        return traffic.stop_experiment(
            ctx, model_id, body.keep, target=body.target, promote=body.promote or None
        )


@router.post(
    "/experiments/{domain}/{name}/switch", response_model=ExperimentResult, tags=["traffic"]
)
def switch(
    request: Request, domain: str, name: str, body: schemas.SwitchIn, caller: Caller
) -> ExperimentResult:
    """Blue-green: every request of the model to version `to` at once, as `modelyard
    switch`; the version served before stays loaded, so switching back is as fast."""
    model_id, ctx = _traffic_change(request, caller, domain, name, body.target)
    _require_team_deploy(ctx, caller, model_id, [body.to], body.target, body.alias)
    with _named_fields():
        return traffic.switch(
            ctx,
            model_id,
            body.to,
            target=body.target,
            alias=body.alias,
            options=DeployOptions(load_timeout_s=body.load_timeout_s),
        )


def _gateway_context(request: Request, caller: Principal, target: str) -> Context:
    ws = _ws(request)
    ws.target(target)  # NotFound for a target modelyard.yaml does not name
    return ws.context(caller.actor)


@router.get("/targets/{target}/gateway", response_model=GatewayStatus, tags=["traffic"])
def gateway_status(request: Request, target: str, caller: Caller) -> GatewayStatus:
    """Whether the target's gateway runs, where, and whether it routes as the catalog says."""
    return traffic.gateway_status(_gateway_context(request, caller, target), target)


@router.post("/targets/{target}/gateway/start", response_model=GatewayStatus, tags=["traffic"])
def start_gateway(
    request: Request, target: str, body: schemas.GatewayStartIn, caller: Admin
) -> GatewayStatus:
    """Start HAProxy on 127.0.0.1 in front of the target's Triton (admins only)."""
    ctx = _gateway_context(request, caller, target)
    return traffic.start_gateway(ctx, target, port=body.port, grpc_port=body.grpc_port)


@router.post("/targets/{target}/gateway/stop", response_model=GatewayStatus, tags=["traffic"])
def stop_gateway(request: Request, target: str, caller: Admin) -> GatewayStatus:
    """Stop the target's gateway; its counters are kept for the next one (admins only)."""
    return traffic.stop_gateway(_gateway_context(request, caller, target), target)


@router.post("/targets/{target}/gateway/restart", response_model=GatewayStatus, tags=["traffic"])
def restart_gateway(request: Request, target: str, caller: Admin) -> GatewayStatus:
    """Hand the gateway's sockets to a new HAProxy on files rewritten from the catalog;
    no request is refused (admins only)."""
    return traffic.restart_gateway(_gateway_context(request, caller, target), target)
