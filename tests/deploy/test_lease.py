"""The lease module: one holder per target, renewed by a heartbeat, released on exit."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from modelyard import Conflict
from modelyard.deploy.lease import acquire_lease, default_holder, hold_lease
from modelyard.store import CatalogStore
from modelyard.store.history import DeploymentLog, LeaseRecord


def lease_of(log: DeploymentLog, target: str) -> LeaseRecord | None:
    return next((lease for lease in log.leases() if lease.target == target), None)


@pytest.mark.timing  # a heartbeat every 0.2 s keeps a 0.6 s lease
def test_the_heartbeat_keeps_a_lease_past_its_time_to_live(store: CatalogStore) -> None:
    log = DeploymentLog(store)
    with hold_lease(log, "edge", holder="deployer-a", ttl_s=0.6) as lease:
        assert (lease.target, lease.holder, lease.ttl_s) == ("edge", "deployer-a", 0.6)
        first = lease_of(log, "edge")
        assert first is not None
        time.sleep(1.2)  # twice the time to live: only renewals keep it
        renewed = lease_of(log, "edge")
        assert renewed is not None and renewed.holder == "deployer-a"
        assert renewed.expires_at > first.expires_at
        assert renewed.expires_at > datetime.now(UTC)
        with pytest.raises(Conflict, match="is being deployed by deployer-a"):
            acquire_lease(log, "edge", holder="deployer-b", ttl_s=0.6)
    assert lease_of(log, "edge") is None


def test_the_lease_is_released_when_the_block_raises(store: CatalogStore) -> None:
    log = DeploymentLog(store)
    with (
        pytest.raises(RuntimeError, match="load failed"),
        hold_lease(log, "edge", holder="deployer-a", ttl_s=60),
    ):
        raise RuntimeError("load failed")
    assert lease_of(log, "edge") is None
    with hold_lease(log, "edge", holder="deployer-b", ttl_s=60):
        held = lease_of(log, "edge")
        assert held is not None and held.holder == "deployer-b"


def test_a_second_holder_is_refused_with_who_and_since_when(store: CatalogStore) -> None:
    log = DeploymentLog(store)
    with hold_lease(log, "edge", holder="deployer-a", ttl_s=60):
        with (
            pytest.raises(Conflict, match=r"'edge' is being deployed by deployer-a since .* UTC"),
            hold_lease(log, "edge", holder="deployer-b", ttl_s=60),
        ):
            pytest.fail("two holders at once")  # pragma: no cover
        # The refused holder released nothing: the first still holds the lease.
        held = lease_of(log, "edge")
        assert held is not None and held.holder == "deployer-a"
        with hold_lease(log, "other", holder="deployer-b", ttl_s=60):  # another target is free
            pass


def test_a_waiting_holder_gets_the_lease_once_it_is_let_go(store: CatalogStore) -> None:
    log = DeploymentLog(store)
    taken = threading.Event()

    def first() -> None:
        with hold_lease(log, "edge", holder="deployer-a", ttl_s=60):
            taken.set()
            time.sleep(0.8)

    thread = threading.Thread(target=first)
    thread.start()
    assert taken.wait(10)
    began = time.monotonic()
    with hold_lease(log, "edge", holder="deployer-b", ttl_s=60, wait_s=10):
        waited_s = time.monotonic() - began
        held = lease_of(log, "edge")
        assert held is not None and held.holder == "deployer-b"
    thread.join()
    assert 0.3 < waited_s < 5


def test_default_holders_are_unique_per_deployer() -> None:
    one, two = default_holder(), default_holder()
    assert one != two and one.rsplit("/", 1)[0] == two.rsplit("/", 1)[0]
    assert "@" in one and ":" in one
