"""Shared fixtures: real SQLite catalogs in tmp_path, the Netflix example, a CLI runner."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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


@pytest.fixture(scope="session")
def _migrated_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per run; tests get copies (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "catalog.db"
    store = CatalogStore.open(f"sqlite:///{path}", create=True)
    store.dispose()
    return path


@pytest.fixture
def store(_migrated_catalog: Path, tmp_path: Path) -> Iterator[CatalogStore]:
    """An empty, migrated catalog in a real SQLite file of this test's own."""
    path = tmp_path / "catalog.db"
    shutil.copyfile(_migrated_catalog, path)
    opened = CatalogStore.open(f"sqlite:///{path}")
    yield opened
    opened.dispose()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace holding the Netflix example's modelyard.yaml (with its fleet)."""
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copyfile(NETFLIX / "modelyard.yaml", root / "modelyard.yaml")
    created = Workspace.init(root)
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
        result = self.runner.invoke(app, [*args, "--workspace", str(self.root)],
                                    catch_exceptions=False)
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
