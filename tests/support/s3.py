"""An S3-compatible server on loopback for tests: moto's `moto_server` (PyPI `moto[server]`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from modelyard.triton.server import free_port
from tests.support.rollout import GOOD_MODEL, python_model

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modelyard-test",
    "AWS_SECRET_ACCESS_KEY": "modelyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_server_binary() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto_server process on a free loopback port; yields its endpoint URL and stops
    it (by pid) afterwards."""
    binary = moto_server_binary()
    assert binary is not None, "moto_server is not installed: pip install 'moto[server]'"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"moto_server exited: {log.read_text()[-2000:]}"
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def s3_workspace_config(endpoint: str, extra: str = "") -> str:
    """modelyard.yaml text naming the test server as the workspace's `s3:` storage."""
    return f"s3: {{endpoint_url: '{endpoint}', region: us-east-1}}\n{extra}"


def s3_manifest(tmp_path: Path, name: str, artifact: str, version: str = "1.0") -> Path:
    """A python-backend manifest whose artifact is `artifact` (an s3:// URL)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    manifest = python_model(tmp_path, name, version, GOOD_MODEL)
    manifest.write_text(manifest.read_text().replace("artifact: model.py", f"artifact: {artifact}"))
    return manifest
