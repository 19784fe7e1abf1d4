"""A real `modelyard server` process for tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from modelyard import Workspace
from modelyard.triton.server import free_port


class Server:
    """`modelyard server` on a free loopback port; its log goes to a file (a pipe nobody
    reads would fill and stop the server)."""

    def __init__(
        self, workspace: Workspace, log: Path, *options: str, port: int | None = None
    ) -> None:
        # `port`: a restarted server where the browser and clients still look for it.
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [
            sys.executable,
            "-m",
            "modelyard.cli",
            "server",
            "--port",
            str(self.port),
            "--workspace",
            str(workspace.root),
            "--db",
            workspace.db_url,
            *options,
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, log.read_text()
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()
