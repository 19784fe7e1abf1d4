"""Concurrent writers from separate processes lose nothing, on SQLite and PostgreSQL.

The backend is the suite's (see tests/support/catalogs.py); `bench/reliability.py` prints
the same scenarios (tests/support/concurrency.py) as a table.
"""

from __future__ import annotations

import pytest

from tests.support import concurrency

pytestmark = [pytest.mark.slow, pytest.mark.every_backend]


def test_eight_writers_register_4000_models_and_lose_none(catalog_url: str) -> None:
    outcome = concurrency.concurrent_apply(catalog_url, writers=8, per_writer=500)
    assert outcome.errors == []
    assert (outcome.expected, outcome.found, outcome.lost, outcome.duplicated) == (4000, 4000, 0, 0)


def test_eight_writers_of_one_identical_version_make_one_registration(catalog_url: str) -> None:
    outcome = concurrency.concurrent_same_version(catalog_url, same_content=True)
    assert outcome.errors == []
    assert (outcome.found, outcome.duplicated, outcome.conflicts) == (1, 0, 0)


def test_eight_writers_of_one_version_with_other_content_one_wins(catalog_url: str) -> None:
    outcome = concurrency.concurrent_same_version(catalog_url, same_content=False)
    assert outcome.errors == []
    assert (outcome.found, outcome.duplicated, outcome.conflicts) == (1, 0, 7)


def test_alias_compare_and_set_loses_no_update(catalog_url: str) -> None:
    outcome = concurrency.concurrent_alias_moves(catalog_url, writers=8, attempts=40)
    assert outcome.errors == []
    assert outcome.expected > 0  # some moves succeed
    assert outcome.conflicts > 0  # and the collisions were real
    assert (outcome.lost, outcome.duplicated) == (0, 0)
    assert outcome.found == outcome.expected


def test_one_of_eight_deployers_gets_the_lease(catalog_url: str) -> None:
    outcome = concurrency.concurrent_leases(catalog_url, writers=8)
    assert (outcome.found, outcome.duplicated, outcome.conflicts) == (1, 0, 7)


@pytest.mark.timing  # the 2 s lease expires while the next holder waits
def test_a_killed_holders_lease_expires(catalog_url: str) -> None:
    at_once, later = concurrency.killed_lease_holder(catalog_url, ttl_s=2.0)
    assert "is being deployed by pid-" in at_once
    assert later == "acquired"
