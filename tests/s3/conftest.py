from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.s3 import CREDENTIALS, moto_server, moto_server_binary, s3_workspace_config

try:
    import boto3
except ImportError:  # pragma: no cover - the test extra installs it
    boto3 = None

if boto3 is None or moto_server_binary() is None:  # pragma: no cover
    # Without moto[server] (and boto3) these tests cannot run; the rest of the suite can.
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto_server for the session; each test uses buckets of its own."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return CREDENTIALS


@pytest.fixture
def s3(s3_endpoint: str, s3_env: dict[str, str]) -> Any:
    """A boto3 client of the test server (the test's own view, behind modelyard's back)."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = "t-" + request.node.name.lower().replace("_", "-")[:50].strip("-")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def ws_root(tmp_path: Path, s3_endpoint: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint))
    return root
