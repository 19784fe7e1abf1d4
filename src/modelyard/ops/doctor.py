"""`modelyard doctor`: check the workspace, the catalog database, the artifacts, the
compiled repositories and the servers, and say what to do about each finding.

It never raises: whatever it cannot open becomes a failed check with its reason, so it
can be run precisely when everything else fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from modelyard.catalog.manifest import ArtifactUnreadable
from modelyard.catalog.spec import range_problems
from modelyard.config import S3Config, TargetConfig, locate_workspace
from modelyard.errors import ModelyardError
from modelyard.ops import canary, rollout
from modelyard.ops.context import Context
from modelyard.s3.artifacts import remote_artifacts
from modelyard.s3.repository import S3RepositoryWriter, parse_repository_url
from modelyard.s3.store import S3Store, is_s3_url
from modelyard.store.history import DeploymentLog
from modelyard.store.store import CatalogStore
from modelyard.triton.client import TritonClient
from modelyard.triton.compiler import verify_artifact
from modelyard.triton.onnx_io import ArtifactError
from modelyard.triton.repository import RepositoryWriter

Status = Literal["ok", "warn", "fail"]
SERVER_TIMEOUT_S = 3.0


class Check(BaseModel):
    """One finding: the area checked, its status, what was found and what to do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    area: str
    status: Status
    detail: str
    fix: str | None = None


class DoctorReport(BaseModel):
    """Every check `diagnose` made, in order; `ok` when none failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checks: list[Check] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 healthy (warnings allowed), 6 the catalog is unusable, 1 anything else failed."""
        if any(c.status == "fail" and c.area in ("workspace", "catalog") for c in self.checks):
            return 6
        return 0 if self.ok else 1


