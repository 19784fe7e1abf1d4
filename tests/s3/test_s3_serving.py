"""An `s3://` artifact registers, compiles and serves on the real local Triton; the
object changed in the bucket blocks the next deploy while the model keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard import Workspace
from modelyard.errors import ModelyardError
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import FAST, GOOD_MODEL, python_model, ready_models
from tests.support.s3 import s3_manifest, s3_workspace_config
from tests.support.workspaces import init_workspace

pytestmark = [pytest.mark.triton, pytest.mark.slow]


@pytest.fixture
def served(
    tmp_path: Path, catalog_url: str, s3_endpoint: str, s3_env: dict[str, str]
) -> Iterator[tuple[Workspace, TritonClient]]:
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    target = (
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
    )
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint, target))
    workspace = init_workspace(root, catalog_url)
    server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
    client = server.start()
    try:
        yield workspace, client
    finally:
        client.close()
        server.stop()
        workspace.close()


def test_an_s3_artifact_serves_and_a_changed_object_is_refused(
    served: tuple[Workspace, TritonClient], s3: Any, bucket: str, tmp_path: Path
) -> None:
    workspace, client = served
    s3.put_object(Bucket=bucket, Key="echo/model.py", Body=GOOD_MODEL.encode())
    workspace.apply([s3_manifest(tmp_path, "echo", f"s3://{bucket}/echo/model.py")])
    workspace.deploy("test", options=FAST)
    answer = client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})
    assert answer["Y"] == [1.0]
    s3.put_object(Bucket=bucket, Key="echo/model.py", Body=(GOOD_MODEL + "# edited\n").encode())
    with pytest.raises(ModelyardError, match="changed after registration: it now has SHA-256"):
        workspace.deploy("test", options=FAST)
    assert ready_models(client)["tools.echo"] == [1]
    assert client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"] == [1.0]
    # A new version pins the new bytes and deploys.
    workspace.apply([s3_manifest(tmp_path / "v2", "echo", f"s3://{bucket}/echo/model.py", "2.0")])
    workspace.deploy("test", options=FAST)
    assert client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"] == [2.0]


def test_local_triton_reads_a_repository_on_s3(
    tmp_path: Path, catalog_url: str, s3_endpoint: str, s3_env: dict[str, str], s3: Any, bucket: str
) -> None:
    """The seam a `triton-s3` target needs: LocalTriton on `s3://HOST:PORT/bucket/path`.
    The repository is compiled here and copied up by the test itself (not a publish)."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint))
    workspace = init_workspace(root, catalog_url)
    try:
        workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
        compiled = workspace.compile(root / "repo", profile="local")
    finally:
        workspace.close()
    generation = Path(str(compiled.generation))
    for file in sorted(p for p in generation.rglob("*") if p.is_file()):
        key = f"repo/{file.relative_to(generation).as_posix()}"
        s3.put_object(Bucket=bucket, Key=key, Body=file.read_bytes())
    host = s3_endpoint.removeprefix("http://")
    server = LocalTriton(f"s3://{host}/{bucket}/repo", tmp_path / "triton", env=dict(s3_env))
    client = server.start()
    try:
        client.load("tools.echo")
        assert client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"] == [1.0]
    finally:
        client.close()
        server.stop()
