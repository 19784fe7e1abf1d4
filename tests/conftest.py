"""Shared fixtures: real catalogs, the Netflix example, a CLI runner (the helpers behind
them are in tests/support/).

The catalog backend is SQLite (a file in tmp_path) unless MODELYARD_TEST_DB names a
PostgreSQL server (`postgresql+psycopg://user@host:port/db`, as `scripts/postgres.sh start`
prints): then every test gets a database of its own on that server, created from a
migrated template and dropped afterwards.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from modelyard import Workspace
from modelyard.store import CatalogStore
from tests.support.catalogs import BACKEND, SERVER_URL, Catalogs
from tests.support.netflix import NETFLIX, NETFLIX_MODELS
from tests.support.triton import local_triton_problem
from tests.support.workspaces import Cli, init_workspace

# `make test` runs the suite on two pytest-xdist workers: on two cores most tests wait on
# servers (Triton, HAProxy, PostgreSQL). A test marked `timing` asserts on latency or races
# a deadline, so it runs alone: it holds this lock exclusively, every other test holds it
# shared, each for its whole protocol (the fixtures it sets up and tears down included).
_RUN_LOCK = (
    Path(tempfile.gettempdir()) / f"modelyard-tests-{os.environ['PYTEST_XDIST_TESTRUNUID']}.lock"
    if os.environ.get("PYTEST_XDIST_TESTRUNUID")
    else None
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    if _RUN_LOCK is None:
        return (yield)
    with _RUN_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if item.get_closest_marker("timing") else fcntl.LOCK_SH)
        try:
            return (yield)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_report_header() -> str:
    where = make_url(SERVER_URL).render_as_string(hide_password=True) if SERVER_URL else "files"
    return f"modelyard catalog backend: {BACKEND} ({where})"


@pytest.fixture(autouse=True)
def _no_server_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's MODELYARD_SERVER would send every CLI test (and every `modelyard
    server` a test starts) to that server; the remote tests set their own."""
    monkeypatch.delenv("MODELYARD_SERVER", raising=False)
    monkeypatch.delenv("MODELYARD_TOKEN", raising=False)


@pytest.fixture(scope="session")
def _catalogs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogs]:
    catalogs = Catalogs(tmp_path_factory.mktemp("template"))
    yield catalogs
    catalogs.close()


@pytest.fixture
def catalog_url(_catalogs: Catalogs, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated catalog of this test's own, on the chosen backend."""
    yield _catalogs.new(tmp_path / "catalog")
    _catalogs.drop_created()


@pytest.fixture
def new_catalog_url(_catalogs: Catalogs, tmp_path: Path) -> Iterator[Any]:
    """A factory of further empty catalogs for tests that need more than one."""
    yield lambda: _catalogs.new(tmp_path / f"catalog-{uuid.uuid4().hex[:8]}")
    _catalogs.drop_created()


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    """An empty, migrated catalog of this test's own."""
    opened = CatalogStore.open(catalog_url)
    yield opened
    opened.dispose()


@pytest.fixture
def workspace(tmp_path: Path, catalog_url: str) -> Iterator[Workspace]:
    """A fresh workspace holding the Netflix example's modelyard.yaml (with its fleet)."""
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copyfile(NETFLIX / "modelyard.yaml", root / "modelyard.yaml")
    created = init_workspace(root, catalog_url)
    yield created
    created.close()


@pytest.fixture
def netflix(workspace: Workspace) -> Workspace:
    """The workspace with the seed notebook's five Netflix models applied."""
    workspace.apply([NETFLIX_MODELS])
    return workspace


@pytest.fixture
def cli(workspace: Workspace) -> Cli:
    assert workspace.root is not None
    return Cli(workspace.root)


@pytest.fixture(scope="session")
def local_triton_reason() -> str | None:
    return local_triton_problem()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CI installs nvidia-pytriton, so these always run there; elsewhere they say why not.
    if os.environ.get("CI"):
        return
    reason = local_triton_problem()
    if reason:
        skip = pytest.mark.skip(reason=f"no local Triton: {reason}")
        for item in items:
            if "triton" in item.keywords:
                item.add_marker(skip)
