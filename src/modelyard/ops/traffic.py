"""Traffic use cases: the gateway in front of a target's Triton (start, stop, restart,
status), experiments (start, set, status, stop) and blue-green switches.

The catalog is the record: each experiment and each weight change is a row and an audit
entry with the weights before and after. The gateway (traffic/haproxy.py) applies it:
its map file is rewritten from the catalog and the running process changed through its
runtime API, so a weight change needs no reload and a restarted gateway routes as the
catalog says.

An arm gets weight only once Triton serves its version READY and it answered a smoke
inference: `start` and `switch` first deploy the selection widened by the arms (the
rollout engine verifies new versions under a candidate name no client calls, and rolls
back on failure), then check every arm again. While the new versions load, the gateway
pins the model to the version it serves: Triton would hand unversioned requests to the
highest loaded version at once (TRAFFIC-FACTS.md).

A shadow is one more version of the experiment, verified like an arm, that gets a copy
of a share of the model's requests and whose answers go nowhere. The gateway's map
carries it (one `set map`); the copies are made by nginx beside HAProxy
(traffic/nginx.py), started with the first shadow and stopped with the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.ref import ModelRef
from modelyard.catalog.spec import ModelSpec
from modelyard.catalog.version import Version
from modelyard.deploy.lease import default_holder, hold_lease
from modelyard.deploy.plan import RolloutPlan, live_versions
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress, Rollout
from modelyard.deploy.runner import rollout_plan as plan_on_target
from modelyard.errors import (
    Conflict,
    InputError,
    ModelyardError,
    NotFound,
    RolloutFailed,
    TritonError,
    VersionYanked,
)
from modelyard.ops.build import Build, ensemble_steps
from modelyard.ops.catalog import set_alias
from modelyard.ops.context import Context
from modelyard.ops.rollout import audit, deployment_inputs
from modelyard.store.experiments import (
    Arm,
    ExperimentKind,
    ExperimentLog,
    ExperimentRecord,
    Shadow,
)
from modelyard.store.history import DeploymentLog
from modelyard.store.store import StoredVersion
from modelyard.targets.base import Target
from modelyard.targets.registry import open_target
from modelyard.traffic import haproxy, nginx
from modelyard.traffic.dependents import ensemble_route, ensemble_users
from modelyard.traffic.haproxy import ArmCounts, GatewayFiles
from modelyard.traffic.nginx import CopyCounts, ShadowProxy
from modelyard.traffic.split import (
    DEFAULT_STICKY_HEADERS,
    Route,
    RouteArm,
    RouteShadow,
    check_sticky_header,
    check_weights,
    parse_arms,
    parse_shadow,
    reweighted,
)
from modelyard.triton import compiler
from modelyard.triton.inputs import request_inputs
from modelyard.triton.naming import triton_name, variant_name

GATEWAY_FOLDER = Path(".modelyard") / "gateway"
STATE_FILE = "gateway.json"
DEFAULT_GATEWAY_PORT = 9000
VERIFY_TIMEOUT_S = 60.0
PROMOTED_ALIAS = "production"


# --------------------------------------------------------------------------- results


class GatewayStatus(BaseModel):
    """A target's gateway: whether it runs, where, and whether it routes as recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    target: str
    running: bool
    url: str | None
    port: int | None
    upstream: str | None
    # The gRPC frontend (`--grpc-port`): its URL (host:port) and Triton's gRPC address.
    grpc_url: str | None = None
    grpc_upstream: str | None = None
    pids: list[int]
    folder: str
    sticky_headers: list[str]
    # Triton model -> its route's weights (catalog version -> percent), as recorded.
    routes: dict[str, dict[str, int]]
    # Triton model -> its shadow (catalog version -> percent copied), as recorded.
    shadows: dict[str, dict[str, int]] = {}
    # The nginx that makes shadow copies (none until a route has a shadow).
    shadow_proxy_pids: list[int] = []
    # Whether the running process routes exactly as the catalog says (None: not running).
    in_sync: bool | None


class ArmStatus(BaseModel):
    """One arm: its version, weight, and what the gateway counted for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    triton_version: int
    weight: int
    requests: int
    errors: int  # 5xx answers (Triton's own failure counters miss some; TRAFFIC-FACTS)
    client_errors: int  # 4xx answers

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class ShadowStatus(BaseModel):
    """The shadow arm: its version, the percent of requests copied, and what became of
    the copies (sent: counted by HAProxy; answered and failed: logged by nginx)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    triton_version: int
    percent: int
    copies_sent: int
    copies_answered: int
    copies_failed: int


