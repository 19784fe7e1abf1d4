"""Regions whose targets do not answer (nothing listens on port 9): the deploy stops at
the first, with its exit code and the rest named; status names each unreadable target."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelyard import Workspace
from modelyard.errors import RegionDeployFailed, TritonError
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.workspaces import Cli, init_workspace

CONFIG = """\
targets:
  down-1: {url: 'http://127.0.0.1:9', repository: repo-1, profile: local}
  down-2: {url: 'http://127.0.0.1:9', repository: repo-2, profile: local}
  down-3: {url: 'http://127.0.0.1:9', repository: repo-3, profile: local}
regions: {eu: [down-1, down-2], us: [down-3]}
"""


@pytest.fixture
def cli(tmp_path: Path, catalog_url: str) -> Cli:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(CONFIG)
    init_workspace(root, catalog_url).close()
    cli = Cli(root)
    cli("apply", str(python_model(tmp_path, "echo", "1.0", GOOD_MODEL)))
    return cli


def test_a_region_deploy_stops_at_its_first_failing_target(cli: Cli) -> None:
    failed = cli.json("deploy", "--region", "eu", "--yes", expect=TritonError.exit_code)
    assert failed["error"] == "region_deploy_failed"
    message = failed["message"]
    assert message.startswith("region 'eu': deploying to target 'down-1' (1 of 2) failed: ")
    assert "Triton at http://127.0.0.1:9 is unreachable" in message
    assert message.endswith("; deployed before it: none; not started: down-2")
    assert failed["region"] == {
        "ok": False,
        "region": "eu",
        "targets": ["down-1", "down-2"],
        "deployments": {},
    }
    history = cli.json("history")["deployments"]
    assert {d["target"] for d in history} <= {"down-1"}
    assert not (cli.root / "repo-2").exists()


def test_the_library_raises_the_region_error_with_its_cause(cli: Cli) -> None:
    workspace = Workspace.open(cli.root)
    try:
        with pytest.raises(RegionDeployFailed) as raised:
            workspace.deploy_region("us")
    finally:
        workspace.close()
    assert isinstance(raised.value.cause, TritonError)
    assert raised.value.exit_code == raised.value.cause.exit_code


def test_status_names_every_unreadable_target(cli: Cli) -> None:
    status = cli.json("status", "--all-regions", expect=1)
    assert not status["in_sync"] and status["differences"] == []
    drift = {r["region"]: r["drift"] for r in status["regions"]}
    assert list(drift) == ["eu", "us"]
    assert [line.split(":")[0] for line in drift["eu"]] == ["down-1", "down-2"]
    assert all(": cannot be read: " in line for lines in drift.values() for line in lines)


def test_bad_region_flags_are_refused(cli: Cli, tmp_path: Path) -> None:
    missing = cli.json("deploy", "--region", "ap", "--yes", expect=3)
    assert missing["message"].startswith("no region 'ap' in modelyard.yaml (regions: eu, us)")
    both = cli("deploy", "--region", "eu", "--target", "down-1", expect=2)
    assert "give no --target or --fleet" in both.output
    assert "give no --target" in cli("status", "--all-regions", "--target", "x", expect=2).output
    config = cli.root / "modelyard.yaml"
    written = yaml.safe_load(config.read_text())
    del written["regions"]
    config.write_text(yaml.safe_dump(written))
    none = cli.json("status", "--all-regions", expect=2)
    assert none["message"].startswith("modelyard.yaml declares no regions; add `regions:`")
