"""A real `modelyard server` killed mid-job: after a restart the job shows `interrupted`
(not running forever) and the finished job before it is still listed."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard import Workspace
from tests.support.api import REC, bearer
from tests.support.server import Server

pytestmark = [pytest.mark.slow, pytest.mark.every_backend]


def test_a_restart_mid_job_shows_it_interrupted(
    api_ws: Workspace, tokens: Any, tmp_path: Path
) -> None:
    # A "Triton" that accepts connections and never answers: the job stays running.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    assert api_ws.root is not None
    config = api_ws.root / "modelyard.yaml"
    port = silent.getsockname()[1]
    config.write_text(
        config.read_text()
        + f"  silent: {{url: 'http://127.0.0.1:{port}', repository: repo-silent, profile: local}}\n"
    )
    headers = bearer(tokens[("admin", REC)])
    first = Server(api_ws, tmp_path / "first.log")
    try:
        with httpx.Client(base_url=first.url, timeout=30, headers=headers) as client:
            done = client.post("/api/v1/jobs", json={"target": "local", "load_timeout_s": 5})
            assert done.status_code == 202, done.text
            end = time.monotonic() + 60
            while client.get(f"/api/v1/jobs/{done.json()['id']}").json()["state"] == "running":
                assert time.monotonic() < end
                time.sleep(0.1)
            hanging = client.post("/api/v1/jobs", json={"target": "silent"})
            assert hanging.status_code == 202, hanging.text
            assert client.get(f"/api/v1/jobs/{hanging.json()['id']}").json()["state"] == "running"
    finally:
        # Killed, not stopped: nothing gets to mark the job.
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    second = Server(api_ws, tmp_path / "second.log")
    try:
        with httpx.Client(base_url=second.url, timeout=30, headers=headers) as client:
            job = client.get(f"/api/v1/jobs/{hanging.json()['id']}").json()
            assert job["state"] == "interrupted" and job["finished_at"] is not None
            assert "stopped before it finished" in job["error"]["message"]
            listed = {j["id"]: j["state"] for j in client.get("/api/v1/jobs").json()["jobs"]}
            assert listed == {hanging.json()["id"]: "interrupted", done.json()["id"]: "failed"}
    finally:
        second.stop()
        silent.close()
