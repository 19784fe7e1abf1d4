"""Traffic experiments in the catalog: each change and its audit entry commit together,
with the weights before and after."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select, update

from modelyard.errors import Conflict, NotFound
from modelyard.store.access import record as record_audit
from modelyard.store.rows import experiments
from modelyard.store.store import CatalogStore, CatalogTransaction, _utc
from modelyard.store.timestamps import Timestamp

ExperimentKind = Literal["split", "switch"]
ExperimentState = Literal["running", "stopped"]


class Arm(BaseModel):
    """One version of the model in an experiment, and its share of requests (percent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    weight: int


class Shadow(BaseModel):
    """The version that gets a copy of `percent` % of the model's requests; its answers
    go nowhere (clients get the arm's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    percent: int


class ExperimentRecord(BaseModel):
    """One experiment as the catalog keeps it; `arms` in bucket-layout order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    model: str
    target: str
    kind: ExperimentKind
    state: ExperimentState
    arms: list[Arm]
    sticky_header: str | None
    kept: str | None
    actor: str
    started_at: Timestamp
    updated_at: Timestamp
    stopped_at: Timestamp | None
    shadow: Shadow | None = None

    @property
    def weights(self) -> dict[str, int]:
        return {arm.version: arm.weight for arm in self.arms}

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    @property
    def served_versions(self) -> list[str]:
        """The versions Triton must keep loaded for this experiment's route: every arm
        and the shadow while it runs (a weight may go up again at once), the kept one
        after."""
        if self.is_running:
            shadow = [self.shadow.version] if self.shadow else []
            return [arm.version for arm in self.arms] + shadow
        return [self.kept] if self.kept else []

    @property
    def active_shadow(self) -> Shadow | None:
        """The shadow that gets copies now: none once the experiment has stopped."""
        return self.shadow if self.is_running else None

    def audited(self) -> dict[str, Any]:
        """What an audit entry shows of the experiment: its weights, and its shadow when
        it has one."""
        shown: dict[str, Any] = {"weights": self.weights}
        if self.active_shadow is not None:
            shown["shadow"] = self.active_shadow.model_dump()
        return shown


def _running_key(target: str, model_id: str) -> str:
    return f"{target} {model_id}"


def _object(record: ExperimentRecord) -> str:
    return f"experiment {record.id} ({record.model} on {record.target})"


def audit_object(record: ExperimentRecord) -> str:
    """What the audit log names the experiment's changes by (its `object`)."""
    return _object(record)


class ExperimentLog:
    """Experiments in the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def start(
        self,
        model_id: str,
        target: str,
        arms: list[Arm],
        *,
        kind: ExperimentKind = "split",
        sticky_header: str | None = None,
        shadow: Shadow | None = None,
        actor: str,
        before: Any = None,
        now: datetime | None = None,
    ) -> ExperimentRecord:
        """Record a running experiment (audited as `experiment.start` or `switch`).

        Raises:
            Conflict: the model already has a running experiment on the target.
        """
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            running = _running(tx, model_id, target)
            if running is not None:
                raise _already_running(running)
            result = tx.connection.execute(
                insert(experiments).values(
                    model_id=model_id,
                    target=target,
                    kind=kind,
                    state="running",
                    running_key=_running_key(target, model_id),
                    arms_json=_arms_json(arms),
                    sticky_header=sticky_header,
                    kept=None,
                    actor=actor[:200],
                    started_at=now,
                    updated_at=now,
                    stopped_at=None,
                    **_shadow_columns(shadow),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            created = _get(tx, int(key[0]))
            record_audit(
                tx,
                actor,
                "switch" if kind == "switch" else "experiment.start",
                _object(created),
                before,
                {**created.audited(), "sticky_header": sticky_header},
                now=now,
            )
        return created

    def reweigh(
        self,
        experiment_id: int,
        arms: list[Arm],
        *,
        actor: str,
        action: str = "experiment.set",
        shadow: Shadow | None | Literal["keep"] = "keep",
        now: datetime | None = None,
    ) -> tuple[ExperimentRecord, ExperimentRecord]:
        """New weights for a running experiment, and a new shadow (None: no shadow any
        more; "keep": the one it has); returns (before, after).

        Raises:
            NotFound, Conflict: no such experiment, or it has stopped.
        """
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            before = _get(tx, experiment_id)
            if not before.is_running:
                raise Conflict(f"{_object(before)} has stopped; start a new one")
            kept_shadow = before.shadow if shadow == "keep" else shadow
            tx.connection.execute(
                update(experiments)
                .where(experiments.c.id == experiment_id)
                .values(arms_json=_arms_json(arms), updated_at=now, **_shadow_columns(kept_shadow))
            )
            after = _get(tx, experiment_id)
            record_audit(
                tx, actor, action, _object(after), before.audited(), after.audited(), now=now
            )
        return before, after

    def stop(
        self, experiment_id: int, keep: str, *, actor: str, now: datetime | None = None
    ) -> tuple[ExperimentRecord, ExperimentRecord]:
        """End a running experiment: all traffic to `keep`; returns (before, after)."""
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            before = _get(tx, experiment_id)
            if not before.is_running:
                raise Conflict(f"{_object(before)} has stopped already")
            arms = [
                Arm(version=a.version, weight=100 if a.version == keep else 0) for a in before.arms
            ]
            tx.connection.execute(
                update(experiments)
                .where(experiments.c.id == experiment_id)
                .values(
                    state="stopped",
                    running_key=None,
                    kept=keep,
                    arms_json=_arms_json(arms),
                    updated_at=now,
                    stopped_at=now,
                )
            )
            after = _get(tx, experiment_id)
            record_audit(
                tx,
                actor,
                "experiment.stop",
                _object(after),
                before.audited(),
                {**after.audited(), "kept": keep},
                now=now,
            )
        return before, after

    @staticmethod
    def already_running(record: ExperimentRecord) -> Conflict:
        """The error for a second experiment on a model that has one running."""
        return _already_running(record)

    def get(self, experiment_id: int) -> ExperimentRecord:
        with self.store.reader() as tx:
            return _get(tx, experiment_id)

    def running(self, model_id: str, target: str) -> ExperimentRecord | None:
        with self.store.reader() as tx:
            return _running(tx, model_id, target)

    def history(
        self,
        *,
        target: str | None = None,
        model_id: str | None = None,
        running_only: bool = False,
    ) -> list[ExperimentRecord]:
        """Experiments, newest first."""
        query = select(experiments).order_by(experiments.c.id.desc())
        if target is not None:
            query = query.where(experiments.c.target == target)
        if model_id is not None:
            query = query.where(experiments.c.model_id == model_id)
        if running_only:
            query = query.where(experiments.c.state == "running")
        with self.store.reader() as tx:
            return [_record(row) for row in tx.connection.execute(query)]

    def routing(self, target: str | None = None) -> list[ExperimentRecord]:
        """What routes each model on the target(s): its running experiment, else its
        latest stopped one (whose kept version the gateway stays pinned to)."""
        chosen: dict[tuple[str, str], ExperimentRecord] = {}
        for record in self.history(target=target):  # newest first
            key = (record.target, record.model)
            current = chosen.get(key)
            if current is None or (record.is_running and not current.is_running):
                chosen[key] = record
        return sorted(chosen.values(), key=lambda r: (r.target, r.model))


def _shadow_columns(shadow: Shadow | None) -> dict[str, Any]:
    return {
        "shadow_version": shadow.version if shadow else None,
        "shadow_percent": shadow.percent if shadow else None,
    }


def _arms_json(arms: list[Arm]) -> str:
    return json.dumps([[arm.version, arm.weight] for arm in arms])


def _get(tx: CatalogTransaction, experiment_id: int) -> ExperimentRecord:
    row = tx.connection.execute(
        select(experiments).where(experiments.c.id == experiment_id)
    ).first()
    if row is None:
        raise NotFound(f"no experiment {experiment_id}; `modelyard experiment status` lists them")
    return _record(row)


def _running(tx: CatalogTransaction, model_id: str, target: str) -> ExperimentRecord | None:
    row = tx.connection.execute(
        select(experiments).where(experiments.c.running_key == _running_key(target, model_id))
    ).first()
    return _record(row) if row is not None else None


def _already_running(record: ExperimentRecord) -> Conflict:
    shown = ", ".join(f"{a.version}={a.weight}" for a in record.arms)
    return Conflict(
        f"{record.model} already has {_object(record).split(' (')[0]} running on target "
        f"{record.target!r} ({shown}); change it with `modelyard experiment set` or end it "
        "with `modelyard experiment stop --keep VERSION`"
    )


def _record(row: Any) -> ExperimentRecord:
    return ExperimentRecord(
        id=row.id,
        model=row.model_id,
        target=row.target,
        kind=row.kind,
        state=row.state,
        arms=[Arm(version=v, weight=w) for v, w in json.loads(row.arms_json)],
        sticky_header=row.sticky_header,
        kept=row.kept,
        actor=row.actor,
        started_at=_utc(row.started_at),
        updated_at=_utc(row.updated_at),
        stopped_at=_utc(row.stopped_at) if row.stopped_at else None,
        shadow=(
            Shadow(version=row.shadow_version, percent=row.shadow_percent)
            if row.shadow_version is not None
            else None
        ),
    )
