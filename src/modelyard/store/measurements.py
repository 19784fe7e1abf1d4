"""Live measurements (perf runs, memory readings) per model version and target.

The summary is kept as JSON (see rows.measurements) so that new figures need no
migration; `model_id`, `version`, `target` and `kind` are what queries filter on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select

from modelyard.catalog.version import Version
from modelyard.store.rows import measurements
from modelyard.store.store import CatalogStore, _utc
from modelyard.store.timestamps import Timestamp

MeasurementKind = Literal["perf", "memory"]
KINDS: tuple[str, ...] = ("perf", "memory")


class Measurement(BaseModel):
    """One stored measurement of a model version on a target (JSON: `model` is its id)."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    id: int
    model_id: str = Field(serialization_alias="model")
    version: str
    target: str
    kind: str
    measured_at: Timestamp
    summary: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.model_id}@{self.version}"


class MeasurementLog:
    """Measurements in the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def record(
        self,
        model_id: str,
        version: str,
        target: str,
        kind: MeasurementKind,
        summary: dict[str, Any],
        measured_at: datetime | None = None,
    ) -> int:
        """Keep one measurement; returns its id."""
        with self.store.transaction() as tx:
            result = tx.connection.execute(
                insert(measurements).values(
                    model_id=model_id,
                    version=version,
                    target=target,
                    kind=kind,
                    measured_at=measured_at or datetime.now(UTC),
                    summary_json=json.dumps(summary, sort_keys=True),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def latest(
        self, kind: MeasurementKind, refs: Iterable[tuple[str, str]], target: str | None = None
    ) -> dict[str, Measurement]:
        """`domain/name@version` -> the newest measurement of that version (on `target`,
        or on any target), for each of `refs` (model id, version) that has one. Versions
        compare as versions: a measurement of `1.0` is one of `1.0.0`."""
        wanted = {
            (model_id, Version.parse(version).canonical): f"{model_id}@{version}"
            for model_id, version in refs
        }
        if not wanted:
            return {}
        query = (
            select(measurements)
            .where(
                measurements.c.kind == kind,
                measurements.c.model_id.in_(sorted({m for m, _ in wanted})),
            )
            .order_by(measurements.c.measured_at.desc(), measurements.c.id.desc())
        )
        if target is not None:
            query = query.where(measurements.c.target == target)
        found: dict[str, Measurement] = {}
        with self.store.reader() as tx:
            for row in tx.connection.execute(query):
                ref = wanted.get((row.model_id, Version.parse(row.version).canonical))
                if ref is not None and ref not in found:
                    found[ref] = _measurement(row)
        return found

    def history(
        self,
        model_id: str | None = None,
        *,
        target: str | None = None,
        kind: MeasurementKind | None = None,
        limit: int = 50,
    ) -> list[Measurement]:
        """Measurements, newest first."""
        query = (
            select(measurements)
            .order_by(measurements.c.measured_at.desc(), measurements.c.id.desc())
            .limit(limit)
        )
        if model_id is not None:
            query = query.where(measurements.c.model_id == model_id)
        if target is not None:
            query = query.where(measurements.c.target == target)
        if kind is not None:
            query = query.where(measurements.c.kind == kind)
        with self.store.reader() as tx:
            return [_measurement(row) for row in tx.connection.execute(query)]


def _measurement(row: Any) -> Measurement:
    return Measurement(
        id=row.id,
        model_id=row.model_id,
        version=row.version,
        target=row.target,
        kind=row.kind,
        measured_at=_utc(row.measured_at),
        summary=json.loads(row.summary_json),
    )
