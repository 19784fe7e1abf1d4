"""Shared fixtures: real catalogs, the Netflix example, a CLI runner.

The catalog backend is SQLite (a file in tmp_path) unless MODELYARD_TEST_DB names a
PostgreSQL server (`postgresql+psycopg://user@host:port/db`, as `scripts/postgres.sh start`
prints): then every test gets a database of its own on that server, created from a
migrated template and dropped afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from modelyard import Workspace
from modelyard.cli.app import app
from modelyard.store import CatalogStore

ROOT = Path(__file__).resolve().parents[1]
NETFLIX = ROOT / "examples" / "netflix"
NETFLIX_MODELS = NETFLIX / "models"
# The seed notebook's five models, plus the scorer that makes the ranker an ensemble.
NETFLIX_REFS = [
    "recommendation/content_embedding@2.1",
    "recommendation/ranking_scorer@3.0",
    "recommendation/recommendation_ranker@3.0",
    "recommendation/user_embedding@1.0",
    "search/content_retrieval@2.0",
    "search/query_understanding@1.5",
]


SERVER_URL = os.environ.get("MODELYARD_TEST_DB")
BACKEND = make_url(SERVER_URL).get_backend_name() if SERVER_URL else "sqlite"
requires_sqlite = pytest.mark.skipif(BACKEND != "sqlite", reason="about SQLite files")


def pytest_report_header() -> str:
    where = make_url(SERVER_URL).render_as_string(hide_password=True) if SERVER_URL else "files"
    return f"modelyard catalog backend: {BACKEND} ({where})"


class Catalogs:
    """Fresh, migrated, empty catalogs: copies of one migrated template."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.template = f"modelyard_template_{uuid.uuid4().hex[:12]}"
        self.created: list[str] = []
        if SERVER_URL:
            self._admin_execute(f'CREATE DATABASE "{self.template}"')
            CatalogStore.open(self._url_of(self.template)).dispose()
        else:
            path = scratch / "template.db"
            CatalogStore.open(f"sqlite:///{path}", create=True).dispose()

    def _url_of(self, database: str) -> str:
        assert SERVER_URL
        return make_url(SERVER_URL).set(database=database).render_as_string(hide_password=False)

    def _admin_execute(self, statement: str) -> None:
        assert SERVER_URL
        engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    def new(self, folder: Path) -> str:
        """The URL of a new empty catalog (for SQLite, a file in `folder`)."""
        if not SERVER_URL:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "catalog.db"
            shutil.copyfile(self.scratch / "template.db", path)
            return f"sqlite:///{path}"
        database = f"t_{uuid.uuid4().hex[:16]}"
        self._admin_execute(f'CREATE DATABASE "{database}" TEMPLATE "{self.template}"')
        self.created.append(database)
        return self._url_of(database)

    def drop_created(self) -> None:
        while self.created:
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.created.pop()}" WITH (FORCE)')

    def close(self) -> None:
        if SERVER_URL:
            self.drop_created()
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


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


def init_workspace(root: Path, catalog_url: str) -> Workspace:
    """A workspace at `root` whose modelyard.yaml points at `catalog_url` (so that the
    CLI and subprocesses use the same catalog)."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else None
    config = config or {}
    config["catalog"] = {"url": catalog_url}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Workspace.init(root)


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


class Cli:
    """Runs `modelyard` in-process against one workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int = 0) -> Any:
        result = self.runner.invoke(
            app, [*args, "--workspace", str(self.root)], catch_exceptions=False
        )
        assert result.exit_code == expect, (result.exit_code, result.output)
        return result

    def json(self, *args: str, expect: int = 0) -> Any:
        result = self(*args, "--json", expect=expect)
        return json.loads(result.stdout)


@pytest.fixture
def cli(workspace: Workspace) -> Cli:
    assert workspace.root is not None
    return Cli(workspace.root)


def _has_local_triton() -> str | None:
    try:
        from modelyard.triton.server import TritonInstallation

        TritonInstallation.find()
    except Exception as exc:  # any reason the bundled server is unusable here
        return str(exc)
    return None


@pytest.fixture(scope="session")
def local_triton_reason() -> str | None:
    return _has_local_triton()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CI installs nvidia-pytriton, so these always run there; elsewhere they say why not.
    if os.environ.get("CI"):
        return
    reason = _has_local_triton()
    if reason:
        skip = pytest.mark.skip(reason=f"no local Triton: {reason}")
        for item in items:
            if "triton" in item.keywords:
                item.add_marker(skip)