class _Findings:
    """The checks made so far; `diagnose` builds the report from them at the end."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, area: str, status: Status, detail: str, fix: str | None = None) -> None:
        self.checks.append(Check(area=area, status=status, detail=detail, fix=fix))


def diagnose(root: Path | None = None, db_url: str | None = None) -> DoctorReport:
    findings = _Findings()
    try:
        folder, config, url = locate_workspace(root, db_url)
    except ModelyardError as error:
        findings.add(
            "workspace",
            "fail",
            error.message,
            "run `modelyard init`, or pass --workspace DIR / --db URL",
        )
        return DoctorReport(checks=findings.checks)
    where = str(folder) if folder else "(no folder: --db only)"
    findings.add("workspace", "ok", f"{where}; catalog {_safe_url(url)}")
    store = _check_catalog(findings, url)
    if store is None:
        return DoctorReport(checks=findings.checks)
    workspace = Context(store, config, folder)
    try:
        _guarded(findings, "deployments", lambda: _check_deployments(findings, store))
        _guarded(findings, "rollouts", lambda: _check_rollouts(findings, workspace))
        _guarded(findings, "artifacts", lambda: _check_artifacts(findings, workspace))
        for target in _targets(workspace):
            _guarded(
                findings,
                f"repository {target}",
                partial(_check_repository, findings, workspace, target),
            )
            _guarded(
                findings, f"server {target}", partial(_check_server, findings, workspace, target)
            )
    finally:
        store.dispose()
    return DoctorReport(checks=findings.checks)


def _guarded(findings: _Findings, area: str, check: Callable[[], None]) -> None:
    try:
        check()
    except ModelyardError as error:
        findings.add(area, "fail", error.message)
    except OSError as error:
        findings.add(
            area, "fail", f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
        )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the catalog check
        return url


def _check_catalog(findings: _Findings, url: str) -> CatalogStore | None:
    try:
        store = CatalogStore.open(url)
    except ModelyardError as error:
        findings.add(
            "catalog",
            "fail",
            error.message,
            "restore the database from a backup; `modelyard init` starts a new, empty catalog",
        )
        return None
    problems = store.integrity_problems()
    if problems:
        findings.add(
            "catalog",
            "fail",
            "the database is damaged: " + "; ".join(problems),
            "stop every modelyard writing to it and restore it from a backup "
            "(SQLite: `sqlite3 catalog.db .recover` can save what is readable)",
        )
        return None
    revision = store.schema_revision()
    versions = len(store.summaries())
    backend = store.engine.dialect.name
    findings.add(
        "catalog",
        "ok",
        f"{backend}, schema {revision}, {versions} model version(s), integrity check passed",
    )
    out_of_range = [
        f"{stored.spec.ref} ({field}: {reason})"
        for stored in store.versions()
        for field, reason in range_problems(stored.spec, examples=False)
    ]
    if out_of_range:
        shown = "; ".join(out_of_range[:5]) + (
            f"; and {len(out_of_range) - 5} more" if len(out_of_range) > 5 else ""
        )
        findings.add(
            "catalog ranges",
            "warn",
            f"{len(out_of_range)} number(s) of stored versions are outside their documented "
            f"range (registered before ranges were checked): {shown}",
            "register a corrected version and yank the old one "
            "(`modelyard yank ID@VERSION --reason ...`); validate reports each as out-of-range",
        )
    return store


def _check_deployments(findings: _Findings, store: CatalogStore) -> None:
    log = DeploymentLog(store)
    now = datetime.now(UTC)
    leases = {lease.target: lease for lease in log.leases()}
    found = False
    for record in log.history(limit=200):
        if record.outcome == "running":
            lease = leases.get(record.target)
            if lease is None or lease.expires_at <= now:
                found = True
                deployer = f", deployer {record.holder}" if record.holder else ""
                findings.add(
                    "deployments",
                    "warn",
                    f"deployment {record.id} to {record.target} (started "
                    f"{record.started_at:%Y-%m-%d %H:%M} UTC by {record.actor}{deployer}) never "
                    "finished: its deployer died",
                    f"`modelyard status --target {record.target}` shows what is live; "
                    "deploy again to converge",
                )
        elif record.outcome == "rollback_failed" and record.id == log.last(record.target).id:
            found = True
            findings.add(
                "deployments",
                "warn",
                f"the last deployment to {record.target} ({record.id}) failed and could "
                f"not roll back: {record.error}",
                "deploy again once the server answers; it loads what is missing",
            )
    for lease in leases.values():
        if lease.expires_at <= now:
            found = True
            findings.add(
                "deployments",
                "warn",
                f"an expired lease on {lease.target} is left by {lease.holder}",
                "nothing to do: the next deploy takes it over",
            )
    if not found:
        findings.add("deployments", "ok", "no interrupted deployment, no stale lease")


def _check_rollouts(findings: _Findings, workspace: Context) -> None:
    interrupted = canary.interrupted_rollouts(workspace)
    for record in interrupted:
        findings.add(
            "rollouts",
            "warn",
            f"rollout {record.id} of {record.model} on {record.target} ({record.baseline} -> "
            f"{record.candidate}, step {record.step} at {record.weight} %) was interrupted: "
            f"its driver {record.holder} is gone",
            f"`modelyard rollout abort {record.model} --target {record.target}` sends every "
            f"request back to {record.baseline}; a new `modelyard rollout` does the same first",
        )
    if not interrupted:
        findings.add("rollouts", "ok", "no interrupted canary rollout")


def _check_artifacts(findings: _Findings, workspace: Context) -> None:
    specs = [stored.spec for stored in workspace.store.versions()]
    broken = []
    remote = remote_artifacts(workspace)
    for spec in specs:
        try:
            if spec.artifact is not None and is_s3_url(spec.artifact):
                remote.fetch(spec.artifact, spec.artifact_sha256 or "")
            else:
                verify_artifact(spec)
        except (ArtifactError, ArtifactUnreadable) as error:
            broken.append(str(error))
    with_artifacts = sum(1 for s in specs if s.artifact is not None)
    if broken:
        findings.add(
            "artifacts",
            "fail",
            f"{len(broken)} of {with_artifacts} artifact(s) "
            "missing or changed: " + "; ".join(broken[:5]) + ("; ..." if len(broken) > 5 else ""),
            "restore the registered files, or register new versions with the new files",
        )
    else:
        findings.add(
            "artifacts", "ok", f"{with_artifacts} artifact(s) present, SHA-256 as registered"
        )


def _targets(workspace: Context) -> list[str]:
    return ["local", *sorted(t for t in workspace.config.targets if t != "local")]


def _check_repository(findings: _Findings, workspace: Context, target: str) -> None:
    config = workspace.target(target)
    if is_s3_url(config.repository):
        _check_s3_repository(findings, config, target)
        return
    path = Path(config.repository)
    writer = RepositoryWriter(path)
    if not path.exists() and not path.is_symlink():
        findings.add(f"repository {target}", "ok", f"{path}: not compiled yet")
        return
    errors, warnings = writer.verify()
    for warning in warnings:
        findings.add(f"repository {target}", "warn", warning, "nothing to do")
    strays = writer.strays()
    if strays:
        bytecode = any("__pycache__" in s.split("/") or s.endswith(".pyc") for s in strays)
        findings.add(
            f"repository {target}",
            "warn",
            f"{writer.current()} holds {len(strays)} path(s) modelyard did not write: "
            + ", ".join(strays[:5])
            + (", ..." if len(strays) > 5 else ""),
            "remove them: they are in no diff and no manifest, yet a server reads (or an upload "
            "copies) them"
            + (
                "; bytecode there comes from a repository written before modelyard guarded "
                "version folders against it, and recompiling replaces it"
                if bytecode
                else ""
            ),
        )
    if errors:
        findings.add(
            f"repository {target}",
            "fail",
            f"{path}: " + "; ".join(errors[:5]),
            f"recompile: `modelyard deploy --target {target}` (or `modelyard compile "
            f"--out {path}`)",
        )
    else:
        findings.add(
            f"repository {target}", "ok", f"{path} -> {writer.current()}: every file as written"
        )


def _check_s3_repository(findings: _Findings, config: TargetConfig, target: str) -> None:
    """Every object of the current generation re-read against its manifest."""
    writer = S3RepositoryWriter(
        S3Store(config.s3 or S3Config()),
        parse_repository_url(config.repository, f"target {target!r}: repository"),
    )
    number = writer.current_number()
    if number is None:
        findings.add(f"repository {target}", "ok", f"{config.repository}: nothing published yet")
        return
    errors = writer.verify()
    if errors:
        findings.add(
            f"repository {target}",
            "fail",
            f"{config.repository} generation {number}: "
            + "; ".join(errors[:5])
            + ("; ..." if len(errors) > 5 else ""),
            f"republish: `modelyard deploy --target {target}` after a change, or restore the "
            "objects (the generation's manifest is in "
            f"{writer.generations}{number:06d}.json)",
        )
    else:
        findings.add(
            f"repository {target}",
            "ok",
            f"{config.repository} generation {number}: every object as published",
        )


def _check_server(findings: _Findings, workspace: Context, target: str) -> None:
    config = workspace.target(target)
    with TritonClient(config.url, timeout_s=SERVER_TIMEOUT_S) as client:
        live = client.is_live()
    if not live:
        deployed = bool(rollout.history(workspace, target, limit=1))
        status: Status = "fail" if deployed else "ok"
        findings.add(
            f"server {target}",
            status,
            f"{config.url} does not answer"
            + ("" if deployed else " (nothing was deployed there yet)"),
            "start it (`modelyard serve` for local) and check the URL in modelyard.yaml"
            if deployed
            else None,
        )
        return
    state = rollout.status(workspace, target)
    drift = state.drift
    if drift:
        names = ", ".join(f"{m.model} ({m.state})" for m in drift[:5])
        findings.add(
            f"server {target}",
            "warn",
            f"{config.url} is live; {len(drift)} model(s) differ from the catalog: {names}",
            f"`modelyard deploy --target {target}`",
        )
    else:
        findings.add(
            f"server {target}",
            "ok",
            f"{config.url} is live and serves the catalog's "
            f"selection ({len(state.models)} model(s))",
        )
