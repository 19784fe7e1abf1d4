"""Deployments started through the API: each runs in a thread as a job with its own id.

At most one job per target runs at a time in this server; across servers and CLIs the
runner's lease on the target keeps deployers apart.

Jobs are kept in the catalog (store.jobs): their progress (written at most every
PROGRESS_FLUSH_S while they run), result and error survive a restart, and a job whose
server died shows `interrupted` once a server starts again on that host.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.api.schemas import ErrorBody
from modelyard.deploy.runner import DeployOptions, DeployResult
from modelyard.errors import Conflict, ModelyardError, NotFound
from modelyard.store.jobs import JobLog, JobRecord, this_server
from modelyard.workspace import Workspace

JobState = Literal["running", "succeeded", "failed", "interrupted"]
# Progress events kept per job (a large rollout keeps its latest ones).
MAX_EVENTS = 2000
# How often a running job's progress is written to the catalog (at most): a rollout of
# thousands of models reports many events a second.
PROGRESS_FLUSH_S = 0.5
# The jobs GET /jobs lists, newest first.
LISTED_JOBS = 100


@dataclass
class DeployJob:
    id: str
    target: str
    alias: str | None
    actor: str
    started_at: datetime
    refs: list[str] = field(default_factory=list)
    expect_digest: str | None = None
    state: JobState = "running"
    finished_at: datetime | None = None
    models: dict[str, str] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    flushed_at: float = field(default=0.0, repr=False)

    def record(self, server: str) -> JobRecord:
        """The job as the catalog keeps it (call with the jobs' lock held)."""
        return JobRecord(
            id=self.id,
            kind="deploy",
            target=self.target,
            alias=self.alias,
            refs=list(self.refs),
            actor=self.actor,
            state=self.state,
            server=server,
            started_at=self.started_at,
            finished_at=self.finished_at,
            models=dict(self.models),
            progress=[{**e, "at": e["at"].isoformat()} for e in self.progress],
            result=self.result,
            error=self.error,
        )

    def snapshot(self) -> JobSnapshot:
        """The job as it stands (call with the jobs' lock held, or once it is done)."""
        return JobSnapshot(
            id=self.id,
            target=self.target,
            alias=self.alias,
            refs=list(self.refs),
            actor=self.actor,
            state=self.state,
            started_at=self.started_at,
            finished_at=self.finished_at,
            models=dict(self.models),
            progress=[ProgressEvent.model_validate(e) for e in self.progress],
            result=self.result,
            error=ErrorBody.model_validate(self.error) if self.error else None,
        )


class ProgressEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    model: str
    state: str


class JobSnapshot(BaseModel):
    """A deploy job as the API shows it: its progress so far, then its result or error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: Literal["deploy"] = "deploy"
    target: str
    alias: str | None
    refs: list[str] = Field(description="The models named (empty: the whole selection).")
    actor: str
    state: JobState
    started_at: datetime
    finished_at: datetime | None
    models: dict[str, str] = Field(description="The latest state of each model.")
    progress: list[ProgressEvent]
    result: dict[str, Any] | None = Field(description="The deployment (DeployResult) once done.")
    error: ErrorBody | None


class JobList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs: list[JobSnapshot]


def snapshot_of(record: JobRecord) -> JobSnapshot:
    """A job read from the catalog, as the API shows it."""
    return JobSnapshot(
        id=record.id,
        target=record.target,
        alias=record.alias,
        refs=record.refs,
        actor=record.actor,
        state=record.state,  # type: ignore[arg-type]  # written by this module only
        started_at=record.started_at,
        finished_at=record.finished_at,
        models=record.models,
        progress=[ProgressEvent.model_validate(e) for e in record.progress],
        result=record.result,
        error=ErrorBody.model_validate(record.error) if record.error else None,
    )


class DeployJobs:
    """The deploy jobs of one API server: those it runs in memory (and written through to
    the catalog), every other one read from the catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.log = JobLog(workspace.store)
        self.server = this_server()
        self._jobs: dict[str, DeployJob] = {}
        self._lock = threading.Lock()
        # Called with a job's final state and its seconds from start to end (api.metrics).
        self.on_finish: Callable[[str, float], None] | None = None
        # Jobs of servers of this host that died mid-job: never "running" forever.
        self.interrupted = self.log.interrupt_orphans()

    def start(
        self,
        target: str,
        *,
        alias: str | None,
        options: DeployOptions,
        actor: str,
        refs: list[str] | None = None,
        expect_digest: str | None = None,
    ) -> JobSnapshot:
        """Start a deployment of the selection to `target` in the background.

        Raises:
            NotFound: no such target.
            Conflict: a job of this server is deploying to `target` already.
        """
        self.workspace.target(target)
        with self._lock:
            running = next(
                (j for j in self._jobs.values() if j.target == target and j.state == "running"),
                None,
            )
            if running is not None:
                raise Conflict(
                    f"job {running.id} is deploying to {target!r} since "
                    f"{running.started_at:%H:%M:%S} UTC; follow it at "
                    f"/api/v1/jobs/{running.id} and try again when it is done"
                )
            job = DeployJob(
                uuid.uuid4().hex[:12],
                target,
                alias,
                actor,
                datetime.now(UTC),
                refs=list(refs or []),
                expect_digest=expect_digest,
            )
            self._jobs[job.id] = job
            job.thread = threading.Thread(
                target=self._run, args=(job, options), name=f"deploy-{job.id}", daemon=True
            )
            snapshot = job.snapshot()
            record = job.record(self.server)
        try:
            self.log.insert(record)
        except ModelyardError:
            with self._lock:
                del self._jobs[job.id]
            raise
        job.thread.start()
        return snapshot

    def _run(self, job: DeployJob, options: DeployOptions) -> None:
        def progress(model: str, state: str) -> None:
            with self._lock:
                job.models[model] = state
                job.progress.append({"at": datetime.now(UTC), "model": model, "state": state})
                del job.progress[:-MAX_EVENTS]
                due = time.monotonic() - job.flushed_at >= PROGRESS_FLUSH_S
                if due:
                    job.flushed_at = time.monotonic()
                    record = job.record(self.server)
            if due:
                self._save(record)

        try:
            result = self.workspace.deploy(
                job.target,
                alias=job.alias,
                refs=job.refs or None,
                expect_digest=job.expect_digest,
                options=options,
                progress=progress,
                actor=job.actor,
            )
        except ModelyardError as exc:
            failed = getattr(exc, "result", None)
            self._finish(
                job,
                "failed",
                failed.model_dump(mode="json") if isinstance(failed, DeployResult) else None,
                {"code": exc.code, "message": exc.message, "field": None},
            )
        except Exception as exc:  # the thread's outermost edge: the job says what happened
            self._finish(
                job,
                "failed",
                None,
                {"code": "internal", "field": None, "message": f"{type(exc).__name__}: {exc}"},
            )
        else:
            self._finish(job, "succeeded", result.model_dump(mode="json"), None)

    def _finish(
        self,
        job: DeployJob,
        state: JobState,
        result: dict[str, Any] | None,
        error: dict[str, Any] | None,
    ) -> None:
        with self._lock:
            job.result, job.error = result, error
            job.finished_at = datetime.now(UTC)
            record = job.record(self.server).model_copy(update={"state": state})
        # Written before the job shows finished here, so a client that saw it finished
        # reads the same from the catalog (after a restart too).
        self._save(record)
        with self._lock:
            job.state = state
        if self.on_finish is not None:
            assert job.finished_at is not None
            self.on_finish(state, (job.finished_at - job.started_at).total_seconds())
            # Finished: the catalog has it all; the thread stays for wait() and join_all().

    def _save(self, record: JobRecord) -> None:
        # A catalog that cannot be written to (locked past its retries) must not kill the
        # job's thread: the next write carries the whole state again.
        with contextlib.suppress(ModelyardError):
            self.log.save(record)

    def get(self, job_id: str) -> JobSnapshot:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.snapshot()
        record = self.log.get(job_id)
        if record is None:
            raise NotFound(
                f"no job {job_id!r}; GET /api/v1/jobs lists the latest {LISTED_JOBS}, and "
                "/api/v1/history has every deployment"
            )
        return snapshot_of(record)

    def list(self) -> list[JobSnapshot]:
        """The latest jobs, newest first (this server's running ones as they stand)."""
        stored = self.log.latest(limit=LISTED_JOBS)
        with self._lock:
            live = {j.id: j.snapshot() for j in self._jobs.values()}
        listed = [live.pop(r.id) if r.id in live else snapshot_of(r) for r in stored]
        listed += live.values()  # started since the read
        return sorted(listed, key=lambda j: j.started_at, reverse=True)[:LISTED_JOBS]

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobSnapshot:
        """Block until the job is done (or `timeout_s` passed); its state then."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.thread is not None:
            job.thread.join(timeout_s)
        return self.get(job_id)

    def join_all(self, timeout_s: float) -> None:
        with self._lock:
            threads = [j.thread for j in self._jobs.values() if j.thread is not None]
        for thread in threads:
            thread.join(timeout_s)
