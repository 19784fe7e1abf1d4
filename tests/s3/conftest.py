"""The S3 tests run against each S3-compatible implementation: moto's `moto_server` and
`s3rver` (npm; scripts/s3rver.sh installs it). One server of each for the session; each
test uses buckets of its own. An implementation that is not installed skips its half,
saying how to install it; on CI (CI set) it fails instead."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard import Workspace
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.s3 import (
    CREDENTIALS,
    S3RVER_CREDENTIALS,
    S3Server,
    moto_server,
    moto_server_binary,
    s3_workspace_config,
    s3rver,
    s3rver_binary,
)
from tests.support.workspaces import init_workspace

try:
    import boto3
except ImportError:  # pragma: no cover - the test extra installs it
    boto3 = None

if boto3 is None:  # pragma: no cover
    # Without boto3 these tests cannot run; the rest of the suite can.
    collect_ignore_glob = ["test_*.py"]

# Scenarios whose S3 side the other tests already cover on both implementations (a Triton
# reading, publishing and upgrading an s3:// repository on each): marked `s3_one_server`,
# they run on moto only, which keeps CI's longest part from growing by a minute and more.
ONE_SERVER = "moto"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        implementation = callspec.params.get("s3_server") if callspec else None
        if (
            implementation not in (None, ONE_SERVER)
            and item.get_closest_marker("s3_one_server") is not None
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


MISSING = {
    "moto": (moto_server_binary, "moto_server is not installed: pip install 'moto[server]'"),
    "s3rver": (s3rver_binary, "s3rver is not installed: run scripts/s3rver.sh install (npm)"),
}


@pytest.fixture(scope="session", params=sorted(MISSING))
def s3_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """One server of each implementation for the session."""
    implementation: str = request.param
    find, reason = MISSING[implementation]
    if find() is None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp(implementation)
    if implementation == "moto":
        with moto_server(folder / "moto.log") as url:
            yield S3Server(implementation, url, CREDENTIALS)
    else:
        with s3rver(folder / "s3rver.log", folder / "data") as url:
            yield S3Server(implementation, url, S3RVER_CREDENTIALS)


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: S3Server) -> str:
    return s3_server.url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> dict[str, str]:
    for key, value in s3_server.credentials.items():
        monkeypatch.setenv(key, value)
    return dict(s3_server.credentials)


@pytest.fixture
def s3(s3_endpoint: str, s3_env: dict[str, str]) -> Any:
    """A boto3 client of the test server (the test's own view, behind modelyard's back)."""
    # A session of its own: boto3's default one keeps the first credentials it found,
    # another implementation's.
    return boto3.session.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    # The test's name, and a digest of its id with its parameters (bucket names are at most
    # 63 of [a-z0-9.-]), so that each case of a parametrized test has a bucket of its own.
    readable = re.sub(r"[^a-z0-9-]", "-", request.node.originalname.lower())[:40].strip("-")
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    name = f"t-{readable}-{digest}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def ws_root(tmp_path: Path, s3_endpoint: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint))
    return root


@pytest.fixture
def on_s3(
    tmp_path: Path, catalog_url: str, s3_endpoint: str, s3_env: dict[str, str], s3: Any, bucket: str
) -> Iterator[tuple[Workspace, TritonClient, str]]:
    """A workspace whose target `s3t` is a local Triton reading s3://bucket/repo."""
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    target = (
        f"targets:\n  s3t: {{kind: triton-s3, url: 'http://127.0.0.1:{port}', "
        f"repository: 's3://{bucket}/repo', profile: local}}\n"
    )
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint, target))
    workspace = init_workspace(root, catalog_url)
    # Triton refuses to start on a prefix holding nothing; a file at the root is no model.
    s3.put_object(Bucket=bucket, Key="repo/README", Body=b"published by modelyard\n")
    host = s3_endpoint.removeprefix("http://")
    server = LocalTriton(
        f"s3://{host}/{bucket}/repo", root / ".modelyard" / "triton", http_port=port, env=s3_env
    )
    client = server.start()
    try:
        yield workspace, client, bucket
    finally:
        client.close()
        server.stop()
        workspace.close()
