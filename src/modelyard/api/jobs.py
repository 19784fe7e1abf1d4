"""Deployments started through the API: each runs in a thread as a job with its own id.

At most one job per target runs at a time in this server; across servers and CLIs the
runner's lease on the target keeps deployers apart.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.api.schemas import ErrorBody
from modelyard.deploy.runner import DeployOptions, DeployResult
from modelyard.errors import Conflict, ModelyardError, NotFound
from modelyard.workspace import Workspace

JobState = Literal["running", "succeeded", "failed"]
# Progress events kept per job (a large rollout keeps its latest ones).
MAX_EVENTS = 2000


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


class DeployJobs:
    """The deploy jobs of one API server (kept in memory; the catalog keeps the history)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._jobs: dict[str, DeployJob] = {}
        self._lock = threading.Lock()

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
        job.thread.start()
        return snapshot

    def _run(self, job: DeployJob, options: DeployOptions) -> None:
        def progress(model: str, state: str) -> None:
            with self._lock:
                job.models[model] = state
                job.progress.append({"at": datetime.now(UTC), "model": model, "state": state})
                del job.progress[:-MAX_EVENTS]

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
            job.state = state

    def get(self, job_id: str) -> JobSnapshot:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(
                    f"no job {job_id!r} in this server (jobs live until it restarts; "
                    "/api/v1/history has every deployment)"
                )
            return job.snapshot()

    def list(self) -> list[JobSnapshot]:
        with self._lock:
            return [
                j.snapshot()
                for j in sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)
            ]

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobSnapshot:
        """Block until the job is done (or `timeout_s` passed); its state then."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.thread is not None:
            job.thread.join(timeout_s)
        return self.get(job_id)

    def join_all(self, timeout_s: float) -> None:
        with self._lock:
            threads = [j.thread for j in self._jobs.values() if j.thread is not None]
        for thread in threads:
            thread.join(timeout_s)
