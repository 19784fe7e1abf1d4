"""S3-compatible servers on loopback for tests: moto's `moto_server` (PyPI `moto[server]`)
and `s3rver` (npm, installed by scripts/s3rver.sh), the same tests run against each."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from modelyard.triton.server import free_port
from tests.support.rollout import GOOD_MODEL, python_model

ROOT = Path(__file__).resolve().parents[2]

# moto accepts any key pair; these name the tests' own.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modelyard-test",
    "AWS_SECRET_ACCESS_KEY": "modelyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# s3rver knows one account only, and refuses every other key (InvalidAccessKeyId).
S3RVER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "S3RVER",
    "AWS_SECRET_ACCESS_KEY": "S3RVER",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server: which implementation, where, and the credentials
    it accepts."""

    implementation: str
    url: str
    credentials: dict[str, str] = field(default_factory=dict)


def moto_server_binary() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


def s3rver_binary() -> str | None:
    """s3rver's command: $MODELYARD_S3RVER, else what scripts/s3rver.sh installed."""
    named = os.environ.get("MODELYARD_S3RVER")
    installed = ROOT / ".s3rver" / "node_modules" / ".bin" / "s3rver"
    for candidate in (named, str(installed)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto_server process on a free loopback port; yields its endpoint URL and stops
    it (by pid) afterwards."""
    binary = moto_server_binary()
    assert binary is not None, "moto_server is not installed: pip install 'moto[server]'"
    port = free_port()
    with _serving([binary, "-H", "127.0.0.1", "-p", str(port)], port, log, CREDENTIALS) as url:
        yield url


@contextmanager
def s3rver(log: Path, data: Path) -> Iterator[str]:
    """An s3rver process on a free loopback port keeping its objects in `data`; yields
    its endpoint URL and stops it (by pid) afterwards."""
    binary = s3rver_binary()
    assert binary is not None, "s3rver is not installed: scripts/s3rver.sh install"
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    command = [binary, "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--silent"]
    with _serving(command, port, log, S3RVER_CREDENTIALS) as url:
        yield url


@contextmanager
def _serving(command: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"{command[0]} exited: {log.read_text()[-2000:]}"
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
