"""Gateway helpers: a workspace with a local Triton and an echo model in two versions,
clients that send many requests through the gateway (concurrently, over keep-alive) and
record which arm answered each."""

from __future__ import annotations

import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from modelyard import Workspace
from modelyard.ops import traffic
from modelyard.traffic import haproxy
from modelyard.traffic.nginx import ShadowProxy
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import FAST, GOOD_MODEL, python_model
from tests.support.workspaces import init_workspace

# CI installs Debian's haproxy (make system-test); elsewhere these tests say why they skip.
needs_haproxy = pytest.mark.skipif(
    shutil.which("haproxy") is None and not os.environ.get("CI"),
    reason="no haproxy: apt-get install haproxy",
)
# Shadow copies go through Debian's nginx (make system-test installs nginx-light).
needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None
    and not Path("/usr/sbin/nginx").exists()
    and not os.environ.get("CI"),
    reason="no nginx: apt-get install nginx-light",
)

BODY = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1], "data": [0.0]}]}
MODEL = "tools.echo"
INFER = f"/v2/models/{MODEL}/infer"


@dataclass
class GatewayBed:
    """A workspace, its target `test` on a local Triton, and the gateway in front."""

    workspace: Workspace
    root: Path
    triton_url: str
    gateway_url: str = ""
    grpc: bool = False  # the gateway's gRPC frontend too
    grpc_url: str = ""  # the gateway's (host:port)

    def start_gateway(self) -> str:
        status = self.workspace.start_gateway(
            "test", port=free_port(), grpc_port=free_port() if self.grpc else None
        )
        assert status.running and status.url
        self.gateway_url = status.url
        self.grpc_url = status.grpc_url or ""
        return status.url


@contextmanager
def gateway_bed(
    tmp_path: Path,
    catalog_url: str,
    versions: tuple[str, ...] = ("1.0", "2.0"),
    *,
    grpc: bool = False,
) -> Iterator[GatewayBed]:
    """Echo versions registered (each answers its Triton version), the newest deployed,
    and a running gateway (with `grpc`, its gRPC frontend too); everything stopped
    afterwards."""
    root = tmp_path / "ws"
    root.mkdir()
    port, grpc_port = free_port(), free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local, "
        f"grpc_url: '127.0.0.1:{grpc_port}'}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    server = LocalTriton(
        root / "repo", root / ".modelyard" / "triton", http_port=port, grpc_port=grpc_port
    )
    client = server.start()
    bed = GatewayBed(workspace, root, server.url, grpc=grpc)
    try:
        if versions:  # none: the test registers and deploys its own models
            workspace.apply([python_model(tmp_path, "echo", v, GOOD_MODEL) for v in versions])
            workspace.deploy("test", options=FAST)
        bed.start_gateway()
        yield bed
    finally:
        files = traffic.gateway_files(workspace.context(), "test")
        haproxy.stop(files, files.pids())
        ShadowProxy(files.folder).stop()
        client.close()
        server.stop()
        workspace.close()


def served_count(triton_url: str, model: str, triton_version: int) -> int:
    """How many inference requests one version of a model answered, by Triton's own
    statistics (the smoke inferences included)."""
    response = httpx.get(f"{triton_url}/v2/models/{model}/versions/{triton_version}/stats")
    response.raise_for_status()
    return int(response.json()["model_stats"][0]["inference_stats"]["success"]["count"])


@dataclass
class Answers:
    """What the clients saw: the arm of each answer, per user, and every failure."""

    arms: Counter[str] = field(default_factory=Counter)
    by_user: dict[str, set[str]] = field(default_factory=dict)
    values: Counter[float] = field(default_factory=Counter)
    request_ids: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def share(self, arm: str) -> float:
        return self.arms[arm] / sum(self.arms.values())

    def record(self, user: str | None, response: httpx.Response) -> None:
        arm = response.headers.get("x-modelyard-arm", "-")
        value = float(response.json()["outputs"][0]["data"][0])
        with self.lock:
            self.arms[arm] += 1
            self.values[value] += 1
            self.request_ids.add(response.headers["x-request-id"])
            if user is not None:
                self.by_user.setdefault(user, set()).add(arm)


def client(url: str, connections: int = 8) -> httpx.Client:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.Client(base_url=url, limits=limits, timeout=60)


def _ask(
    http: httpx.Client,
    answers: Answers,
    user: str | None,
    header: str = "x-user-id",
    model: str = MODEL,
) -> None:
    headers = {header: user} if user else {}
    try:
        response = http.post(f"/v2/models/{model}/infer", json=BODY, headers=headers)
        response.raise_for_status()
        answers.record(user, response)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        with answers.lock:
            answers.failures.append(repr(exc))


def send(
    url: str,
    requests: int,
    users: int | None = None,
    concurrency: int = 8,
    header: str = "x-user-id",
    model: str = MODEL,
) -> Answers:
    """`requests` requests to `model` through the gateway, round-robin over `users` user
    ids (sent in `header`)."""
    answers = Answers()
    with client(url, concurrency) as http, ThreadPoolExecutor(concurrency) as pool:
        for i in range(requests):
            pool.submit(_ask, http, answers, f"user-{i % users}" if users else None, header, model)
    return answers


class Loop:
    """Clients that keep asking while something changes; `answers` has what they saw."""

    def __init__(self, url: str, threads: int = 4, model: str = MODEL) -> None:
        self.answers = Answers()
        self._model = model
        self._stop = threading.Event()
        self._http = client(url, threads)
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            _ask(self._http, self.answers, None, model=self._model)

    def __enter__(self) -> Loop:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._http.close()

    def total(self) -> int:
        with self.answers.lock:
            return sum(self.answers.arms.values()) + len(self.answers.failures)
