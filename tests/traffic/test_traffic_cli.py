"""Bad input to the traffic commands: one clear line, the right exit code, nothing changed
(no Triton needed: each is refused before anything is loaded or started)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.store.access import AccessLog
from modelyard.store.experiments import Arm, ExperimentLog
from modelyard.triton.server import free_port
from tests.support.gateway import needs_haproxy
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.workspaces import Cli, init_workspace


@pytest.fixture
def ws(tmp_path: Path, catalog_url: str) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{free_port()}', repository: repo, profile: local}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    workspace.apply([python_model(tmp_path, "echo", v, GOOD_MODEL) for v in ("1.0", "2.0")])
    yield workspace
    workspace.close()


def _refused(ws: Workspace, *args: str, expect: int) -> str:
    assert ws.root is not None
    before = len(AccessLog(ws.store).entries())
    result = Cli(ws.root)(*args, expect=expect)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert len(AccessLog(ws.store).entries()) == before  # nothing changed, nothing audited
    return lines[0]


@pytest.mark.parametrize(
    ("arms", "expect", "message"),
    [
        (["1.0=90", "9.9=10"], 3, r"tools/echo has no version 9.9 \(registered: 1.0, 2.0\)"),
        (["1.0=90", "2.0=20"], 2, "the weights must add up to 100, got 110"),
        (["1.0=100"], 2, "at least two arms"),
        (["1.0:90", "2.0=10"], 2, "expected VERSION=PERCENT"),
    ],
)
def test_bad_arms_change_nothing(ws: Workspace, arms: list[str], expect: int, message: str) -> None:
    args = [a for arm in arms for a in ("--arm", arm)]
    line = _refused(
        ws, "experiment", "start", "tools/echo", *args, "--target", "test", expect=expect
    )
    assert re.search(message, line), line
    assert ExperimentLog(ws.store).history() == []


def test_a_yanked_arm_gets_no_traffic(ws: Workspace) -> None:
    ws.yank("tools/echo@2.0", "crashes on empty input")
    line = _refused(
        ws,
        "experiment",
        "start",
        "tools/echo",
        *("--arm", "1.0=90", "--arm", "2.0=10"),
        *("--target", "test"),
        expect=4,
    )
    assert "tools/echo@2.0 is yanked (crashes on empty input): it gets no traffic" in line
    assert ExperimentLog(ws.store).history() == []
    switch = _refused(ws, "switch", "tools/echo", "--to", "2.0", "--target", "test", expect=4)
    assert "is yanked" in switch


def test_a_second_experiment_on_a_model_is_refused(ws: Workspace) -> None:
    log = ExperimentLog(ws.store)
    first = log.start(
        "tools/echo",
        "test",
        [Arm(version="1.0", weight=90), Arm(version="2.0", weight=10)],
        actor="ann",
    )
    line = _refused(
        ws,
        "experiment",
        "start",
        "tools/echo",
        "--arm",
        "1.0=50",
        "--arm",
        "2.0=50",
        "--target",
        "test",
        expect=4,
    )
    assert f"already has experiment {first.id} running on target 'test' (1.0=90, 2.0=10)" in line
    assert log.history() == [first]


def test_changing_or_stopping_what_does_not_run(ws: Workspace) -> None:
    line = _refused(
        ws, "experiment", "set", "tools/echo", "--arm", "2.0=100", "--target", "test", expect=3
    )
    assert "no experiment runs on tools/echo at target 'test'" in line
    ExperimentLog(ws.store).start(
        "tools/echo",
        "test",
        [Arm(version="1.0", weight=90), Arm(version="2.0", weight=10)],
        actor="ann",
    )
    line = _refused(
        ws, "experiment", "stop", "tools/echo", "--keep", "3.0", "--target", "test", expect=2
    )
    assert "--keep: 3.0 is not an arm of experiment" in line
    line = _refused(
        ws, "experiment", "set", "tools/echo", "--arm", "3.0=100", "--target", "test", expect=2
    )
    assert "3.0 is not an arm of this experiment (arms: 1.0, 2.0)" in line
    # Without a gateway, nothing routes the change: refused before it is recorded.
    line = _refused(
        ws, "experiment", "set", "tools/echo", "--arm", "2.0=100", "--target", "test", expect=3
    )
    assert (
        "no gateway runs for target 'test'; start one with `modelyard gateway start --target test`"
        in line
    )


def test_a_version_in_the_reference_is_refused(ws: Workspace) -> None:
    line = _refused(ws, "switch", "tools/echo@1.0", "--to", "2.0", "--target", "test", expect=2)
    assert "name the model (domain/name)" in line


@pytest.mark.gateway
@needs_haproxy
def test_a_gateway_port_in_use_starts_nothing(ws: Workspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _refused(ws, "gateway", "start", "--port", str(port), "--target", "test", expect=4)
    assert line == (
        f"error: gateway port {port} on 127.0.0.1 is in use (Address already in use); stop "
        "what listens there or choose another with --port; nothing was started"
    )
    assert ws.gateway_status("test").running is False
    assert (
        ws.root is not None
        and not (ws.root / ".modelyard" / "gateway" / "test" / "haproxy.cfg").exists()
    )


def test_grpc_without_the_targets_grpc_url_starts_nothing(ws: Workspace) -> None:
    line = _refused(ws, "gateway", "start", "--grpc-port", "9001", "--target", "test", expect=2)
    assert line == (
        "error: target 'test' has no grpc_url in modelyard.yaml: add Triton's gRPC host:port "
        "(its --grpc-port) to proxy gRPC; nothing was started"
    )
    assert ws.gateway_status("test").running is False


@pytest.mark.gateway
@needs_haproxy
def test_gateway_start_status_stop(ws: Workspace) -> None:
    assert ws.root is not None
    cli = Cli(ws.root)
    port = free_port()
    started = cli.json("gateway", "start", "--port", str(port), "--target", "test")
    try:
        assert started["running"] is True and started["url"] == f"http://127.0.0.1:{port}"
        assert started["in_sync"] is True and started["routes"] == {}
        shown = cli("gateway", "status", "--target", "test").stdout
        assert f"http://127.0.0.1:{port} -> 127.0.0.1:" in shown and "routes as recorded" in shown
        again = _refused(ws, "gateway", "start", "--target", "test", expect=4)
        assert f"a gateway for target 'test' runs already on port {port}" in again
        # Clients that are not routed pass through untouched (here: no Triton behind it).
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /gateway/metrics HTTP/1.0\r\n\r\n")
            assert b"haproxy_process" in b"".join(iter(lambda: conn.recv(65536), b""))
    finally:
        stopped = cli.json("gateway", "stop", "--target", "test")
    assert stopped["running"] is False and stopped["pids"] == []
    line = _refused(ws, "gateway", "stop", "--target", "test", expect=3)
    assert "no gateway runs for target 'test'" in line
    actions = [e.action for e in AccessLog(ws.store).entries(action="gateway")]
    assert actions == ["gateway.stop", "gateway.start"]


@pytest.mark.parametrize(
    ("shadow", "expect", "message"),
    [
        ("9.9=20", 3, r"tools/echo has no version 9.9 \(registered: 1.0, 2.0, 3.0\)"),
        ("3.0=0", 2, r"--shadow '3.0=0': the share of requests copied is a percent, 1 to 100"),
        ("3.0=150", 2, "a percent, 1 to 100"),
        ("2.0=20", 2, r"--shadow '2.0=20': 2.0 is an arm \(1.0, 2.0\)"),
        ("3.0", 2, "expected VERSION=PERCENT, e.g. 3.2=20"),
    ],
)
def test_a_bad_shadow_changes_nothing(
    ws: Workspace, tmp_path: Path, shadow: str, expect: int, message: str
) -> None:
    ws.apply([python_model(tmp_path, "echo", "3.0", GOOD_MODEL)])
    line = _refused(
        ws,
        "experiment",
        "start",
        "tools/echo",
        *("--arm", "1.0=90", "--arm", "2.0=10", "--shadow", shadow, "--target", "test"),
        expect=expect,
    )
    assert re.search(message, line), line
    assert ExperimentLog(ws.store).history() == []


def test_a_yanked_shadow_gets_no_copies(ws: Workspace, tmp_path: Path) -> None:
    ws.apply([python_model(tmp_path, "echo", "3.0", GOOD_MODEL)])
    ws.yank("tools/echo@3.0", "leaks memory")
    args = ("--arm", "1.0=90", "--arm", "2.0=10", "--shadow", "3.0=20", "--target", "test")
    line = _refused(ws, "experiment", "start", "tools/echo", *args, expect=4)
    assert "tools/echo@3.0 is yanked (leaks memory): it gets no traffic" in line
    assert ExperimentLog(ws.store).history() == []


def test_a_bad_shadow_change_changes_nothing(ws: Workspace) -> None:
    record = ExperimentLog(ws.store).start(
        "tools/echo",
        "test",
        [Arm(version="1.0", weight=90), Arm(version="2.0", weight=10)],
        actor="ann",
    )
    base = ("experiment", "set", "tools/echo", "--target", "test")
    line = _refused(ws, *base, expect=2)
    assert "give the new weights (--arm VERSION=PERCENT), a shadow" in line
    line = _refused(ws, *base, "--shadow", "1.0=10", expect=2)
    assert "1.0 is an arm (1.0, 2.0)" in line
    line = _refused(ws, *base, "--shadow", "2.0=10", "--no-shadow", expect=2)
    assert "--shadow and --no-shadow: give one of them" in line
    assert ExperimentLog(ws.store).history() == [record]
