"""Experiments in the catalog: one running per model and target, audited changes."""

from __future__ import annotations

import pytest

from modelyard import Conflict, NotFound
from modelyard.store import CatalogStore
from modelyard.store.access import AccessLog
from modelyard.store.experiments import Arm, ExperimentLog


def _arms(**weights: int) -> list[Arm]:
    return [Arm(version=v.replace("_", "."), weight=w) for v, w in weights.items()]


def test_an_experiment_runs_changes_and_stops_audited(store: CatalogStore) -> None:
    log = ExperimentLog(store)
    started = log.start(
        "tools/echo", "local", _arms(v3_0=90, v3_1=10), sticky_header="x-user-id", actor="ann"
    )
    assert started.is_running and started.weights == {"v3.0": 90, "v3.1": 10}
    assert log.running("tools/echo", "local") == started
    assert log.running("tools/echo", "staging") is None

    before, after = log.reweigh(started.id, _arms(v3_0=70, v3_1=30), actor="bob")
    assert before.weights == {"v3.0": 90, "v3.1": 10}
    assert after.weights == {"v3.0": 70, "v3.1": 30}
    _, stopped = log.stop(started.id, "v3.1", actor="bob")
    assert (stopped.state, stopped.kept, stopped.weights) == (
        "stopped",
        "v3.1",
        {"v3.0": 0, "v3.1": 100},
    )
    assert stopped.served_versions == ["v3.1"]
    assert log.running("tools/echo", "local") is None

    entries = AccessLog(store).entries(action="experiment")
    assert [e.action for e in entries] == ["experiment.stop", "experiment.set", "experiment.start"]
    assert entries[1].before == {"weights": {"v3.0": 90, "v3.1": 10}}
    assert entries[1].after == {"weights": {"v3.0": 70, "v3.1": 30}}
    assert entries[1].actor == "bob"

    with pytest.raises(Conflict, match="stopped already"):
        log.stop(started.id, "v3.1", actor="bob")
    with pytest.raises(NotFound, match="no experiment 99"):
        log.get(99)


def test_one_running_experiment_per_model_and_target(store: CatalogStore) -> None:
    log = ExperimentLog(store)
    first = log.start("tools/echo", "local", _arms(a=50, b=50), actor="ann")
    with pytest.raises(
        Conflict, match=f"tools/echo already has experiment {first.id} running on target 'local'"
    ):
        log.start("tools/echo", "local", _arms(a=10, b=90), actor="bob")
    log.start("tools/echo", "staging", _arms(a=10, b=90), actor="bob")  # another target
    assert len(log.history(running_only=True)) == 2
    assert len(AccessLog(store).entries(action="experiment.start")) == 2


def test_routing_is_the_running_experiment_else_the_last_kept_version(store: CatalogStore) -> None:
    log = ExperimentLog(store)
    old = log.start("tools/echo", "local", _arms(a=50, b=50), actor="ann")
    log.stop(old.id, "b", actor="ann")
    assert [(r.id, r.served_versions) for r in log.routing("local")] == [(old.id, ["b"])]
    new = log.start("tools/echo", "local", _arms(b=90, c=10), actor="ann")
    assert [(r.id, r.served_versions) for r in log.routing("local")] == [(new.id, ["b", "c"])]
    assert log.routing("staging") == []
