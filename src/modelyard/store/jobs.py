"""Deploy jobs of `modelyard server`, kept in the catalog so that a restart loses none.

A job row names the server running it (`<host>:<pid>`). A server starting on that host
marks the running jobs of processes that no longer exist `interrupted`: a server killed
mid-rollout leaves no job "running" forever. Jobs of servers on other hosts are left to
those servers (this one cannot tell whether they are alive).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, insert, select, update

from modelyard.store.rows import jobs
from modelyard.store.store import CatalogStore, _utc
from modelyard.store.timestamps import Timestamp


class JobRecord(BaseModel):
    """A deploy job as the catalog keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    target: str
    alias: str | None
    refs: list[str]
    actor: str
    state: str
    server: str
    started_at: Timestamp
    finished_at: Timestamp | None
    models: dict[str, str]
    progress: list[dict[str, Any]]
    result: dict[str, Any] | None
    error: dict[str, Any] | None


def this_server() -> str:
    """`<host>:<pid>` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class JobLog:
    """The jobs table."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def insert(self, job: JobRecord) -> None:
        with self.store.transaction() as tx:
            tx.connection.execute(insert(jobs).values(**_values(job)))

    def save(self, job: JobRecord) -> None:
        """Write the job's state, progress, result and error."""
        values = _values(job)
        del values["id"]
        with self.store.transaction() as tx:
            tx.connection.execute(update(jobs).where(jobs.c.id == job.id).values(**values))

    def get(self, job_id: str) -> JobRecord | None:
        with self.store.reader() as tx:
            row = tx.connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _record(row) if row is not None else None

    def latest(self, *, limit: int = 100) -> list[JobRecord]:
        """The newest jobs first."""
        query = select(jobs).order_by(jobs.c.started_at.desc(), jobs.c.id).limit(limit)
        with self.store.reader() as tx:
            return [_record(row) for row in tx.connection.execute(query)]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self.store.reader() as tx:
            rows = tx.connection.execute(
                select(jobs.c.state, func.count()).group_by(jobs.c.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    def interrupt_orphans(
        self,
        *,
        now: datetime | None = None,
        alive: Callable[[int], bool] = pid_alive,
        host: str | None = None,
    ) -> list[str]:
        """Mark `interrupted` the running jobs of this host's servers that are gone.

        Returns:
            The ids of the jobs marked.
        """
        now = now or datetime.now(UTC)
        host = host if host is not None else socket.gethostname()
        marked: list[str] = []
        with self.store.transaction() as tx:
            running = tx.connection.execute(
                select(jobs.c.id, jobs.c.server, jobs.c.error_json).where(jobs.c.state == "running")
            ).all()
            for job_id, server, _error in running:
                server_host, _, pid = str(server).rpartition(":")
                if server_host != host or not pid.isdigit() or alive(int(pid)):
                    continue
                error = {
                    "code": "interrupted",
                    "field": None,
                    "message": f"the server running this job ({server}) stopped before it "
                    "finished; `modelyard status TARGET` shows what is serving, and "
                    "`modelyard history` what was recorded",
                }
                tx.connection.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(state="interrupted", finished_at=now, error_json=json.dumps(error))
                )
                marked.append(str(job_id))
        return marked


def _values(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "target": job.target,
        "alias": job.alias,
        "refs_json": json.dumps(job.refs),
        "actor": job.actor[:200],
        "state": job.state,
        "server": job.server,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "models_json": json.dumps(job.models),
        "progress_json": json.dumps(job.progress, default=str),
        "result_json": json.dumps(job.result, default=str) if job.result is not None else None,
        "error_json": json.dumps(job.error) if job.error is not None else None,
    }


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id,
        kind=row.kind,
        target=row.target,
        alias=row.alias,
        refs=json.loads(row.refs_json),
        actor=row.actor,
        state=row.state,
        server=row.server,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at) if row.finished_at else None,
        models=json.loads(row.models_json),
        progress=json.loads(row.progress_json),
        result=json.loads(row.result_json) if row.result_json else None,
        error=json.loads(row.error_json) if row.error_json else None,
    )
