"""Measurements in the catalog: recorded per model version and target, newest wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelyard.store import CatalogStore
from modelyard.store.measurements import MeasurementLog

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_latest_per_version_and_target(store: CatalogStore) -> None:
    log = MeasurementLog(store)
    log.record("a/m", "1.0", "local", "perf", {"n": 1}, T0)
    log.record("a/m", "1.0", "gpu", "perf", {"n": 2}, T0 + timedelta(minutes=1))
    log.record("a/m", "1.0", "local", "perf", {"n": 3}, T0 + timedelta(minutes=2))
    log.record("a/m", "1.0", "local", "memory", {"n": 4}, T0 + timedelta(minutes=3))
    log.record("a/m", "2.0", "local", "perf", {"n": 5}, T0 + timedelta(minutes=4))
    log.record("b/other", "1.0", "local", "perf", {"n": 6}, T0 + timedelta(minutes=5))

    latest = log.latest("perf", [("a/m", "1.0")], "local")
    assert list(latest) == ["a/m@1.0"] and latest["a/m@1.0"].summary == {"n": 3}
    assert latest["a/m@1.0"].measured_at == T0 + timedelta(minutes=2)
    assert log.latest("perf", [("a/m", "1.0")], "gpu")["a/m@1.0"].summary == {"n": 2}
    # Any target: the newest of all; `1.0.0` is the version `1.0`.
    assert log.latest("perf", [("a/m", "1.0.0")])["a/m@1.0.0"].summary == {"n": 3}
    assert log.latest("memory", [("a/m", "1.0")])["a/m@1.0"].summary == {"n": 4}
    assert log.latest("perf", [("a/m", "3.0")]) == {}
    assert log.latest("perf", []) == {}

    history = log.history("a/m", target="local", kind="perf")
    assert [m.summary["n"] for m in history] == [5, 3, 1]
    assert [m.ref for m in log.history(limit=2)] == ["b/other@1.0", "a/m@2.0"]
    assert history[0].model_dump(mode="json")["target"] == "local"
