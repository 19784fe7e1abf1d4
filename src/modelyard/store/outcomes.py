"""A/B outcomes in the catalog: one value per request id the gateway routed to an arm, and
the looks taken at an experiment's outcomes (each with its information fraction)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, insert, select, update

from modelyard.store.access import record as record_audit
from modelyard.store.rows import experiment_looks, experiment_outcomes
from modelyard.store.store import CatalogStore, _utc
from modelyard.store.timestamps import Timestamp


class Outcome(BaseModel):
    """One request's outcome: its experiment, the arm that served it, and the value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    experiment: int
    arm: str
    value: float
    actor: str
    recorded_at: Timestamp


class Look(BaseModel):
    """One look at an experiment's outcomes: its number, information fraction, alpha, and
    the figures it saw (per candidate: p-value, boundary, whether it crossed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment: int
    look: int
    fraction: float
    alpha: float
    figures: dict[str, Any]
    actor: str
    at: Timestamp


class OutcomeLog:
    """Outcomes and looks in the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def record(
        self,
        request_id: str,
        experiment_id: int,
        arm: str,
        value: float,
        *,
        actor: str,
        now: datetime | None = None,
    ) -> tuple[Outcome | None, Outcome]:
        """Store the outcome of `request_id`, replacing an earlier one (audited then, with
        the value before and after); returns (the one replaced or None, the new one)."""
        now = now or datetime.now(UTC)
        values = {
            "experiment_id": experiment_id,
            "arm": arm,
            "value": value,
            "actor": actor[:200],
            "recorded_at": now,
        }
        with self.store.transaction() as tx:
            row = tx.connection.execute(
                select(experiment_outcomes).where(experiment_outcomes.c.request_id == request_id)
            ).first()
            before = _outcome(row) if row is not None else None
            if before is None:
                tx.connection.execute(
                    insert(experiment_outcomes).values(request_id=request_id, **values)
                )
            else:
                tx.connection.execute(
                    update(experiment_outcomes)
                    .where(experiment_outcomes.c.request_id == request_id)
                    .values(**values)
                )
                record_audit(
                    tx,
                    actor,
                    "experiment.feedback",
                    f"request {request_id} (experiment {experiment_id})",
                    {"arm": before.arm, "value": before.value},
                    {"arm": arm, "value": value},
                    now=now,
                )
            after = Outcome(
                request_id=request_id,
                experiment=experiment_id,
                arm=arm,
                value=value,
                actor=actor[:200],
                recorded_at=now,
            )
        return before, after

    def values(self, experiment_id: int) -> dict[str, list[float]]:
        """Arm -> its outcome values, in the order they were recorded."""
        query = (
            select(experiment_outcomes.c.arm, experiment_outcomes.c.value)
            .where(experiment_outcomes.c.experiment_id == experiment_id)
            .order_by(experiment_outcomes.c.recorded_at, experiment_outcomes.c.request_id)
        )
        found: dict[str, list[float]] = {}
        with self.store.reader() as tx:
            for arm, value in tx.connection.execute(query):
                found.setdefault(arm, []).append(float(value))
        return found

    def looks(self, experiment_id: int) -> list[Look]:
        query = (
            select(experiment_looks)
            .where(experiment_looks.c.experiment_id == experiment_id)
            .order_by(experiment_looks.c.look)
        )
        with self.store.reader() as tx:
            return [_look(row) for row in tx.connection.execute(query)]

    def add_look(
        self,
        experiment_id: int,
        fraction: float,
        alpha: float,
        figures: dict[str, Any],
        *,
        actor: str,
        now: datetime | None = None,
    ) -> Look:
        """Record the next look (its number one past the last; two reports at once cannot
        both take the same number: the unique constraint makes the second a Conflict)."""
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            last = tx.connection.execute(
                select(func.max(experiment_looks.c.look)).where(
                    experiment_looks.c.experiment_id == experiment_id
                )
            ).scalar()
            number = int(last or 0) + 1
            tx.connection.execute(
                insert(experiment_looks).values(
                    experiment_id=experiment_id,
                    look=number,
                    fraction=fraction,
                    alpha=alpha,
                    figures_json=json.dumps(figures, sort_keys=True),
                    actor=actor[:200],
                    at=now,
                )
            )
        return Look(
            experiment=experiment_id,
            look=number,
            fraction=fraction,
            alpha=alpha,
            figures=figures,
            actor=actor[:200],
            at=now,
        )


def _outcome(row: Any) -> Outcome:
    return Outcome(
        request_id=row.request_id,
        experiment=row.experiment_id,
        arm=row.arm,
        value=row.value,
        actor=row.actor,
        recorded_at=_utc(row.recorded_at),
    )


def _look(row: Any) -> Look:
    return Look(
        experiment=row.experiment_id,
        look=row.look,
        fraction=row.fraction,
        alpha=row.alpha,
        figures=json.loads(row.figures_json),
        actor=row.actor,
        at=_utc(row.at),
    )
