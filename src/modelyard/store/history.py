"""Deployment records and the one-deployer-per-target lease (the catalog's own tables)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import delete, insert, select, update

from modelyard.errors import Conflict, NotFound
from modelyard.store.rows import deployments, leases
from modelyard.store.store import CatalogStore, _utc


class DeploymentRecord(BaseModel):
    """One deployment (or undeploy) of a target, as the history keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    target: str
    actor: str
    selection: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str | None
    actions: list[dict[str, Any]]
    # The deployer process that held the lease; `actor` is who asked. None in records
    # written before the catalog kept it.
    holder: str | None = None
    # How long it was expected to take when it started (deploy/estimate.py's
    # RolloutEstimate as JSON); None when none was made.
    estimate: dict[str, Any] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds(self) -> float | None:
        """How long it took (None while it runs)."""
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def estimated_seconds(self) -> float | None:
        """The estimate's length of the loads, to set against `seconds`."""
        value = self.estimate.get("seconds") if self.estimate else None
        return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class LeaseRecord:
    target: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


class DeploymentLog:
    """Deployments and leases in the catalog database."""

    def __init__(self, store: CatalogStore, *, estimate: Mapping[str, Any] | None = None) -> None:
        self.store = store
        # Recorded on the deployments this log starts (`start`): the estimate of the
        # rollout about to run, made by its caller.
        self.estimate = estimate

    def acquire_lease(
        self, target: str, holder: str, ttl_s: float, now: datetime | None = None
    ) -> None:
        """Take the target's lease, or raise Conflict naming who holds it and since when.

        A lease whose holder stopped renewing it (crashed, killed) expires after `ttl_s`.
        """
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            row = tx.connection.execute(
                select(leases.c.holder, leases.c.acquired_at, leases.c.expires_at).where(
                    leases.c.target == target
                )
            ).first()
            if row is not None and _utc(row.expires_at) > now and row.holder != holder:
                raise Conflict(
                    f"target {target!r} is being deployed by {row.holder} since "
                    f"{_utc(row.acquired_at):%Y-%m-%d %H:%M:%S} UTC (lease until "
                    f"{_utc(row.expires_at):%H:%M:%S}); wait with --wait or try later"
                )
            values = {
                "holder": holder,
                "acquired_at": now,
                "expires_at": now + timedelta(seconds=ttl_s),
            }
            if row is None:
                tx.connection.execute(insert(leases).values(target=target, **values))
            else:
                tx.connection.execute(
                    update(leases).where(leases.c.target == target).values(**values)
                )

    def leases(self) -> list[LeaseRecord]:
        with self.store.reader() as tx:
            rows = tx.connection.execute(select(leases).order_by(leases.c.target)).all()
        return [
            LeaseRecord(r.target, r.holder, _utc(r.acquired_at), _utc(r.expires_at)) for r in rows
        ]

    def renew_lease(self, target: str, holder: str, ttl_s: float) -> None:
        now = datetime.now(UTC)
        with self.store.transaction() as tx:
            tx.connection.execute(
                update(leases)
                .where(leases.c.target == target, leases.c.holder == holder)
                .values(expires_at=now + timedelta(seconds=ttl_s))
            )

    def release_lease(self, target: str, holder: str) -> None:
        with self.store.transaction() as tx:
            tx.connection.execute(
                delete(leases).where(leases.c.target == target, leases.c.holder == holder)
            )

    def start(self, target: str, actor: str, selection: str, *, holder: str | None = None) -> int:
        """Record a deployment as running; `actor` asked for it, `holder` (the lease
        holder, one deployer process) runs it."""
        with self.store.transaction() as tx:
            result = tx.connection.execute(
                insert(deployments).values(
                    target=target,
                    actor=actor,
                    holder=holder,
                    selection=selection,
                    started_at=datetime.now(UTC),
                    outcome="running",
                    actions_json="[]",
                    estimate_json=None if self.estimate is None else json.dumps(self.estimate),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish(
        self,
        deployment_id: int,
        outcome: str,
        actions: list[dict[str, Any]],
        error: str | None = None,
    ) -> None:
        with self.store.transaction() as tx:
            tx.connection.execute(
                update(deployments)
                .where(deployments.c.id == deployment_id)
                .values(
                    outcome=outcome,
                    actions_json=json.dumps(actions),
                    error=error,
                    finished_at=datetime.now(UTC),
                )
            )

    def history(self, target: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        query = select(deployments).order_by(deployments.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(deployments.c.target == target)
        with self.store.reader() as tx:
            rows = tx.connection.execute(query).all()
        return [
            DeploymentRecord(
                id=r.id,
                target=r.target,
                actor=r.actor,
                selection=r.selection,
                started_at=_utc(r.started_at),
                finished_at=_utc(r.finished_at) if r.finished_at else None,
                outcome=r.outcome,
                error=r.error,
                actions=json.loads(r.actions_json),
                holder=r.holder,
                estimate=json.loads(r.estimate_json) if r.estimate_json else None,
            )
            for r in rows
        ]

    def last(self, target: str) -> DeploymentRecord:
        records = self.history(target, limit=1)
        if not records:
            raise NotFound(f"no deployment to {target!r} is recorded")
        return records[0]
