"""Undeploy through a Target: refused while needed, cascades, audited with the actor."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import Conflict, NotFound, TritonError
from modelyard.deploy.lease import acquire_lease
from modelyard.deploy.undeploy import run_undeploy
from modelyard.store import CatalogStore
from modelyard.store.history import DeploymentLog
from tests.support.fake_triton import FakeTriton

# ranker -> scorer -> embedding; search stands alone.
DEPENDENCIES = {"ranker": ["scorer"], "scorer": ["embedding"], "embedding": [], "search": []}


@pytest.fixture
def fake(tmp_path: Path) -> FakeTriton:
    serving = FakeTriton(tmp_path / "repo")
    serving.ready = {name: [1] for name in DEPENDENCIES}
    return serving


def test_undeploy_is_recorded_with_the_actor_not_the_holder(
    store: CatalogStore, fake: FakeTriton
) -> None:
    log = DeploymentLog(store)
    with fake.serving("edge") as target:
        result = run_undeploy(
            log,
            target,
            "search",
            DEPENDENCIES,
            cascade=False,
            actor="token:alice",
            holder="deployer@host:1/abc",
            selection="undeploy search/engine",
        )
    assert result.unloaded == ["search"] and result.target == "edge"
    assert result.live_before == ["embedding", "ranker", "scorer", "search"]
    assert "search" not in fake.ready
    record = log.history("edge")[0]
    assert record.id == result.deployment_id
    assert (record.actor, record.holder) == ("token:alice", "deployer@host:1/abc")
    assert (record.selection, record.outcome) == ("undeploy search/engine", "succeeded")
    assert record.actions == [{"model": "search", "action": "unload", "status": "done"}]
    assert log.leases() == []


def test_undeploy_refuses_while_needed_unless_cascade(
    store: CatalogStore, fake: FakeTriton
) -> None:
    log = DeploymentLog(store)
    with fake.serving("edge") as target:
        with pytest.raises(Conflict, match=r"ranker, scorer on 'edge' need embedding"):
            run_undeploy(log, target, "embedding", DEPENDENCIES, cascade=False, actor="local:me")
        assert log.history("edge") == [] and log.leases() == []
        result = run_undeploy(
            log, target, "embedding", DEPENDENCIES, cascade=True, actor="local:me"
        )
    assert result.unloaded == ["ranker", "scorer", "embedding"]
    assert [m for action, m in fake.calls if action == "unload"] == result.unloaded
    assert set(fake.ready) == {"search"}
    record = log.history("edge")[0]
    assert record.actor == "local:me" and record.holder and record.holder != "local:me"


def test_undeploy_of_a_model_not_loaded_is_not_found(store: CatalogStore, fake: FakeTriton) -> None:
    fake.ready.pop("search")
    with (
        fake.serving("edge") as target,
        pytest.raises(NotFound, match="search is not loaded on 'edge'"),
    ):
        run_undeploy(DeploymentLog(store), target, "search", DEPENDENCIES, cascade=False, actor="x")


def test_undeploy_waits_for_no_one_while_another_deployer_holds_the_lease(
    store: CatalogStore, fake: FakeTriton
) -> None:
    log = DeploymentLog(store)
    acquire_lease(log, "edge", holder="deployer-a", ttl_s=60)
    with (
        fake.serving("edge") as target,
        pytest.raises(Conflict, match="is being deployed by deployer-a"),
    ):
        run_undeploy(log, target, "search", DEPENDENCIES, cascade=False, actor="token:bob")
    assert fake.ready["search"] == [1] and fake.calls == []


def test_an_unload_cut_off_is_recorded_as_failed(store: CatalogStore, fake: FakeTriton) -> None:
    log = DeploymentLog(store)
    fake.reset("unload", "scorer")
    with (
        fake.serving("edge") as target,
        pytest.raises(TritonError, match="unreachable: model scorer"),
    ):
        run_undeploy(log, target, "embedding", DEPENDENCIES, cascade=True, actor="local:me")
    record = log.history("edge")[0]
    assert record.outcome == "failed" and record.error and "scorer" in record.error
    assert [(a["model"], a["status"]) for a in record.actions] == [
        ("ranker", "done"),
        ("scorer", "failed"),
        ("embedding", "pending"),
    ]
    assert log.leases() == []
