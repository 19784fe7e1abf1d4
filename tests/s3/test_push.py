"""`modelyard push` against a real S3-compatible server (moto_server, then s3rver):
content-addressed uploads whose URLs register as artifacts, idempotent, and bad input
refused before anything is uploaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelyard.catalog.manifest import artifact_digest
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.workspaces import Cli, init_workspace

pytestmark = pytest.mark.slow


def test_push_uploads_by_digest_and_the_url_registers(
    ws_root: Path, catalog_url: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    init_workspace(ws_root, catalog_url).close()
    cli = Cli(ws_root)
    manifest = python_model(tmp_path, "echo", "1.0", GOOD_MODEL)
    model = tmp_path / "echo-1.0" / "model.py"
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"\x00\x01")
    (folder / "b.txt").write_text("b")
    before = manifest.read_text()
    pushed = cli.json("push", str(model), str(folder), "--to", f"s3://{bucket}/store")
    digest = artifact_digest(model)
    first, second = pushed["artifacts"]
    assert first["url"] == f"s3://{bucket}/store/sha256/{digest}/model.py"
    assert first["uploaded"] == 1
    assert second["url"] == f"s3://{bucket}/store/sha256/{artifact_digest(folder)}/weights/"
    assert (second["objects"], second["uploaded"]) == (2, 2)
    body = s3.get_object(Bucket=bucket, Key=f"store/sha256/{digest}/model.py")["Body"].read()
    assert body == model.read_bytes()
    assert manifest.read_text() == before  # nothing the user wrote is rewritten
    again = cli.json("push", str(model), "--to", f"s3://{bucket}/store")
    assert again["artifacts"][0]["uploaded"] == 0
    manifest.write_text(before.replace("artifact: model.py", f"artifact: {first['url']}"))
    cli("apply", str(manifest))
    shown = cli.json("show", "tools/echo@1.0")
    assert shown["spec"]["artifact_sha256"] == digest


def test_push_refuses_bad_input_with_one_line_and_uploads_nothing(
    ws_root: Path, catalog_url: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    init_workspace(ws_root, catalog_url).close()
    cli = Cli(ws_root)
    model = tmp_path / "model.py"
    model.write_text(GOOD_MODEL)
    refused = cli(
        "push", str(model), str(tmp_path / "absent"), "--to", f"s3://{bucket}/x", expect=2
    )
    assert "no file or folder there; nothing was uploaded" in refused.output
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    refused = cli("push", str(model), "--to", "s3://Not_A_Bucket/x", expect=2)
    assert "is not one Triton and S3 accept" in refused.output
    refused = cli("push", str(model), "--to", "s3://no-such-bucket-there/x", expect=12)
    assert "no bucket 'no-such-bucket-there'" in refused.output
