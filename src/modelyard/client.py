"""`Client`: the catalog operations of `Workspace`, run by a `modelyard server` (httpx).

    from modelyard import Client
    with Client("http://127.0.0.1:8080", token) as client:
        client.apply(["models/"])
        report = client.validate()

Each method has the name, the arguments and the result type of the `Workspace` method it
stands for; the server runs the same use case (`modelyard.ops`) under the token's role and
team, and its errors come back as the same `ModelyardError` classes (so the remote CLI,
which goes through this class, exits with the same codes). What only works beside the
catalog (compile to a folder, serve, the gateway's processes) is not here; a deploy or a
canary rollout runs on the server, and the method follows it to its end.

An unreachable server is `ServerUnreachable` (exit code 13) naming the URL. Manifests are
read here and sent whole; the server reads each `artifact` on its own disk (relative to
its workspace folder, under its `api.artifact_roots`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, get_args, get_origin
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from modelyard.catalog.lifecycle import VersionStatus
from modelyard.catalog.manifest import read_manifest_files
from modelyard.catalog.ref import ModelRef
from modelyard.catalog.spec import ModelSpec
from modelyard.deploy.plan import RolloutPlan
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress
from modelyard.errors import (
    Conflict,
    Forbidden,
    InputError,
    ModelyardError,
    NotFound,
    ObjectStoreError,
    Problem,
    ServerUnreachable,
    Severity,
    StorageError,
    TooManyAttempts,
    TritonError,
    Unauthenticated,
    VersionConflict,
    WithResult,
)
from modelyard.ops.canary import (
    RolloutList,
    RolloutResult,
    RolloutStatus,
    analysis_line,
    weight_line,
)
from modelyard.ops.catalog import AliasMove, ShowResult, StatusChange
from modelyard.ops.rollout import StatusResult
from modelyard.ops.traffic import (
    PROMOTED_ALIAS,
    ExperimentList,
    ExperimentResult,
    experiment_model,
)
from modelyard.planning import DeploymentPlan
from modelyard.registry import ApplyResult
from modelyard.report.data import CatalogReport
from modelyard.store.canary import CanaryEvent
from modelyard.store.history import DeploymentRecord
from modelyard.store.store import AliasRecord
from modelyard.traffic.canary import parse_steps
from modelyard.traffic.split import parse_arms, parse_shadow
from modelyard.validation import ValidationReport

__all__ = ["Client"]

# A server reading a live Triton answers within its own 2 s per read; validating a large
# catalog takes seconds: this bounds one call, not the whole command.
DEFAULT_TIMEOUT_S = 120.0
# How often a deploy followed through the server asks its job how it stands.
JOB_POLL_S = 0.5

_BY_STATUS: dict[int, type[ModelyardError]] = {
    400: InputError,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    413: InputError,
    421: InputError,
    422: InputError,
    429: TooManyAttempts,
    502: TritonError,
    503: StorageError,
}


@functools.cache
def _error_classes() -> dict[str, type[ModelyardError]]:
    """Each error code -> the class that declares it (the API answers with the code)."""
    found: dict[str, type[ModelyardError]] = {}
    pending: list[type[ModelyardError]] = [ModelyardError]
    while pending:
        cls = pending.pop()
        if "code" in cls.__dict__:
            found.setdefault(cls.code, cls)
        pending += cls.__subclasses__()
    return found


def _problem(data: Mapping[str, Any]) -> Problem:
    return Problem(
        Severity(data.get("severity", "error")),
        str(data.get("code", "")),
        str(data.get("message", "")),
        model=data.get("model"),
        source=data.get("source"),
        line=data.get("line"),
        field=data.get("field"),
        details=dict(data.get("details") or {}),
    )


def error_from_response(response: httpx.Response, url: str) -> ModelyardError:
    """The `ModelyardError` a server's error answer stands for: the class of its code
    (else of its HTTP status), its message and its problems."""
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        problems = [_problem(p) for p in body.get("errors") or []]
        field = error.get("field")
    except (ValueError, KeyError, TypeError):
        return ServerUnreachable(
            f"{url} answered HTTP {response.status_code} with something other than a "
            "modelyard server's error; is MODELYARD_SERVER (--server) the right URL?"
        )
    if (
        response.status_code in (404, 405)
        and not problems
        and message
        in (
            "Not Found",
            "Method Not Allowed",
        )
    ):
        # The router's own answer, not a missing model's: a server without this endpoint.
        request = response.request
        return ServerUnreachable(
            f"{url} has no {request.method} {request.url.path}: is it a modelyard server "
            "as new as this client?"
        )
    cls = _error_classes().get(code) or _BY_STATUS.get(response.status_code, ModelyardError)
    if response.status_code == 401:
        message = f"{url}: {message} (MODELYARD_TOKEN)"
    made = _made(cls, message, problems)
    if isinstance(made, VersionConflict):
        made.model = ""
        made.differing_fields = [field] if field else []
    if isinstance(made, TooManyAttempts):
        retry = response.headers.get("Retry-After", "")
        made.retry_after_s = int(retry) if retry.isdigit() else 0
    if isinstance(made, ObjectStoreError):
        made.missing = response.status_code == 404
    return made


def _made(
    cls: type[ModelyardError], message: str, problems: list[Problem], result: Any = None
) -> ModelyardError:
    """An error of `cls` built without the subclass's own __init__ (some take more than
    the message), then given the attributes those take, so that each shows itself as it
    does locally."""
    made = cls.__new__(cls)
    ModelyardError.__init__(made, message, problems)
    if isinstance(made, WithResult):
        made.result = result
    return made


M = TypeVar("M", bound=BaseModel)


def _without_computed(annotation: Any, data: Any) -> Any:
    """`data` as models of `annotation` read it: without the computed fields (`ok`,
    `status`, ...) they write into their JSON and refuse back (extra="forbid"), and with
    each field under its own name where the JSON used its serialization alias."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not isinstance(data, dict):
            return data
        fields = annotation.model_fields
        computed = annotation.model_computed_fields
        written: dict[str, str] = {
            (f.serialization_alias or f.alias or name): name for name, f in fields.items()
        }
        dropped = set(computed) | {str(c.alias) for c in computed.values() if c.alias}
        named: dict[str, Any] = {}
        for key, value in data.items():
            if key in dropped and key not in fields:
                continue
            name = str(key) if key in fields else written.get(str(key), str(key))
            field = fields.get(name)
            named[name] = _without_computed(field.annotation, value) if field else value
        return named
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, Sequence) and args and isinstance(data, list):
        return [_without_computed(args[0], item) for item in data]
    if origin in (dict, Mapping) and len(args) == 2 and isinstance(data, dict):
        return {key: _without_computed(args[1], value) for key, value in data.items()}
    if args and origin not in (list, tuple, dict):  # X | None, Annotated[X, ...]
        for arg in args:
            data = _without_computed(arg, data)
    return data


