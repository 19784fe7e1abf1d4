"""`modelyard serve` on a port another process holds fails with one line naming the port.

Before, another server on the port answered /v2/health/live for ours, which had died with
"Socket already in use": serve printed "Triton is live" and exited 0.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

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


def test_local_triton_starts_nothing_on_a_port_in_use(tmp_path: object, held_port: int) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    server = LocalTriton(root / "repo", root / "state", metrics_port=held_port)
    with pytest.raises(TritonError, match=f"metrics port {held_port} on 127.0.0.1 is in use"):
        server.start()
    assert server.process is None
