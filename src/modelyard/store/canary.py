"""Stepwise canary rollouts in the catalog: each rollout with its state and heartbeat, and
every event of it (a weight set, an analysis with its figures, a decision)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import desc, insert, select, update

from modelyard.errors import NotFound
from modelyard.store.access import record as record_audit
from modelyard.store.rows import canary_events, canary_rollouts
from modelyard.store.store import CatalogStore, _utc
from modelyard.store.timestamps import Timestamp

CanaryState = Literal["running", "succeeded", "failed", "aborted"]
EventKind = Literal["weight", "analysis", "decision"]


class CanaryEvent(BaseModel):
    """One event of a rollout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind
    step: int
    weight: int
    outcome: str | None
    reason: str | None
    figures: dict[str, Any]
    at: Timestamp


class CanaryRecord(BaseModel):
    """A rollout: what it rolls out, how, where it is, and who drives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    model: str
    target: str
    experiment: int | None
    baseline: str
    candidate: str
    steps: list[int]
    interval_s: float
    settings: dict[str, Any]
    state: CanaryState
    step: int  # 1-based; 0 before the first weight
    weight: int
    reason: str | None
    holder: str
    heartbeat_at: Timestamp
    actor: str
    started_at: Timestamp
    finished_at: Timestamp | None


def _object(model_id: str, target: str) -> str:
    return f"{model_id} on {target}"


class CanaryLog:
    """Rollouts and their events in the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def start(
        self,
        model_id: str,
        target: str,
        *,
        baseline: str,
        candidate: str,
        steps: list[int],
        interval_s: float,
        settings: dict[str, Any],
        holder: str,
        actor: str,
        now: datetime | None = None,
    ) -> CanaryRecord:
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            result = tx.connection.execute(
                insert(canary_rollouts).values(
                    model_id=model_id,
                    target=target,
                    experiment_id=None,
                    baseline=baseline,
                    candidate=candidate,
                    steps_json=json.dumps(steps),
                    interval_s=interval_s,
                    settings_json=json.dumps(settings, sort_keys=True),
                    state="running",
                    step=0,
                    weight=0,
                    reason=None,
                    holder=holder[:200],
                    heartbeat_at=now,
                    actor=actor[:200],
                    started_at=now,
                    finished_at=None,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            rollout_id = int(key[0])
            record_audit(
                tx,
                actor,
                "rollout.start",
                _object(model_id, target),
                None,
                {
                    "rollout": rollout_id,
                    "baseline": baseline,
                    "candidate": candidate,
                    "steps": steps,
                    "interval_s": interval_s,
                    **settings,
                },
                now=now,
            )
        return self.get(rollout_id)

    def get(self, rollout_id: int) -> CanaryRecord:
        with self.store.reader() as tx:
            row = tx.connection.execute(
                select(canary_rollouts).where(canary_rollouts.c.id == rollout_id)
            ).first()
        if row is None:
            raise NotFound(f"no rollout {rollout_id}; `modelyard rollout status` lists them")
        return _record(row)

    def history(
        self, *, model_id: str | None = None, target: str | None = None, limit: int = 50
    ) -> list[CanaryRecord]:
        """Rollouts, newest first."""
        query = select(canary_rollouts).order_by(desc(canary_rollouts.c.id)).limit(limit)
        if model_id is not None:
            query = query.where(canary_rollouts.c.model_id == model_id)
        if target is not None:
            query = query.where(canary_rollouts.c.target == target)
        with self.store.reader() as tx:
            return [_record(row) for row in tx.connection.execute(query)]

    def running(self, model_id: str | None = None) -> list[CanaryRecord]:
        query = select(canary_rollouts).where(canary_rollouts.c.state == "running")
        if model_id is not None:
            query = query.where(canary_rollouts.c.model_id == model_id)
        with self.store.reader() as tx:
            return [_record(row) for row in tx.connection.execute(query)]

    def events(self, rollout_id: int) -> list[CanaryEvent]:
        query = (
            select(canary_events)
            .where(canary_events.c.rollout_id == rollout_id)
            .order_by(canary_events.c.id)
        )
        with self.store.reader() as tx:
            return [
                CanaryEvent(
                    kind=row.kind,
                    step=row.step,
                    weight=row.weight,
                    outcome=row.outcome,
                    reason=row.reason,
                    figures=json.loads(row.figures_json),
                    at=_utc(row.at),
                )
                for row in tx.connection.execute(query)
            ]

    def heartbeat(self, rollout_id: int, now: datetime | None = None) -> None:
        with self.store.transaction() as tx:
            tx.connection.execute(
                update(canary_rollouts)
                .where(canary_rollouts.c.id == rollout_id)
                .values(heartbeat_at=now or datetime.now(UTC))
            )

    def add_event(
        self,
        record: CanaryRecord,
        kind: EventKind,
        *,
        step: int,
        weight: int,
        actor: str,
        outcome: str | None = None,
        reason: str | None = None,
        figures: dict[str, Any] | None = None,
        experiment: int | None = None,
        now: datetime | None = None,
    ) -> None:
        """Store one event and move the rollout to its step and weight, audited."""
        now = now or datetime.now(UTC)
        values: dict[str, Any] = {"step": step, "weight": weight, "heartbeat_at": now}
        if experiment is not None:
            values["experiment_id"] = experiment
        with self.store.transaction() as tx:
            tx.connection.execute(
                insert(canary_events).values(
                    rollout_id=record.id,
                    kind=kind,
                    step=step,
                    weight=weight,
                    outcome=outcome,
                    reason=reason,
                    figures_json=json.dumps(figures or {}, sort_keys=True),
                    at=now,
                )
            )
            tx.connection.execute(
                update(canary_rollouts).where(canary_rollouts.c.id == record.id).values(**values)
            )
            record_audit(
                tx,
                actor,
                f"rollout.{kind}",
                _object(record.model, record.target),
                {"rollout": record.id, "step": record.step, "weight": record.weight},
                {
                    "rollout": record.id,
                    "step": step,
                    "weight": weight,
                    "outcome": outcome,
                    "reason": reason,
                    "figures": figures or {},
                },
                now=now,
            )

    def finish(
        self,
        record: CanaryRecord,
        state: CanaryState,
        reason: str,
        *,
        weight: int,
        actor: str,
        now: datetime | None = None,
    ) -> CanaryRecord:
        """End the rollout (once: a finished one stays as it ended), audited."""
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            changed = tx.connection.execute(
                update(canary_rollouts)
                .where(canary_rollouts.c.id == record.id, canary_rollouts.c.state == "running")
                .values(state=state, reason=reason, weight=weight, finished_at=now)
            ).rowcount
            if changed:
                record_audit(
                    tx,
                    actor,
                    f"rollout.{state}",
                    _object(record.model, record.target),
                    {"rollout": record.id, "state": record.state, "weight": record.weight},
                    {"rollout": record.id, "state": state, "weight": weight, "reason": reason},
                    now=now,
                )
        return self.get(record.id)


def _record(row: Any) -> CanaryRecord:
    return CanaryRecord(
        id=row.id,
        model=row.model_id,
        target=row.target,
        experiment=row.experiment_id,
        baseline=row.baseline,
        candidate=row.candidate,
        steps=json.loads(row.steps_json),
        interval_s=row.interval_s,
        settings=json.loads(row.settings_json),
        state=row.state,
        step=row.step,
        weight=row.weight,
        reason=row.reason,
        holder=row.holder,
        heartbeat_at=_utc(row.heartbeat_at),
        actor=row.actor,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at) if row.finished_at is not None else None,
    )
