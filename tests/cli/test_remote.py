"""The CLI against a real `modelyard server` process on loopback (MODELYARD_SERVER and
MODELYARD_TOKEN): the README's catalog commands give the same `--json` and exit codes as
the same commands on an equal local workspace; a viewer is refused writes; a wrong token,
an unreachable server and a local-only command each give one line and their code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelyard import Workspace
from modelyard.cli.app import app
from modelyard.triton.server import free_port
from tests.support.api import SEARCH
from tests.support.netflix import NETFLIX, NETFLIX_MODELS
from tests.support.server import Server
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.slow


@dataclass
class Setup:
    local: Path  # the local workspace's folder
    server: Server
    models: Path  # the manifests both apply (artifacts beside them)
    maintainer: str  # of search_experience
    viewer: str


def _workspace(root: Path, closed_port: int, extra: dict[str, Any]) -> Workspace:
    root.mkdir()
    config = yaml.safe_load((NETFLIX / "modelyard.yaml").read_text())
    config["targets"] = {
        "local": {
            "url": f"http://127.0.0.1:{closed_port}",
            "repository": "repo",
            "profile": "local",
        }
    }
    (root / "modelyard.yaml").write_text(yaml.safe_dump({**config, **extra}, sort_keys=False))
    return init_workspace(root, f"sqlite:///{root}/catalog.db")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    shared = tmp_path / "shared"
    shutil.copytree(NETFLIX_MODELS, shared / "models")
    shutil.copytree(NETFLIX / "artifacts", shared / "artifacts")
    closed = free_port()  # both `local` targets: no Triton listens there
    local = _workspace(tmp_path / "local", closed, {})
    remote = _workspace(tmp_path / "remote", closed, {"api": {"artifact_roots": [str(shared)]}})
    # The other team's models are in both catalogs already (a maintainer of search
    # registers only search's): the plans and validations below span both domains.
    for workspace in (local, remote):
        workspace.apply([shared / "models" / "recommendation.yaml"])
    _, maintainer = remote.access.create_token(SEARCH, "maintainer", "ci", actor="test")
    _, viewer = remote.access.create_token(SEARCH, "viewer", "dashboard", actor="test")
    local.close()
    remote.close()
    server = Server(remote, tmp_path / "server.log")
    try:
        yield Setup(tmp_path / "local", server, shared / "models", maintainer, viewer)
    finally:
        server.stop()


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _run(*args: str, env: dict[str, str], workspace: Path | None = None) -> Ran:
    where = ["--workspace", str(workspace)] if workspace is not None else []
    result = CliRunner().invoke(app, [*args, *where], env=env, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def _local(setup: Setup, *args: str) -> Ran:
    return _run(*args, env={"MODELYARD_SERVER": "", "MODELYARD_TOKEN": ""}, workspace=setup.local)


def _remote(setup: Setup, *args: str, token: str | None = None) -> Ran:
    env = {"MODELYARD_SERVER": setup.server.url, "MODELYARD_TOKEN": token or setup.maintainer}
    return _run(*args, env=env)


def _timeless(data: Any) -> Any:
    """`data` with every timestamp (registered_at, updated_at, yanked_at...) blanked: the
    two catalogs registered the same things at different moments."""
    if isinstance(data, dict):
        return {k: "<time>" if k.endswith("_at") and v else _timeless(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_timeless(item) for item in data]
    return data


def test_catalog_commands_give_the_same_results_and_exit_codes(setup: Setup) -> None:
    search = str(setup.models / "search.yaml")
    bad = setup.models.parent / "bad.yaml"
    bad.write_text("name: query_understanding\nversion: one\ndomain: search\n")
    moves = setup.models.parent / "moves.yaml"
    moves.write_text(
        "canary:\n  search/query_understanding: '1.5'\n"
        "staging:\n  search/query_understanding: '1.5'\n"
    )
    stale = setup.models.parent / "stale.yaml"  # the second move is stale: neither is made
    stale.write_text(
        "blue:\n  search/query_understanding: '1.5'\n"
        "canary:\n  search/query_understanding: {version: '1.5', expect: '1.0'}\n"
    )
    commands: list[tuple[int, list[str]]] = [
        (0, ["apply", search, "--dry-run"]),
        (0, ["apply", search]),
        (0, ["apply", search]),  # registered already: unchanged
        (2, ["apply", str(bad)]),
        (0, ["list"]),
        (0, ["list", "--domain", "search", "--all-versions"]),
        (0, ["show", "search/query_understanding"]),
        (0, ["show", "search/content_retrieval@2.0"]),
        (3, ["show", "search/nothing"]),
        (2, ["show", "not-a-reference"]),
        (0, ["deps", "recommendation/recommendation_ranker"]),
        (0, ["deps", "search/content_retrieval"]),
        (0, ["impact", "search/query_understanding"]),
        (0, ["alias", "set", "search/query_understanding", "production", "1.5"]),
        (
            4,
            ["alias", "set", "search/query_understanding", "production", "1.5", "--expect", "none"],
        ),
        (0, ["alias", "set", "--from", str(moves)]),
        (4, ["alias", "set", "--from", str(stale)]),
        (0, ["alias", "list"]),
        (0, ["alias", "list", "search/query_understanding"]),
        (0, ["impact", "search/query_understanding@production"]),
        (4, ["yank", "search/query_understanding@1.5", "--reason", "aliased"]),
        (0, ["yank", "search/content_retrieval@2.0", "--reason", "wrong index"]),
        (0, ["list"]),
        (0, ["unyank", "search/content_retrieval@2.0"]),
        (0, ["deprecate", "search/content_retrieval@2.0", "--reason", "use 3.0"]),
        (0, ["show", "search/content_retrieval"]),
        (0, ["undeprecate", "search/content_retrieval@2.0"]),
        (2, ["yank", "search/content_retrieval", "--reason", "no version"]),
        (0, ["validate"]),
        (1, ["validate", "--strict"]),
        (0, ["validate", "--live"]),  # nothing measured yet: the same findings
        (0, ["plan"]),
        (7, ["plan", "--target", "local"]),  # it reads what the target serves: nothing answers
        (0, ["report"]),
        (0, ["history"]),
        (7, ["status"]),  # the `local` target's Triton does not answer, here or there
    ]
    for expected, args in commands:
        local, remote = _local(setup, *args, "--json"), _remote(setup, *args, "--json")
        assert (local.exit_code, remote.exit_code) == (expected, expected), (args, remote)
        assert _timeless(remote.json()) == _timeless(local.json()), args
    # The text output too, where it holds no time.
    for args in (["list"], ["deps", "search/content_retrieval"], ["validate"], ["plan"]):
        assert _remote(setup, *args).stdout == _local(setup, *args).stdout, args
    # --server is the same as MODELYARD_SERVER.
    env = {"MODELYARD_SERVER": "", "MODELYARD_TOKEN": setup.maintainer}
    by_option = _run("--server", setup.server.url, "list", "--json", env=env)
    assert by_option.exit_code == 0
    assert by_option.json() == _remote(setup, "list", "--json").json()


def test_viewer_wrong_token_unreachable_and_local_only(setup: Setup) -> None:
    search = str(setup.models / "search.yaml")
    as_viewer = _remote(setup, "list", "--json", token=setup.viewer)
    assert as_viewer.exit_code == 0 and len(as_viewer.json()["models"]) == 4
    for args in (
        ["apply", search],
        ["alias", "set", "recommendation/user_embedding", "production", "1.0"],
        ["yank", "recommendation/user_embedding@1.0", "--reason", "x"],
        ["deprecate", "recommendation/user_embedding@1.0", "--reason", "x"],
    ):
        refused = _remote(setup, *args, token=setup.viewer)
        assert refused.exit_code == 9, (args, refused)
        assert "viewer" in refused.stderr and refused.stderr.count("\n") == 1
    # A maintainer of search changes only search's models.
    other_team = _remote(setup, "alias", "set", "recommendation/user_embedding", "prod", "1.0")
    assert other_team.exit_code == 9 and "recommendation_platform" in other_team.stderr

    wrong = _remote(setup, "list", token="myd_wrong")
    assert wrong.exit_code == 9
    assert wrong.stderr == f"error: {setup.server.url}: unknown token (MODELYARD_TOKEN)\n"

    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {"MODELYARD_SERVER": nowhere, "MODELYARD_TOKEN": setup.maintainer}
    unreachable = _run("show", "search/query_understanding", env=env)
    assert unreachable.exit_code == 13 and unreachable.stderr.count("\n") == 1
    assert f"modelyard server {nowhere} cannot be reached" in unreachable.stderr
    as_json = _run("list", "--json", env=env)
    assert as_json.exit_code == 13 and as_json.json()["error"] == "server_unreachable"

    for args, named in (
        (["compile", "--out", str(setup.local / "repo")], "`modelyard compile`"),
        (["serve"], "`modelyard serve`"),
        (["gateway", "start"], "`modelyard gateway start`"),
        (["deploy", "--fleet"], "`modelyard deploy`"),
        (["report", "--html", str(setup.local / "report")], "`modelyard report` with --html DIR"),
        (["plan", "--target", "local", "--script", "x.sh"], "with --script FILE"),
        (["token", "list"], "`modelyard token list`"),
        (["init", str(setup.local / "other")], "`modelyard init`"),
        (["doctor"], "`modelyard doctor`"),
    ):
        refused = _remote(setup, *args)
        assert refused.exit_code == 14, (args, refused)
        assert named in refused.stderr and setup.server.url in refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
    assert not any((setup.local / name).exists() for name in ("repo", "report", "other"))

    both = _remote(setup, "list", "--workspace", str(setup.local))
    assert both.exit_code == 2 and "name two catalogs" in both.stderr
