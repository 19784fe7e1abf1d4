"""Faults during a rollout: the Triton server killed half-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelyard import Conflict, RolloutFailed, Workspace
from modelyard.store.history import DeploymentLog
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.netflix import NETFLIX_MODELS
from tests.support.rollout import FAST, GOOD_MODEL, python_model, ready_models
from tests.support.workspaces import init_workspace

# Kills and lease expiries race deadlines of a few seconds: run alone.
pytestmark = [pytest.mark.triton, pytest.mark.timing]

SLOW_MODEL = GOOD_MODEL.replace(
    'self.version = float(args["model_version"])', "import time; time.sleep(6); self.version = 1.0"
)


@pytest.fixture
def server_and_workspace(
    tmp_path: Path, catalog_url: str
) -> Iterator[tuple[Workspace, LocalTriton]]:
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    workspace.apply([NETFLIX_MODELS])
    server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
    server.start().close()
    try:
        yield workspace, server
    finally:
        server.stop()
        workspace.close()


def test_server_killed_mid_rollout_then_the_next_deploy_converges(
    server_and_workspace: tuple[Workspace, LocalTriton], tmp_path: Path
) -> None:
    workspace, server = server_and_workspace
    slow = python_model(tmp_path, "slowpoke", "1.0", SLOW_MODEL)
    after = python_model(
        tmp_path, "after", "1.0", GOOD_MODEL, dependencies="dependencies: ['tools/slowpoke>=1.0']"
    )
    workspace.apply([slow, after])
    failures: list[RolloutFailed] = []

    def deploy() -> None:
        try:
            workspace.deploy("test", options=FAST)
        except RolloutFailed as error:
            failures.append(error)

    deployer = threading.Thread(target=deploy)
    deployer.start()
    # Kill the server (SIGKILL, no goodbye) once the rollout is under way: some models are
    # READY and the slow one is still loading.
    with TritonClient(server.url) as watcher:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ready_models(watcher):
            time.sleep(0.1)
        assert ready_models(watcher), "the rollout never got under way"
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
    deployer.join(timeout=120)
    assert not deployer.is_alive()

    [failure] = failures
    assert "unreachable" in failure.message
    assert "run `modelyard deploy` again" in failure.message
    record = workspace.history("test")[0]
    assert record.outcome == "rollback_failed"
    statuses = {action["model"]: action["status"] for action in record.actions}
    assert "done" in statuses.values()  # the models it had reached are on record
    assert statuses["tools.after"] == "skipped"  # it waited for slowpoke, which never came

    # The server comes back (empty, as explicit mode starts); the next deploy converges.
    restarted = LocalTriton(server.repository, server.state_dir, http_port=server.http_port)
    client = restarted.start()
    try:
        result = workspace.deploy("test", options=FAST)
        assert result.ok
        assert set(ready_models(client)) >= {
            "tools.slowpoke",
            "tools.after",
            "search.query_understanding",
        }
        assert {a.action for a in workspace.rollout_plan("test").actions} == {"keep"}
    finally:
        client.close()
        restarted.stop()


DEPLOY_IN_A_PROCESS = """
import sys
from modelyard import Workspace
from modelyard.deploy.runner import DeployOptions
Workspace.open(sys.argv[1]).deploy("test", options=DeployOptions(
    lease_ttl_s=float(sys.argv[2]), load_timeout_s=60, ready_timeout_s=30))
"""


def test_a_killed_deployer_keeps_nobody_out_for_long(
    server_and_workspace: tuple[Workspace, LocalTriton], tmp_path: Path
) -> None:
    workspace, server = server_and_workspace
    assert workspace.root is not None
    lease_ttl_s = 3.0
    workspace.apply(
        [
            python_model(
                tmp_path, "slowpoke", "1.0", SLOW_MODEL.replace("time.sleep(6)", "time.sleep(20)")
            )
        ]
    )
    deployer = subprocess.Popen(
        [sys.executable, "-c", DEPLOY_IN_A_PROCESS, str(workspace.root), str(lease_ttl_s)]
    )
    log = DeploymentLog(workspace.store)
    try:
        deadline = time.monotonic() + 60
        with TritonClient(server.url) as watcher:
            # Under way: the quick models answer, the slow one (20 s) is still loading.
            while time.monotonic() < deadline and not ready_models(watcher):
                assert deployer.poll() is None, "the deployer ended before the slow load"
                time.sleep(0.1)
            assert "tools.slowpoke" not in ready_models(watcher)
        # A load outlasting the lease's time to live: the live deployer keeps its lease.
        time.sleep(lease_ttl_s * 1.5)
        assert deployer.poll() is None
        [lease] = [lease for lease in log.leases() if lease.target == "test"]
        assert lease.expires_at > datetime.now(UTC)
        with pytest.raises(Conflict, match="is being deployed by"):
            workspace.deploy("test", options=FAST)
    finally:
        deployer.send_signal(signal.SIGKILL)
        deployer.wait()

    # Killed: nobody renews its lease, so it expires and the next deploy converges.
    time.sleep(lease_ttl_s + 0.5)
    assert workspace.deploy("test", options=FAST).ok
    assert {a.action for a in workspace.rollout_plan("test").actions} == {"keep"}
    killed = workspace.history("test")[1]
    assert killed.outcome == "running"  # it never finished; doctor says so
    from modelyard.ops.doctor import diagnose

    interrupted = [c for c in diagnose(workspace.root).checks if c.area == "deployments"]
    assert any(
        f"deployment {killed.id} to test" in c.detail and c.status == "warn" for c in interrupted
    )
