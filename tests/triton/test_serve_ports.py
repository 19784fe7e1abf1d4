"""`modelyard serve` on a port another process holds fails with one line naming the port.

Before, another server on the port answered /v2/health/live for ours, which had died with
"Socket already in use": serve printed "Triton is live" and exited 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.deploy.runner import DeployOptions
from modelyard.errors import TritonError
from modelyard.triton.server import LocalTriton, free_port
from tests.support.workspaces import Cli

pytestmark = pytest.mark.triton


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_serve_refuses_a_port_in_use(cli: Cli, held_port: int) -> None:
    result = cli(
        "serve",
        "--port",
        str(held_port),
        "--grpc-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--no-load",
        expect=7,
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"HTTP port {held_port}" in lines[0] and "in use" in lines[0]
    assert "live" not in result.stdout


def test_local_triton_starts_nothing_on_a_port_in_use(tmp_path: Path, held_port: int) -> None:
    root = tmp_path
    server = LocalTriton(root / "repo", root / "state", metrics_port=held_port)
    with pytest.raises(TritonError, match=f"metrics port {held_port} on 127.0.0.1 is in use"):
        server.start()
    assert server.process is None


def _tritonserver_listening_on(port: int) -> int:
    """The pid of the tritonserver whose command line names `--http-port=<port>`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tritonserver") and f"--http-port={port}".encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no tritonserver on port {port}")


@pytest.mark.slow
def test_serve_exits_non_zero_when_its_triton_is_killed(cli: Cli) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "serve",
        "--port",
        str(port),
        "--grpc-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--no-load",
        "--workspace",
        str(cli.root),
    ]
    serving = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert serving.stdout is not None
        # Killed only once serve itself has said it is serving.
        assert b"Triton is live" in serving.stdout.readline()
        os.kill(_tritonserver_listening_on(port), signal.SIGKILL)
        _, stderr = serving.communicate(timeout=60)
    finally:
        if serving.poll() is None:
            serving.kill()
            serving.wait()
    assert serving.returncode == 7
    assert "tritonserver exited with code -9 while serving" in stderr.decode()


def test_deploy_status_and_perf_reach_the_port_serve_was_given(netflix: Workspace) -> None:
    """`serve --port P`, then the undeclared `local` target is that server, not port 8000."""
    port = free_port()
    serving = netflix.serve_locally(http_port=port, load=False)
    try:
        reopened = Workspace.open(netflix.root)
        try:
            local = reopened.target("local")
        finally:
            reopened.close()  # on PostgreSQL an unclosed catalog is a ResourceWarning
        assert local.url == f"http://127.0.0.1:{port}"
        assert local.metrics_url == f"http://127.0.0.1:{serving.server.metrics_port}/metrics"
        # Started with 8 load threads (enough for a deploy at --concurrency 8), and the
        # local target says so, so that plan's estimate counts them.
        assert serving.server.load_threads == 8 and local.load_threads == 8
        assert serving.server.process is not None
        assert "--model-load-thread-count=8" in serving.server.process.args
        deployed = netflix.deploy(options=DeployOptions(load_timeout_s=120, ready_timeout_s=60))
        assert deployed.ok and len(deployed.models) == 6
        assert netflix.status().in_sync
    finally:
        serving.stop()


def test_serve_takes_its_ports_from_a_declared_local_target(netflix: Workspace) -> None:
    assert netflix.root is not None
    port, metrics = free_port(), free_port()
    config = netflix.root / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + f"""
targets:
  local:
    url: http://127.0.0.1:{port}
    metrics_url: http://127.0.0.1:{metrics}/metrics
    repository: .modelyard/triton/repository
    profile: local
"""
    )
    declared = Workspace.open(netflix.root)
    serving = declared.serve_locally(http_port=None, metrics_port=None, load=False)
    try:
        assert (serving.server.http_port, serving.server.metrics_port) == (port, metrics)
        assert declared.status().url == f"http://127.0.0.1:{port}"
    finally:
        serving.stop()
        declared.close()