class ExperimentStatus(BaseModel):
    """An experiment with its arms' weights and counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    model: str
    triton_model: str
    target: str
    kind: ExperimentKind
    state: str
    sticky_header: str | None
    kept: str | None
    actor: str
    started_at: datetime
    updated_at: datetime
    stopped_at: datetime | None
    arms: list[ArmStatus]
    # The shadow it has (a stopped experiment shows the one it had, with its counts).
    shadow: ShadowStatus | None = None
    # Triton names of the ensembles whose clients this experiment splits too (running).
    ensembles: list[str] = []

    @property
    def weights(self) -> dict[str, int]:
        return {arm.version: arm.weight for arm in self.arms}


class ExperimentResult(BaseModel):
    """A change to an experiment: the experiment after it, the weights before it, the
    deployment that loaded the arms (if one ran) and the alias it moved (on stop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    experiment: ExperimentStatus
    before: dict[str, int] | None
    deployment: int | None = None
    promoted: dict[str, str] | None = None


class ExperimentList(BaseModel):
    """`experiment status`: running experiments (with a model: all of its experiments)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    experiments: list[ExperimentStatus]


class GatewayState(BaseModel):
    """What `gateway start` recorded in the gateway's folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str
    port: int
    upstream: str
    sticky_headers: list[str]
    # The gRPC frontend's port and Triton's gRPC host:port (none: HTTP only).
    grpc_port: int | None = None
    grpc_upstream: str | None = None


# --------------------------------------------------------------------------- the gateway


def gateway_files(ctx: Context, target: str) -> GatewayFiles:
    """The folder of `target`'s gateway: `.modelyard/gateway/<target>/` in the workspace."""
    if ctx.root is None:
        raise InputError("the gateway keeps its files in a workspace folder; open one")
    return GatewayFiles((ctx.root / GATEWAY_FOLDER / target).resolve())


class _ConfigArguments(TypedDict):
    port: int
    upstream: str
    sticky_headers: list[str]
    grpc_port: int | None
    grpc_upstream: str | None


def _config_arguments(state: GatewayState) -> _ConfigArguments:
    """What the configuration is written from: the recorded state, whole."""
    return _ConfigArguments(
        port=state.port,
        upstream=state.upstream,
        sticky_headers=state.sticky_headers,
        grpc_port=state.grpc_port,
        grpc_upstream=state.grpc_upstream,
    )


def _read_state(files: GatewayFiles) -> GatewayState | None:
    try:
        return GatewayState.model_validate_json((files.folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(files: GatewayFiles, state: GatewayState) -> None:
    haproxy.write_atomically(files.folder / STATE_FILE, state.model_dump_json(indent=2))


def start_gateway(
    ctx: Context, target: str = "local", *, port: int | None = None, grpc_port: int | None = None
) -> GatewayStatus:
    """Start HAProxy on 127.0.0.1:`port` in front of `target`'s Triton, routing as the
    catalog's experiments say; with `grpc_port`, gRPC too (passed to the target's
    `grpc_url`; see haproxy._grpc_lines for the one call it refuses).

    Raises:
        Conflict: a gateway for the target runs already, or a port is in use (nothing
            is started then).
        InputError: HAProxy is not installed, the target is not plain HTTP, or gRPC is
            asked for a target without a `grpc_url`.
    """
    config = ctx.target(target)
    if grpc_port is not None and config.grpc_url is None:
        raise InputError(
            f"target {target!r} has no grpc_url in modelyard.yaml: add Triton's gRPC "
            "host:port (its --grpc-port) to proxy gRPC; nothing was started"
        )
    if grpc_port is not None and grpc_port == port:
        raise InputError(f"--grpc-port {grpc_port} is the HTTP port too; choose another")
    files = gateway_files(ctx, target)
    with files.lock():
        return _start_gateway(ctx, target, files, config.url, port, grpc_port, config.grpc_url)


def _start_gateway(
    ctx: Context,
    target: str,
    files: GatewayFiles,
    url: str,
    port: int | None,
    grpc_port: int | None = None,
    grpc_url: str | None = None,
) -> GatewayStatus:
    previous = _read_state(files)
    if files.is_running():
        where = f" on port {previous.port}" if previous else ""
        raise Conflict(
            f"a gateway for target {target!r} runs already{where} (pid "
            f"{', '.join(map(str, files.pids()))}); `modelyard gateway restart` reloads it"
        )
    port = port or (previous.port if previous else DEFAULT_GATEWAY_PORT)
    haproxy.haproxy_binary()
    upstream = haproxy.upstream_of(url)
    haproxy.check_port_free(port)
    if grpc_port is not None:
        haproxy.check_port_free(grpc_port)
    routes = _routes(ctx, target)
    state = GatewayState(
        target=target,
        port=port,
        upstream=upstream,
        sticky_headers=_headers_for(routes),
        grpc_port=grpc_port,
        grpc_upstream=grpc_url if grpc_port is not None else None,
    )
    haproxy.write_files(files, routes, **_config_arguments(state))
    _ensure_shadow_proxy(files, upstream, routes, reload=True)
    pids = haproxy.start(files)
    _write_state(files, state)
    audit(ctx, "gateway.start", f"gateway {target}", None, {"port": port, "pids": pids})
    return gateway_status(ctx, target)


def stop_gateway(ctx: Context, target: str = "local") -> GatewayStatus:
    """Stop the target's gateway (its counters are saved for the next one).

    Raises:
        NotFound: no gateway runs for the target.
    """
    files = _running_files(ctx, target)
    with files.lock():
        pids = files.pids()
        files.save_counters()
        haproxy.stop(files, pids)
        # After HAProxy: nothing sends it requests now, and it finishes the copies in flight.
        ShadowProxy(files.folder).stop()
    audit(ctx, "gateway.stop", f"gateway {target}", {"pids": pids}, None)
    return gateway_status(ctx, target)


def restart_gateway(ctx: Context, target: str = "local") -> GatewayStatus:
    """Replace the running HAProxy by a new one on freshly written files (configuration
    and routes from the catalog) that takes its listening sockets over: no request is
    refused or dropped."""
    files = _running_files(ctx, target)
    with files.lock():
        _restart(ctx, target, files)
    return gateway_status(ctx, target)


def _restart(ctx: Context, target: str, files: GatewayFiles) -> None:
    """`restart_gateway`, with the folder's lock held."""
    state = _read_state(files)
    assert state is not None  # _running_files checked it
    old = files.pids()
    routes = _routes(ctx, target)
    state = state.model_copy(update={"sticky_headers": _headers_for(routes, state)})
    haproxy.write_files(files, routes, **_config_arguments(state))
    files.save_counters()
    _ensure_shadow_proxy(files, state.upstream, routes, reload=True)
    pids = haproxy.start(files, replace=old)
    _write_state(files, state)
    audit(ctx, "gateway.restart", f"gateway {target}", {"pids": old}, {"pids": pids})


def gateway_status(ctx: Context, target: str = "local") -> GatewayStatus:
    """Whether the target's gateway runs, and whether it routes as the catalog says."""
    files = gateway_files(ctx, target)
    state = _read_state(files)
    pids = files.pids()
    routes = _routes(ctx, target)
    in_sync = None
    if pids:
        in_sync = files.api.routes(files.map) == {r.model: r.entry() for r in routes}
    running = bool(pids)
    shadows = {r.model: {r.shadow.label: r.shadow.percent} for r in routes if r.shadow}
    return GatewayStatus(
        target=target,
        running=running,
        url=f"http://127.0.0.1:{state.port}" if state and running else None,
        port=state.port if state else None,
        upstream=state.upstream if state else None,
        grpc_url=(
            f"127.0.0.1:{state.grpc_port}" if state and running and state.grpc_port else None
        ),
        grpc_upstream=state.grpc_upstream if state else None,
        pids=pids,
        folder=str(files.folder),
        sticky_headers=state.sticky_headers if state else [],
        routes={r.model: r.weights for r in routes},
        in_sync=in_sync,
        shadows=shadows,
        shadow_proxy_pids=ShadowProxy(files.folder).pids(),
    )


def _running_files(ctx: Context, target: str) -> GatewayFiles:
    ctx.target(target)  # NotFound for a target modelyard.yaml does not name
    files = gateway_files(ctx, target)
    if _read_state(files) is None or not files.is_running():
        raise NotFound(
            f"no gateway runs for target {target!r}; start one with "
            f"`modelyard gateway start --target {target}`"
        )
    return files


def _ensure_shadow_proxy(
    files: GatewayFiles, upstream: str, routes: Sequence[Route], *, reload: bool = False
) -> None:
    """Have nginx run before any route sends it copies: started when a route has a
    shadow and none runs; with `reload`, a running one reads a fresh configuration."""
    proxy = ShadowProxy(files.folder)
    if proxy.is_running():
        if reload:
            proxy.reload(upstream)
        return
    if not any(route.shadow for route in routes):
        return
    proxy.start(upstream)
    if files.is_running():
        # HAProxy's health check marked the proxy down while it was absent; a copy drawn
        # before the next check (1 s) would go straight to Triton, uncopied.
        files.api.command("set server shadow/nginx health up")


def _headers_for(routes: Sequence[Route], state: GatewayState | None = None) -> list[str]:
    """The sticky headers the configuration must hash: the default ones, those the routes
    use, and those the running configuration has already (a reload never drops one)."""
    headers = set(DEFAULT_STICKY_HEADERS) | {r.sticky_header for r in routes if r.sticky_header}
    return sorted(headers | set(state.sticky_headers if state else ()))


def _routes(ctx: Context, target: str, overrides: Mapping[int, str] | None = None) -> list[Route]:
    """The gateway's routes, from the catalog's experiments on `target` (one read of the
    versions of every routed model, however many there are). `overrides`: experiment id
    -> the one arm that gets every request for now (a stop in progress)."""
    records = [
        r.model_copy(
            update={
                "arms": [
                    Arm(version=a.version, weight=100 if a.version == overrides[r.id] else 0)
                    for a in r.arms
                ]
            }
        )
        if overrides and r.id in overrides
        else r
        for r in ExperimentLog(ctx.store).routing(target)
    ]
    stored: dict[str, dict[str, StoredVersion]] = {}
    for version in ctx.store.versions({r.model for r in records}) if records else []:
        stored.setdefault(version.spec.id, {})[version.spec.version] = version
    routes = []
    for record in records:
        by_version = stored[record.model]
        newest = max(by_version.values(), key=lambda v: v.spec.parsed_version)
        arms = [a for a in record.arms if record.is_running or a.version == record.kept]
        shadow = record.active_shadow
        routes.append(
            Route(
                model=triton_name(newest.spec),
                arms=tuple(
                    RouteArm(by_version[a.version].triton_version, a.version, a.weight)
                    for a in arms
                ),
                sticky_header=record.sticky_header,
                key=str(record.id),
                shadow=(
                    RouteShadow(
                        by_version[shadow.version].triton_version, shadow.version, shadow.percent
                    )
                    if shadow
                    else None
                ),
            )
        )
    return _with_ensemble_routes(ctx, records, routes)


def _with_ensemble_routes(
    ctx: Context, records: Sequence[ExperimentRecord], routes: list[Route]
) -> list[Route]:
    """`routes` and, for each running experiment on a model that ensembles run, a route
    per such ensemble with the experiment's arms (traffic/dependents.py); it replaces a
    route the ensemble had of its own (a kept one: a running one is refused at start)."""
    by_model = {route.model: route for route in routes}
    for record, route in zip(records, list(routes), strict=True):
        if not record.is_running:
            continue
        for user in _ensemble_users(ctx, record.model):
            name = _triton_name(ctx, user)
            variants = {a.label: variant_name(name, route.model, a.label) for a in route.arms}
            by_model[name] = ensemble_route(name, route, variants)
    return [by_model[name] for name in sorted(by_model)]


def _ensemble_users(ctx: Context, model_id: str) -> list[str]:
    """The ensembles (model ids) that run `model_id`, inner ones first."""
    return ensemble_users(ensemble_steps(ctx.store, model_id), model_id)


def _sync(
    ctx: Context, target: str, files: GatewayFiles, overrides: Mapping[int, str] | None = None
) -> None:
    """Make the running gateway and its map file route as the catalog says (with
    `overrides`, see `_routes`): a reload (seamless) when a new sticky header is needed
    or the configuration changed, else runtime `set map` per change."""
    # One change at a time per gateway: the map file written last is the newest record.
    with files.lock():
        state = _read_state(files)
        assert state is not None
        routes = _routes(ctx, target, overrides)
        if not set(_headers_for(routes)) <= set(state.sticky_headers) or not _config_current(
            files, state
        ):
            _restart(ctx, target, files)
            return
        _ensure_shadow_proxy(files, state.upstream, routes)
        # The file first: if the process went away now, the next one starts from the record.
        haproxy.write_atomically(files.map, haproxy.render_map(routes))
        live = files.api.routes(files.map)
        for route in routes:
            if live.get(route.model) != route.entry():
                files.api.set_route(files.map, route)
        for model in sorted(set(live) - {r.model for r in routes}):
            files.api.del_route(files.map, model)


def _config_current(files: GatewayFiles, state: GatewayState) -> bool:
    """Whether the running gateway was started on the configuration this modelyard
    writes (one written by an older release reads its map differently)."""
    expected = haproxy.render_config(files.folder, **_config_arguments(state))
    try:
        return files.config.read_text(encoding="utf-8") == expected
    except OSError:
        return False


# --------------------------------------------------------------------------- experiments


def start_experiment(
    ctx: Context,
    reference: str,
    arms: Sequence[str],
    *,
    sticky_header: str | None = None,
    shadow: str | None = None,
    target: str = "local",
    alias: str | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Split `reference`'s requests between versions (`["3.0=90", "3.1=10"]`), and copy
    a share of them to a shadow version (`"3.2=20"`) whose answers go nowhere.

    The first arm is the baseline: the arms' bucket ranges are laid out in the order
    given, so growing the last arm only moves users into it. The arms are deployed to
    `target` beside the selection (`alias`, default the newest versions) and verified
    before any of them gets weight; so is the shadow before it gets a copy.

    Raises:
        InputError: malformed arms, weights not adding up to 100, fewer than two arms; a
            shadow that is an arm, or whose percent is outside 1..100; no nginx.
        NotFound: an unknown model or version, no gateway for the target.
        Conflict: the model has a running experiment on the target.
        RolloutFailed: an arm did not load or answer (Triton's reason in the message);
            no arm got weight and the server serves what it served before.
    """
    model_id = experiment_model(reference)
    parsed = parse_arms(arms)
    check_weights(parsed)
    if len(parsed) < 2:
        raise InputError("--arm: an experiment needs at least two arms; `switch` moves all")
    header = check_sticky_header(sticky_header) if sticky_header else None
    copy = _shadow_of(ctx, model_id, shadow, [v for v, _ in parsed]) if shadow else None
    return _start(
        ctx, model_id, parsed, "split", header, target, alias, options, progress, shadow=copy
    )


def switch(
    ctx: Context,
    reference: str,
    to: str,
    *,
    target: str = "local",
    alias: str | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Blue-green: every request of `reference` to version `to` at once. The version
    served before stays loaded, so `switch --to` it moves everything back as fast; an
    experiment running on the model keeps its arms and gives `to` all the weight.

    Raises:
        InputError: `to` serves already, or the model is not served on the target.
        NotFound: an unknown model or version, no gateway for the target.
        RolloutFailed: `to` did not load or answer; nothing changed for clients.
    """
    model_id = experiment_model(reference)
    to_version = _version(ctx, model_id, to).spec.version
    log = ExperimentLog(ctx.store)
    running = log.running(model_id, target)
    if running is not None:
        weights = reweighted([a.version for a in running.arms], {to_version: 100}, "--to")
        return _reweigh(ctx, running, weights, target, "switch")
    current = _served_version(ctx, model_id, target)
    if Version.parse(current) == Version.parse(to_version):
        raise InputError(
            f"{model_id} serves {current} on target {target!r} already; nothing changed"
        )
    arms = [(current, 0), (to_version, 100)]
    return _start(ctx, model_id, arms, "switch", None, target, alias, options, progress)


def set_weights(
    ctx: Context,
    reference: str,
    arms: Sequence[str] = (),
    *,
    target: str = "local",
    shadow: str | None = None,
    no_shadow: bool = False,
    alias: str | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """New weights for the model's running experiment (an arm not named gets 0; no arms:
    the weights stay), a new shadow (`"3.2=50"`: loaded and verified first if it is
    another version, deploying the selection `alias` like `start_experiment`), or none
    (`no_shadow`).

    Raises:
        NotFound: no experiment runs on the model at the target, no gateway.
        InputError: a version that is not an arm, weights not adding up to 100, nothing
            to change, a shadow that is an arm or whose percent is outside 1..100.
        RolloutFailed: a new shadow version did not load or answer; nothing changed.
    """
    model_id = experiment_model(reference)
    if shadow is not None and no_shadow:
        raise InputError("--shadow and --no-shadow: give one of them; nothing changed")
    if not arms and shadow is None and not no_shadow:
        raise InputError(
            "give the new weights (--arm VERSION=PERCENT), a shadow (--shadow VERSION=PERCENT) "
            "or --no-shadow; nothing changed"
        )
    record = _running_experiment(ctx, model_id, target)
    layout = [a.version for a in record.arms]
    weights = reweighted(layout, dict(parse_arms(arms))) if arms else dict(record.weights)
    new_shadow: Shadow | None | Literal["keep"] = None if no_shadow else "keep"
    if shadow is not None:
        new_shadow = _shadow_of(ctx, model_id, shadow, layout)
        if record.shadow is None or new_shadow.version != record.shadow.version:
            files = _running_files(ctx, target)
            if not _is_loaded(ctx, target, model_id, new_shadow.version):
                served = [*layout, new_shadow.version]
                _serve(ctx, target, model_id, served, alias, files, options, progress)
    return _reweigh(ctx, record, weights, target, "experiment.set", shadow=new_shadow)


def stop_experiment(
    ctx: Context,
    reference: str,
    keep: str,
    *,
    target: str = "local",
    promote: str | None = PROMOTED_ALIAS,
) -> ExperimentResult:
    """End the model's experiment: all requests to arm `keep`, whose version the alias
    `promote` (default `production`; None: no alias moves) then points to. Its shadow
    gets no more copies.

    Raises:
        NotFound: no experiment runs on the model at the target, no gateway.
        InputError: `keep` is not an arm.
    """
    model_id = experiment_model(reference)
    record = _running_experiment(ctx, model_id, target)
    kept = next(
        (a.version for a in record.arms if Version.parse(a.version) == _parsed(keep, "--keep")),
        None,
    )
    if kept is None:
        raise InputError(
            f"--keep: {keep} is not an arm of experiment {record.id} (arms: "
            f"{', '.join(a.version for a in record.arms)})"
        )
    files = _running_files(ctx, target)
    _verify(ctx, target, model_id, [kept])
    users = _ensemble_users(ctx, model_id)
    if users:
        before, after = _stop_through_ensembles(ctx, record, kept, users, target, files)
    else:
        before, after = ExperimentLog(ctx.store).stop(record.id, kept, actor=ctx.actor)
        _sync(ctx, target, files)
    promoted = None
    if promote:
        alias_record = set_alias(ctx, model_id, promote, kept)
        promoted = {"alias": alias_record.name, "version": alias_record.version}
    return ExperimentResult(
        experiment=_status_of(ctx, after, files.counters(), _copy_counts(files)),
        before=before.weights,
        promoted=promoted,
    )


def _stop_through_ensembles(
    ctx: Context,
    record: ExperimentRecord,
    kept: str,
    users: Sequence[str],
    target: str,
    files: GatewayFiles,
) -> tuple[ExperimentRecord, ExperimentRecord]:
    """Stop an experiment whose model ensembles run, losing no request of theirs:

    1. every request to the kept arm: each ensemble's clients to its variant of the
       kept version (or to the ensemble itself if that is the baseline);
    2. the ensembles with a step on the model pinned to the kept version, reloaded and
       checked (READY, a smoke inference) while no client calls them;
    3. the experiment recorded stopped: the gateway sends the ensembles' clients to
       the ensembles themselves again;
    4. once every request the gateway had begun before that is answered (some were
       routed to a variant), the variants unloaded (outer ones first) and removed from
       the repository.
    """
    step = _triton_name(ctx, record.model)
    kept_version = _versions_of(ctx, record.model)[kept].triton_version
    names = [_triton_name(ctx, user) for user in users]
    variants = [
        variant_name(name, step, arm.version)
        for name in reversed(names)  # outer ensembles first
        for arm in record.arms[1:]
    ]
    _sync(ctx, target, files, overrides={record.id: kept})
    log = DeploymentLog(ctx.store)
    with (
        hold_lease(log, target, holder=default_holder()),
        open_target(target, ctx.target(target), timeout_s=VERIFY_TIMEOUT_S) as opened,
    ):
        published = opened.published_files()
        if published is None:  # nothing modelyard published: no ensemble of ours to change
            published = []
        served = live_versions(opened.index())
        repinned, changed = compiler.repinned(
            published, [n for n in names if n in served], step, kept_version
        )
        if changed:
            opened.publish(repinned)
            for name in changed:
                opened.load(name, timeout_s=VERIFY_TIMEOUT_S)
        for user, name in zip(users, names, strict=True):
            if name in served:
                _wait_ready(opened, name)
                _verify_one(opened, name, None, ctx.store.get(user).spec, user)
        before, after = ExperimentLog(ctx.store).stop(record.id, kept, actor=ctx.actor)
        _sync(ctx, target, files)
        # A request HAProxy routed to a variant just before the route changed can reach
        # Triton after the sync returned (seen under CPU load: after the unload that
        # followed it, a 404 "unknown model ... has no available versions" naming the
        # variant): unload once the gateway has answered every request it had begun. Past
        # the timeout the variants go anyway (an unload waits for the inferences that
        # reached Triton; the routes already send nothing new to the variants).
        unanswered = files.api.wait_answered(VERIFY_TIMEOUT_S)
        loaded = [v for v in variants if v in served]
        for variant in loaded:
            opened.unload(variant, timeout_s=VERIFY_TIMEOUT_S)
        if published:
            opened.publish(compiler.without_models(repinned, variants))
    audit(
        ctx,
        "experiment.ensembles",
        record.model,
        {"variants": loaded},
        {
            "pinned": {name: kept for name in names if name in served},
            "reloaded": changed,
            # Requests still open when the variants went (past the wait's timeout).
            "unanswered": len(unanswered),
        },
    )
    return before, after


def _wait_ready(opened: Target, name: str) -> None:
    deadline = time.monotonic() + VERIFY_TIMEOUT_S
    while not opened.is_ready(name):
        if time.monotonic() >= deadline:
            raise TritonError(f"{name} is not READY on {opened.url} after its reload")
        time.sleep(0.1)


def experiment_status(
    ctx: Context, reference: str | None = None, *, target: str | None = None
) -> ExperimentList:
    """Running experiments (of every model, or all of one model's), with their counts."""
    log = ExperimentLog(ctx.store)
    if reference is not None:
        model_id = experiment_model(reference)
        ctx.store.get(model_id)  # NotFound for an unknown model
        records = log.history(target=target, model_id=model_id)
    else:
        records = log.history(target=target, running_only=True)
    counters: dict[str, dict[str, ArmCounts]] = {}
    copies: dict[str, dict[str, CopyCounts]] = {}
    for name in sorted({r.target for r in records}):
        files = gateway_files(ctx, name) if ctx.root else None
        counters[name] = files.counters() if files else {}
        copies[name] = _copy_counts(files) if files else {}
    return ExperimentList(
        experiments=[
            _status_of(ctx, r, counters.get(r.target, {}), copies.get(r.target, {}))
            for r in records
        ]
    )


def list_experiments(
    ctx: Context,
    *,
    target: str | None = None,
    model_id: str | None = None,
    running_only: bool = False,
    limit: int | None = None,
) -> ExperimentList:
    """Experiments, newest first, running and stopped (for the dashboard and the report),
    with their counts; at most `limit`."""
    records = ExperimentLog(ctx.store).history(
        target=target, model_id=model_id, running_only=running_only
    )[:limit]
    return ExperimentList(experiments=_with_counts(ctx, records))


def get_experiment(ctx: Context, experiment_id: int) -> ExperimentStatus:
    """One experiment by id, with its counts (NotFound naming the id)."""
    return _with_counts(ctx, [ExperimentLog(ctx.store).get(experiment_id)])[0]


def _with_counts(ctx: Context, records: Sequence[ExperimentRecord]) -> list[ExperimentStatus]:
    counters = {
        name: gateway_files(ctx, name).counters() if ctx.root else {}
        for name in sorted({r.target for r in records})
    }
    return [_status_of(ctx, r, counters[r.target]) for r in records]


def _start(
    ctx: Context,
    model_id: str,
    arms: Sequence[tuple[str, int]],
    kind: ExperimentKind,
    header: str | None,
    target: str,
    alias: str | None,
    options: DeployOptions | None,
    progress: Progress | None,
    shadow: Shadow | None = None,
) -> ExperimentResult:
    versions = [_version(ctx, model_id, version).spec.version for version, _ in arms]
    served = versions + ([shadow.version] if shadow else [])
    log = ExperimentLog(ctx.store)
    running = log.running(model_id, target)
    if running is not None:
        raise log.already_running(running)
    files = _running_files(ctx, target)
    _check_ensembles(ctx, model_id, target)
    before = _route_weights(ctx, model_id, target)
    deployment = _serve(ctx, target, model_id, served, alias, files, options, progress)
    try:
        try:
            _verify(ctx, target, model_id, versions, baseline=versions[0])
            if shadow:  # copies go to the model itself, never through an ensemble
                _verify(ctx, target, model_id, [shadow.version])
        except ModelyardError as exc:
            audit(ctx, "experiment.refused", model_id, {"versions": served}, {"error": exc.message})
            raise
        record = log.start(
            model_id,
            target,
            [Arm(version=v, weight=w) for v, (_, w) in zip(versions, arms, strict=True)],
            kind=kind,
            sticky_header=header,
            shadow=shadow,
            actor=ctx.actor,
            before={"weights": before} if before else None,
        )
    finally:
        _sync(ctx, target, files)  # the record, or (refused) what routed before
    return ExperimentResult(
        experiment=_status_of(ctx, record, files.counters(), _copy_counts(files)),
        before=before,
        deployment=deployment.deployment_id,
    )


def arms_plan(
    ctx: Context,
    reference: str,
    versions: Sequence[str],
    *,
    target: str = "local",
    alias: str | None = None,
) -> RolloutPlan:
    """What `start_experiment` and `switch` deploy to `target` before any arm gets weight:
    the selection (`alias`, default the newest versions) widened by `versions`, against
    what the target serves now (the API checks whom it touches)."""
    model_id = experiment_model(reference)
    build = Build(ctx, alias, extra_refs=tuple(f"{model_id}@{v}" for v in versions))
    config, compiled, dependencies = deployment_inputs(build, target)
    with open_target(target, config, timeout_s=VERIFY_TIMEOUT_S) as opened:
        return plan_on_target(opened, compiled, dependencies)


def _reweigh(
    ctx: Context,
    record: ExperimentRecord,
    weights: dict[str, int],
    target: str,
    action: str,
    shadow: Shadow | None | Literal["keep"] = "keep",
) -> ExperimentResult:
    files = _running_files(ctx, target)
    _verify(
        ctx,
        target,
        record.model,
        [v for v, w in weights.items() if w > 0],
        baseline=record.arms[0].version,
    )
    if isinstance(shadow, Shadow) and shadow != record.shadow:
        _verify(ctx, target, record.model, [shadow.version])
    before, after = ExperimentLog(ctx.store).reweigh(
        record.id,
        [Arm(version=v, weight=w) for v, w in weights.items()],
        actor=ctx.actor,
        action=action,
        shadow=shadow,
    )
    _sync(ctx, target, files)
    return ExperimentResult(
        experiment=_status_of(ctx, after, files.counters(), _copy_counts(files)),
        before=before.weights,
    )


def _serve(
    ctx: Context,
    target: str,
    model_id: str,
    versions: Sequence[str],
    alias: str | None,
    files: GatewayFiles,
    options: DeployOptions | None,
    progress: Progress | None,
) -> DeployResult:
    """Deploy the selection with the arms' versions beside it; the model is pinned to the
    version it serves in the gateway meanwhile (unless a route holds it already)."""
    build = Build(
        ctx,
        alias,
        extra_refs=tuple(f"{model_id}@{v}" for v in versions),
        starting=(model_id, tuple(versions)),
    )
    _check_constraints(build, model_id, versions)
    config, compiled, dependencies = deployment_inputs(build, target)
    compiled_model = compiled.models.get(model_id)
    if compiled_model is None:
        why = compiled.skipped.get(model_id, "it is not in the selection")
        raise InputError(f"{model_id} cannot be served on target {target!r}: {why}")
    options = options or DeployOptions()
    selection = {"alias": alias, "experiment": model_id, "versions": list(versions)}
    with open_target(target, config, timeout_s=options.load_timeout_s) as opened:
        name = compiled_model.triton_name
        serving = live_versions(opened.index()).get(name, [])
        if serving and name not in files.api.routes(files.map):
            by_triton = {
                v.triton_version: v.spec.version for v in _versions_of(ctx, model_id).values()
            }
            newest = max(serving)
            pin = Route(
                name, (RouteArm(newest, by_triton.get(newest, str(newest)), 100),), key="pin"
            )
            files.api.set_route(files.map, pin)
        try:
            result = Rollout(
                DeploymentLog(ctx.store),
                opened,
                compiled,
                dependencies,
                selection=f"{'alias ' + alias if alias else 'newest'}, arms of {model_id}",
                actor=ctx.actor,
                options=options,
                progress=progress,
            ).run()
        except ModelyardError as exc:
            _sync(ctx, target, files)  # drop the pin: the server serves what it served
            audit(ctx, "experiment.refused", model_id, selection, {"error": exc.message})
            result_of = exc.result if isinstance(exc, RolloutFailed) else None
            raise RolloutFailed(
                f"the traffic of {model_id} was not changed; no arm got any weight: {exc.message}",
                result=result_of,
            ) from exc
    audit(ctx, "deploy", f"target {target}", selection, result.model_dump(mode="json"))
    return result


def _check_ensembles(ctx: Context, model_id: str, target: str) -> None:
    """Conflict unless an experiment on `model_id` can own the routes of the ensembles
    that run it: none of them has an experiment of its own running, `model_id` runs in
    no ensemble routed by another step's experiment, and no other target runs an
    experiment on it (an ensemble has one config, so one pinned step, everywhere)."""
    log = ExperimentLog(ctx.store)
    users = _ensemble_users(ctx, model_id)
    for user in users:
        running = log.running(user, target)
        if running is not None:
            raise Conflict(
                f"{model_id} runs in the ensemble {user}, which has experiment "
                f"{running.id} running on target {target!r}; its clients can follow one "
                f"experiment at a time: stop that one first; nothing changed"
            )
    for record in log.history(running_only=True):
        if record.model == model_id and record.target != target and users:
            raise Conflict(
                f"{model_id} has experiment {record.id} running on target "
                f"{record.target!r}, and the ensembles {', '.join(users)} run it: they "
                "have one configuration on every target, so one experiment at a time; "
                "nothing changed"
            )
        if record.target == target and model_id in _ensemble_users(ctx, record.model):
            raise Conflict(
                f"the clients of {model_id} are routed by experiment {record.id} on its "
                f"step {record.model}; stop that one first; nothing changed"
            )


def _check_constraints(build: Build, model_id: str, versions: Sequence[str]) -> None:
    """InputError unless every selected ensemble with a step on `model_id` allows every
    arm: its clients would otherwise get a step version it was not validated with."""
    for spec in build.view.specs.values():
        if spec.ensemble is None or all(s.model != model_id for s in spec.ensemble.steps):
            continue
        for dependency in spec.parsed_dependencies:
            if dependency.model_id != model_id:
                continue
            refused = [v for v in versions if not dependency.constraint.allows(Version.parse(v))]
            if refused:
                raise InputError(
                    f"{spec.ref} runs {model_id} and requires {dependency}, which "
                    f"{', '.join(refused)} does not satisfy: its clients cannot get that "
                    "arm; choose arms it allows, or register an ensemble version that "
                    "allows them; nothing changed"
                )


def _verify(
    ctx: Context,
    target: str,
    model_id: str,
    versions: Sequence[str],
    baseline: str | None = None,
) -> None:
    """Each version READY on the target and answering a smoke inference (the manifest's
    example inputs, else zeros), or TritonError naming the version and Triton's reason.

    With `baseline` (the arm the ensembles themselves run), each ensemble served on the
    target that runs the model is checked too, and so is its variant for every other of
    `versions`: through an ensemble, an arm answers only as its variant does."""
    by_version = _versions_of(ctx, model_id)
    name = _triton_name(ctx, model_id)
    with open_target(target, ctx.target(target), timeout_s=VERIFY_TIMEOUT_S) as opened:
        for version in versions:
            stored = by_version[version]
            _verify_one(opened, name, stored.triton_version, stored.spec, model_id)
        if baseline is None:
            return
        served = live_versions(opened.index())
        for user in _ensemble_users(ctx, model_id):
            ensemble = ctx.store.get(user)
            ensemble_name = triton_name(ensemble.spec)
            if ensemble_name not in served:
                continue  # not served on this target: no client of it to reach
            checks = [(ensemble_name, f"{user} (running {model_id}@{baseline})")]
            checks += [
                (variant_name(ensemble_name, name, v), f"{user} running {model_id}@{v}")
                for v in versions
                if Version.parse(v) != Version.parse(baseline)
            ]
            for checked, what in checks:
                _verify_one(opened, checked, None, ensemble.spec, what)


def _verify_one(
    opened: Target, name: str, triton_version: int | None, spec: ModelSpec, model_id: str
) -> None:
    where = (
        f"{model_id}@{spec.version} (Triton {name} version {triton_version})"
        if triton_version is not None
        else f"{model_id} (Triton {name})"
    )
    if not opened.is_ready(name, triton_version):
        raise TritonError(f"{where} is not READY on {opened.url}; it gets no weight")
    examples = {t.name: list(t.example) for t in spec.inputs if t.example is not None}
    try:
        inputs = request_inputs(opened.model_config(name), examples)
        opened.infer(name, inputs, version=triton_version, timeout_s=VERIFY_TIMEOUT_S)
    except TritonError as exc:
        raise TritonError(
            f"{where}: smoke inference failed, so it gets no weight: {exc.message}"
        ) from exc


# --------------------------------------------------------------------------- helpers


def experiment_model(reference: str) -> str:
    """The model id an experiment command names (`domain/name`, no version or alias).

    Raises:
        InputError: a reference with a version or an alias.
    """
    ref = ModelRef.parse(reference)
    if ref.version is not None or ref.alias is not None:
        raise InputError(f"{reference}: name the model (domain/name); the arms name its versions")
    return ref.model_id


def _parsed(version: str, where: str) -> Version:
    try:
        return Version.parse(version)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _version(ctx: Context, model_id: str, version: str, where: str = "--arm") -> StoredVersion:
    """The stored version (NotFound naming the versions there are)."""
    parsed = _parsed(version, where)
    by_version = _versions_of(ctx, model_id)
    for stored in by_version.values():
        if stored.spec.parsed_version == parsed:
            if stored.status.yanked_reason is not None:
                raise VersionYanked(
                    f"{stored.spec.ref} is yanked ({stored.status.yanked_reason}): it gets no "
                    f"traffic; choose another version, or `modelyard unyank {stored.spec.ref}` "
                    "first; nothing changed"
                )
            return stored
    raise NotFound(
        f"{model_id} has no version {version} (registered: "
        f"{', '.join(sorted(by_version, key=Version.parse))})"
    )


def _shadow_of(ctx: Context, model_id: str, value: str, arms: Sequence[str]) -> Shadow:
    """The shadow `VERSION=PERCENT` names: a registered version that is not yanked and
    not one of `arms`, and nginx installed to make the copies."""
    version, percent = parse_shadow(value, arms)
    stored = _version(ctx, model_id, version, "--shadow")
    nginx.nginx_binary()
    return Shadow(version=stored.spec.version, percent=percent)


def _is_loaded(ctx: Context, target: str, model_id: str, version: str) -> bool:
    triton_version = _versions_of(ctx, model_id)[version].triton_version
    name = _triton_name(ctx, model_id)
    with open_target(target, ctx.target(target), timeout_s=VERIFY_TIMEOUT_S) as opened:
        return opened.is_ready(name, triton_version)


def _copy_counts(files: GatewayFiles) -> dict[str, CopyCounts]:
    return ShadowProxy(files.folder).counts()


def _versions_of(ctx: Context, model_id: str) -> dict[str, StoredVersion]:
    stored = ctx.store.versions([model_id])
    if not stored:
        ctx.store.get(model_id)  # NotFound naming the model
    return {v.spec.version: v for v in stored}


def _triton_name(ctx: Context, model_id: str) -> str:
    return triton_name(ctx.store.get(model_id).spec)


def running_arms(ctx: Context, reference: str, target: str) -> list[str]:
    """The versions of the arms of the model's running experiment on the target.

    Raises:
        NotFound: no experiment runs on the model at the target.
    """
    return [a.version for a in _running_experiment(ctx, experiment_model(reference), target).arms]


def _running_experiment(ctx: Context, model_id: str, target: str) -> ExperimentRecord:
    record = ExperimentLog(ctx.store).running(model_id, target)
    if record is None:
        ctx.store.get(model_id)  # NotFound for an unknown model first
        raise NotFound(
            f"no experiment runs on {model_id} at target {target!r}; start one with "
            "`modelyard experiment start`"
        )
    return record


def _route_weights(ctx: Context, model_id: str, target: str) -> dict[str, int] | None:
    for record in ExperimentLog(ctx.store).routing(target):
        if record.model == model_id:
            return {
                a.version: a.weight
                for a in record.arms
                if record.is_running or a.version == record.kept
            }
    return None


def _served_version(ctx: Context, model_id: str, target: str) -> str:
    """The version clients of the model get now: its route's, else Triton's highest READY."""
    weights = _route_weights(ctx, model_id, target)
    if weights:
        return max(weights, key=lambda v: weights[v])
    name = _triton_name(ctx, model_id)
    with open_target(target, ctx.target(target), timeout_s=VERIFY_TIMEOUT_S) as opened:
        serving = live_versions(opened.index()).get(name, [])
    by_triton = {v.triton_version: v.spec.version for v in _versions_of(ctx, model_id).values()}
    if not serving or max(serving) not in by_triton:
        raise InputError(
            f"{model_id} is not served on target {target!r}; deploy it first "
            f"(`modelyard deploy --target {target}`)"
        )
    return by_triton[max(serving)]


def _status_of(
    ctx: Context,
    record: ExperimentRecord,
    counters: dict[str, ArmCounts],
    copies: dict[str, CopyCounts] | None = None,
) -> ExperimentStatus:
    by_version = _versions_of(ctx, record.model)
    shadow = None
    if record.shadow is not None:
        key = f"{record.id}/shadow/{record.shadow.version}"
        logged = (copies or {}).get(key, CopyCounts())
        shadow = ShadowStatus(
            version=record.shadow.version,
            triton_version=by_version[record.shadow.version].triton_version,
            percent=record.shadow.percent,
            copies_sent=counters.get(key, ArmCounts()).requests,
            copies_answered=logged.answered,
            copies_failed=logged.errors,
        )
    arms = []
    for arm in record.arms:
        counts = counters.get(f"{record.id}/{arm.version}", ArmCounts())
        arms.append(
            ArmStatus(
                version=arm.version,
                triton_version=by_version[arm.version].triton_version,
                weight=arm.weight,
                requests=counts.requests,
                errors=counts.errors,
                client_errors=counts.client_errors,
            )
        )
    return ExperimentStatus(
        id=record.id,
        model=record.model,
        triton_model=_triton_name(ctx, record.model),
        target=record.target,
        kind=record.kind,
        state=record.state,
        sticky_header=record.sticky_header,
        kept=record.kept,
        actor=record.actor,
        started_at=record.started_at,
        updated_at=record.updated_at,
        stopped_at=record.stopped_at,
        arms=arms,
        shadow=shadow,
        ensembles=[_triton_name(ctx, u) for u in _ensemble_users(ctx, record.model)]
        if record.is_running
        else [],
    )
