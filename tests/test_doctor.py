"""`modelyard doctor`, and every command on a damaged or missing catalog: a clear error
with what to do, exit code 6, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.store.history import DeploymentLog
from modelyard.triton.server import free_port
from tests.support.catalogs import requires_sqlite
from tests.support.netflix import NETFLIX_MODELS
from tests.support.workspaces import Cli

PAGE = 4096


def _catalog_file(workspace: Workspace) -> Path:
    return Path(workspace.db_url.removeprefix("sqlite:///"))


def _checks(cli: Cli, expect: int) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for check in cli.json("doctor", expect=expect)["checks"]:
        found.setdefault(check["area"], []).append(check)
    return found


def test_a_healthy_workspace_passes(netflix: Workspace, cli: Cli) -> None:
    checks = _checks(cli, expect=0)
    assert {c["status"] for group in checks.values() for c in group} == {"ok"}
    assert "6 model version(s), integrity check passed" in checks["catalog"][0]["detail"]
    assert "5 artifact(s) present" in checks["artifacts"][0]["detail"]
    assert "0 failed" in cli("doctor").stdout


def _damage(path: Path, start: int, length: int | None = None) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(start)
        handle.write(b"\xa5" * ((length or size - start) if start < size else 0))


@requires_sqlite
@pytest.mark.parametrize("damage", ["header", "pages", "emptied", "deleted"])
def test_every_command_on_a_damaged_catalog_says_what_to_do(
    netflix: Workspace, cli: Cli, damage: str
) -> None:
    path = _catalog_file(netflix)
    netflix.close()
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    if damage == "header":
        _damage(path, 0, 100)
    elif damage == "pages":
        _damage(path, PAGE)
    elif damage == "emptied":
        path.write_bytes(b"")
    else:
        path.unlink()
    for command in (
        ["list"],
        ["validate"],
        ["show", "search/query_understanding"],
        ["apply", str(NETFLIX_MODELS)],
        ["plan"],
    ):
        result = cli(*command, expect=6)
        message = result.stderr.strip()
        assert message.startswith("error: ") and "\n" not in message, message
        assert str(path) in message
        assert any(hint in message for hint in ("backup", "modelyard init")), message
    catalog = _checks(cli, expect=6)["catalog"][0]
    assert catalog["status"] == "fail" and catalog["fix"]
    assert not path.exists() or damage != "deleted"  # nothing re-created behind the user's back


def test_a_changed_artifact_and_a_tampered_repository_are_found(
    workspace: Workspace, cli: Cli, tmp_path: Path
) -> None:
    # A copy of the example, so that changing an artifact touches nobody else's files.
    example = tmp_path / "example"
    shutil.copytree(NETFLIX_MODELS, example / "models")
    shutil.copytree(NETFLIX_MODELS.parent / "artifacts", example / "artifacts")
    workspace.apply([example / "models"])
    repository = Path(workspace.target("local").repository)
    workspace.compile(repository, profile="local")
    assert _checks(cli, expect=0)["repository local"][0]["status"] == "ok"

    served = repository.resolve()
    config = served / "search.query_understanding" / "config.pbtxt"
    config.write_text(config.read_text() + "\n# edited by hand\n")
    (served.parent / "000009.partial-abc").mkdir()
    artifact = example / "artifacts" / "content_retrieval.onnx"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    checks = _checks(cli, expect=1)
    repository_checks = {c["status"]: c for c in checks["repository local"]}
    assert "config.pbtxt in" in repository_checks["fail"]["detail"]
    assert "changed after it was written" in repository_checks["fail"]["detail"]
    assert "half-made" in repository_checks["warn"]["detail"]
    [artifacts_check] = checks["artifacts"]
    assert artifacts_check["status"] == "fail"
    assert "search/content_retrieval@2.0" in artifacts_check["detail"]
    assert "changed after registration" in artifacts_check["detail"]


def test_an_interrupted_deployment_and_an_unreachable_server(
    workspace: Workspace, cli: Cli
) -> None:
    assert workspace.root is not None
    port = free_port()
    config = workspace.root / "modelyard.yaml"
    config.write_text(
        config.read_text() + f"targets:\n  edge: {{url: 'http://127.0.0.1:{port}', "
        "repository: edge-repo, profile: local}\n"
    )
    log = DeploymentLog(workspace.store)
    # Its deployer died: never finished.
    log.start("edge", "token:alice", "newest", holder="someone@host:1/abc")
    checks = _checks(cli, expect=1)
    [deployments] = checks["deployments"]
    assert deployments["status"] == "warn" and "never finished" in deployments["detail"]
    assert "by token:alice, deployer someone@host:1/abc)" in deployments["detail"]
    [server] = checks["server edge"]
    assert server["status"] == "fail" and "does not answer" in server["detail"]
    assert "start it" in (server["fix"] or "")


def test_an_unreachable_database_server_is_a_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.app import app

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/catalog"
    for command in (["list"], ["doctor"]):
        result = CliRunner().invoke(app, [*command, "--db", url, "--json"], catch_exceptions=False)
        assert result.exit_code == 6, result.output
        assert "cannot open the catalog database postgresql+psycopg://nobody@127.0.0.1" in (
            result.output
        )