def _load(model: type[M], data: Any) -> M:
    """A result model from the JSON the server wrote of it."""
    return model.model_validate(_without_computed(model, data), by_name=True)


def _alias_record(data: Mapping[str, Any]) -> AliasRecord:
    return AliasRecord(
        model_id=data["model"],
        name=data["alias"],
        version=data["version"],
        revision=data["revision"],
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )


def _model_path(reference: str) -> tuple[str, dict[str, str]]:
    """`/models/{domain}/{name}` and the query naming the version or alias of `reference`."""
    ref = ModelRef.parse(reference)
    query = {"version": ref.version} if ref.version else {"alias": ref.alias} if ref.alias else {}
    return f"/models/{quote(ref.domain, safe='')}/{quote(ref.name, safe='')}", query


def _version_path(reference: str) -> str:
    """`/models/{domain}/{name}/versions/{version}` of `domain/name@version`."""
    ref = ModelRef.parse(reference, allow_alias=False)
    if ref.version is None:
        raise InputError(f"{reference}: name the version, e.g. {ref.model_id}@1.0")
    path, _ = _model_path(ref.model_id)
    return f"{path}/versions/{ref.version}"


class Client:
    """The catalog of a `modelyard server` at `url`, as the bearer of `token`.

    Args:
        url: the server, e.g. `http://127.0.0.1:8080` (what `MODELYARD_SERVER` holds).
        token: an API token (`modelyard token create`); None only for a server in open mode.
        timeout_s: how long one call may take.
        http: the httpx client to send through, its `base_url` the server (tests give a
            FastAPI `TestClient`, or an `httpx.Client` over a `MockTransport`).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http: httpx.Client | None = None,
    ) -> None:
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")) or not url.split("://", 1)[1]:
            raise InputError(
                f"server {url!r}: expected an http:// or https:// URL, e.g. http://127.0.0.1:8080"
            )
        self.url = url
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(base_url=url, timeout=timeout_s)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """The JSON of a successful answer; our errors for every other outcome."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method, f"/api/v1{path}", params=query, json=body, headers=self._headers
            )
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"modelyard server {self.url} did not answer within {self.timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ServerUnreachable(
                f"modelyard server {self.url} cannot be reached ({reason}); check "
                "MODELYARD_SERVER (--server) and that `modelyard server` runs there"
            ) from exc
        if response.status_code >= 400:
            raise error_from_response(response, self.url)
        try:
            return response.json()
        except ValueError as exc:
            raise ServerUnreachable(
                f"{self.url} answered HTTP {response.status_code} with something other "
                "than a modelyard server's JSON; is MODELYARD_SERVER (--server) the right URL?"
            ) from exc

    # Catalog ----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The token's team and role, as the server sees them."""
        found: dict[str, Any] = self._call("GET", "/me")
        return found

    def apply(
        self, paths: Sequence[str | Path], *, dry_run: bool = False, transfer_owner: bool = False
    ) -> ApplyResult:
        """Register every manifest under `paths` (read here) in one transaction there."""
        files = read_manifest_files(paths)
        body = {
            "files": [{"source": source, "text": text} for source, text in files],
            "dry_run": dry_run,
            "transfer_owner": transfer_owner,
        }
        return _load(ApplyResult, self._call("POST", "/models", body=body))

    def apply_text(
        self,
        text: str,
        *,
        source: str = "<api>",
        dry_run: bool = False,
        transfer_owner: bool = False,
    ) -> ApplyResult:
        """Register the manifests in `text` (YAML, `---` between documents)."""
        body = {
            "files": [{"source": source, "text": text}],
            "dry_run": dry_run,
            "transfer_owner": transfer_owner,
        }
        return _load(ApplyResult, self._call("POST", "/models", body=body))

    def list_models(
        self,
        *,
        domain: str | None = None,
        team: str | None = None,
        framework: str | None = None,
        all_versions: bool = False,
        labels: Sequence[str] = (),
    ) -> list[ModelSpec]:
        """As `Workspace.list_models`: of each model the newest not yanked, or every version."""
        params = {
            "domain": domain,
            "team": team,
            "framework": framework,
            "all_versions": all_versions or None,
            "label": list(labels) or None,
        }
        found = self._call("GET", "/specs", params=params)
        return [_load(ModelSpec, spec) for spec in found["specs"]]

    def version_statuses(self, model_ids: Iterable[str] | None = None) -> dict[str, VersionStatus]:
        """`domain/name@version` -> status of each yanked or deprecated version (of
        `model_ids`, or of every model)."""
        wanted = None if model_ids is None else set(model_ids)
        found = self._call("GET", "/statuses")["statuses"]
        return {
            ref: _load(VersionStatus, status)
            for ref, status in found.items()
            if wanted is None or ref.rpartition("@")[0] in wanted
        }

    def show(self, reference: str) -> ShowResult:
        path, query = _model_path(reference)
        return _load(ShowResult, self._call("GET", path, params=query))

    def dependencies(self, reference: str) -> list[str]:
        path, query = _model_path(reference)
        found: list[str] = self._call("GET", f"{path}/dependencies", params=query)["dependencies"]
        return found

    def impact(self, reference: str) -> list[str]:
        path, query = _model_path(reference)
        found: list[str] = self._call("GET", f"{path}/impact", params=query)["dependents"]
        return found

    def aliases(self, reference: str | None = None) -> list[AliasRecord]:
        if reference is None:
            found = self._call("GET", "/aliases")
        else:
            path, _ = _model_path(ModelRef.parse(reference).model_id)
            found = self._call("GET", f"{path}/aliases")
        return [_alias_record(a) for a in found["aliases"]]

    def set_alias(
        self,
        reference: str,
        alias: str,
        version: str,
        *,
        expect: str | None = None,
        expect_revision: int | None = None,
    ) -> AliasRecord:
        return self.set_aliases([AliasMove(reference, alias, version, expect, expect_revision)])[0]

    def set_aliases(self, moves: Sequence[AliasMove]) -> list[AliasRecord]:
        """Every move in one transaction there: all of them, or none."""
        body = {
            "moves": [
                {
                    "model": m.reference,
                    "alias": m.alias,
                    "version": m.version,
                    "expect": m.expect,
                    "expect_revision": m.expect_revision,
                }
                for m in moves
            ]
        }
        found = self._call("PUT", "/aliases", body=body)
        return [_alias_record(a) for a in found["aliases"]]

    def yank(self, reference: str, reason: str, *, force: bool = False) -> StatusChange:
        body = {"reason": reason, "force": force}
        path = f"{_version_path(reference)}/yank"
        return _load(StatusChange, self._call("PUT", path, body=body))

    def unyank(self, reference: str) -> StatusChange:
        path = f"{_version_path(reference)}/yank"
        return _load(StatusChange, self._call("DELETE", path))

    def deprecate(self, reference: str, reason: str) -> StatusChange:
        path = f"{_version_path(reference)}/deprecation"
        return _load(StatusChange, self._call("PUT", path, body={"reason": reason}))

    def undeprecate(self, reference: str) -> StatusChange:
        path = f"{_version_path(reference)}/deprecation"
        return _load(StatusChange, self._call("DELETE", path))

    # Build ------------------------------------------------------------------------

    def validate(
        self,
        *,
        strict: bool = False,
        alias: str | None = None,
        live: bool = False,
        target: str | None = None,
    ) -> ValidationReport:
        params = {"strict": strict, "alias": alias, "live": live, "target": target}
        return _load(ValidationReport, self._call("GET", "/validation", params=params))

    def plan(self, *, alias: str | None = None) -> DeploymentPlan:
        return _load(DeploymentPlan, self._call("GET", "/plan", params={"alias": alias}))

    def report(self, *, alias: str | None = None) -> CatalogReport:
        return _load(CatalogReport, self._call("GET", "/report", params={"alias": alias}))

    # Rollout ----------------------------------------------------------------------

    def rollout_plan(
        self,
        target: str = "local",
        *,
        alias: str | None = None,
        refs: Sequence[str] | None = None,
        concurrency: int = 4,
    ) -> RolloutPlan:
        """What a deploy by this token would do on `target` (a maintainer's is targeted
        at their team's models; see the API's GET /plan/rollout)."""
        params = {
            "target": target,
            "alias": alias,
            "ref": list(refs) if refs else None,
            "concurrency": concurrency,
        }
        return _load(RolloutPlan, self._call("GET", "/plan/rollout", params=params))

    def deploy(
        self,
        target: str = "local",
        *,
        alias: str | None = None,
        refs: Sequence[str] | None = None,
        expect_digest: str | None = None,
        options: DeployOptions | None = None,
        progress: Progress | None = None,
    ) -> DeployResult:
        """Roll out on the server (a deploy job, POST /jobs as this token: a maintainer's
        is targeted at their team's models) and follow the job until it ends, handing
        `progress` each model's state as the job reports it. The job goes on on the
        server if this client stops following it.

        Raises:
            RolloutFailed: as a local deploy, with the deployment as the job recorded it.
        """
        options = options or DeployOptions()
        body = {
            "target": target,
            "alias": alias,
            "refs": list(refs or ()),
            "expect_digest": expect_digest,
            "concurrency": options.concurrency,
            "load_timeout_s": options.load_timeout_s,
            "ready_timeout_s": options.ready_timeout_s,
            "smoke": options.smoke,
            "wait_for_lease_s": options.wait_for_lease_s,
        }
        job = self._call("POST", "/jobs", body=body)
        reported = 0
        while True:
            for event in job["progress"][reported:]:
                if progress is not None:
                    progress(event["model"], event["state"])
            reported = len(job["progress"])
            if job["state"] != "running":
                break
            time.sleep(JOB_POLL_S)
            job = self._call("GET", f"/jobs/{quote(job['id'], safe='')}")
        result = _load(DeployResult, job["result"]) if job["result"] else None
        if job["state"] == "succeeded" and result is not None:
            return result
        error = job["error"] or {"code": "internal", "message": f"job {job['id']} {job['state']}"}
        cls = _error_classes().get(str(error["code"]), ModelyardError)
        raise _made(cls, str(error["message"]), [], result)

    def status(self, target: str = "local", *, alias: str | None = None) -> StatusResult:
        params = {"target": target, "alias": alias}
        return _load(StatusResult, self._call("GET", "/status", params=params))

    def history(self, target: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        found = self._call("GET", "/history", params={"target": target, "limit": limit})
        return [_load(DeploymentRecord, r) for r in found["deployments"]]

    def rollout_status(
        self, reference: str | None = None, *, target: str | None = None, limit: int = 20
    ) -> RolloutList:
        """Canary rollouts (of one model, or all), newest first, each with its events."""
        if reference is None:
            found = self._call("GET", "/rollouts", params={"target": target, "limit": limit})
        else:
            ref = ModelRef.parse(reference)
            path = f"/rollouts/{quote(ref.domain, safe='')}/{quote(ref.name, safe='')}"
            found = self._call("GET", path, params={"target": target})
        return _load(RolloutList, found)

    def rollout_canary(
        self,
        reference: str,
        to: str,
        *,
        steps: str = "5,25,50,100",
        interval: str = "60s",
        max_error_rate: float = 0.01,
        min_requests: int = 500,
        max_extensions: int = 3,
        max_latency_increase: float = 0.2,
        max_throughput_drop: float = 0.5,
        max_memory_drift: float = 0.1,
        check_latency: bool = True,
        target: str = "local",
        progress: Callable[[str], None] | None = None,
    ) -> RolloutResult:
        """Start the rollout on the server (which drives its steps) and follow it until it
        ends, handing `progress` a line per weight set and per analysis. It goes on on the
        server if this client stops following it (`rollout status`, `rollout abort`).

        Raises:
            Conflict: the server stopped driving it (it restarted mid-rollout): the
                rollout shows as interrupted, and `rollout abort` ends it.
        """
        ref = ModelRef.parse(experiment_model(reference))
        path = f"/rollouts/{quote(ref.domain, safe='')}/{quote(ref.name, safe='')}"
        body = {
            "to": to,
            "steps": parse_steps(steps),
            "interval": interval,
            "max_error_rate": max_error_rate,
            "min_requests": min_requests,
            "max_extensions": max_extensions,
            "max_latency_increase": max_latency_increase,
            "max_throughput_drop": max_throughput_drop,
            "max_memory_drift": max_memory_drift,
            "check_latency": check_latency,
            "target": target,
        }
        status = _load(RolloutStatus, self._call("POST", path, body=body))
        reported = 0
        while True:
            for event in status.events[reported:]:
                if progress is not None and (line := _rollout_line(status, event)):
                    progress(line)
            reported = len(status.events)
            record = status.rollout
            if record.state != "running":
                break
            if status.interrupted:
                raise Conflict(
                    f"{record.model}: the server stopped driving its rollout to "
                    f"{record.candidate} at step {record.step} ({record.weight} %); "
                    f"`modelyard rollout abort {record.model}` sends every request back "
                    f"to {record.baseline}"
                )
            time.sleep(JOB_POLL_S)
            found = _load(RolloutList, self._call("GET", path, params={"target": target}))
            status = next((r for r in found.rollouts if r.rollout.id == record.id), status)
        decision = next((e for e in status.events if e.kind == "decision"), None)
        promoted = decision.figures.get("promoted") if decision else None
        return RolloutResult(
            ok=status.rollout.state == "succeeded",
            rollout=status.rollout,
            events=status.events,
            promoted=promoted or None,
        )

    def abort_rollout(self, reference: str, *, target: str = "local") -> RolloutStatus:
        """Every request of the model's rollout back to its baseline at once."""
        ref = ModelRef.parse(experiment_model(reference))
        path = f"/rollouts/{quote(ref.domain, safe='')}/{quote(ref.name, safe='')}/abort"
        return _load(RolloutStatus, self._call("POST", path, body={"target": target}))

    # Traffic ----------------------------------------------------------------------

    def experiment_status(
        self, reference: str | None = None, *, target: str | None = None
    ) -> ExperimentList:
        """Running experiments with their counts; of one model, all of its experiments."""
        path = "/experiments" if reference is None else _experiment_path(reference)
        return _load(ExperimentList, self._call("GET", path, params={"target": target}))

    def start_experiment(
        self,
        reference: str,
        arms: Sequence[str],
        *,
        sticky_header: str | None = None,
        shadow: str | None = None,
        target: str = "local",
        alias: str | None = None,
    ) -> ExperimentResult:
        """Split the model's requests between the arms (`"3.0=90"`): the server loads and
        verifies each first, so the answer comes once that is done."""
        body = {
            "arms": _arms_body(arms),
            "sticky_header": sticky_header,
            "shadow": _shadow_body(shadow),
            "target": target,
            "alias": alias,
        }
        return _load(ExperimentResult, self._call("POST", _experiment_path(reference), body=body))

    def set_weights(
        self,
        reference: str,
        arms: Sequence[str] = (),
        *,
        target: str = "local",
        shadow: str | None = None,
        no_shadow: bool = False,
        alias: str | None = None,
    ) -> ExperimentResult:
        body = {
            "arms": _arms_body(arms),
            "shadow": _shadow_body(shadow),
            "no_shadow": no_shadow,
            "target": target,
            "alias": alias,
        }
        path = f"{_experiment_path(reference)}/weights"
        return _load(ExperimentResult, self._call("PUT", path, body=body))

    def stop_experiment(
        self,
        reference: str,
        keep: str,
        *,
        target: str = "local",
        promote: str | None = PROMOTED_ALIAS,
    ) -> ExperimentResult:
        body = {"keep": keep, "target": target, "promote": promote}
        path = f"{_experiment_path(reference)}/stop"
        return _load(ExperimentResult, self._call("POST", path, body=body))

    def switch(
        self, reference: str, to: str, *, target: str = "local", alias: str | None = None
    ) -> ExperimentResult:
        body = {"to": to, "target": target, "alias": alias}
        path = f"{_experiment_path(reference)}/switch"
        return _load(ExperimentResult, self._call("POST", path, body=body))


def _experiment_path(reference: str) -> str:
    """`/experiments/{domain}/{name}` of the model an experiment command names."""
    ref = ModelRef.parse(experiment_model(reference))
    return f"/experiments/{quote(ref.domain, safe='')}/{quote(ref.name, safe='')}"


def _arms_body(arms: Sequence[str]) -> list[dict[str, Any]]:
    """`["3.0=90"]` as the API's arms, checked here as the CLI checks them locally."""
    return [{"version": v, "weight": w} for v, w in parse_arms(arms)]


def _shadow_body(shadow: str | None) -> dict[str, Any] | None:
    if shadow is None:
        return None
    version, percent = parse_shadow(shadow)
    return {"version": version, "percent": percent}


def _rollout_line(status: RolloutStatus, event: CanaryEvent) -> str | None:
    """What a local rollout prints for `event` as it happens."""
    if event.kind == "weight":
        return weight_line(event.step, status.rollout.candidate, event.weight)
    if event.kind == "analysis":
        return analysis_line(event.step, event.outcome, event.reason)
    return event.reason
