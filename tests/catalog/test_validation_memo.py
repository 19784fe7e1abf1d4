"""A process validating the same catalog again reuses its report, and validates afresh
after any change: a version, a status, an alias, modelyard.yaml, or an artifact's file."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from modelyard import Workspace
from tests.support.netflix import NETFLIX

ONNX = NETFLIX / "artifacts" / "content_embedding.onnx"


def register(workspace: Workspace, folder: Path, version: str = "1.0") -> Path:
    artifact = folder / "emb.onnx"
    if not artifact.exists():
        shutil.copyfile(ONNX, artifact)
    manifest = folder / f"m{version}.yaml"
    manifest.write_text(
        f'name: emb\nversion: "{version}"\nmodel_type: embedding\nframework: onnx\n'
        f"domain: shop\nowner_team: shop_ml\nartifact: {artifact}\n"
        "resource_requirements: {max_batch_size: 8}\n"
    )
    workspace.apply([manifest])
    return artifact


def test_same_catalog_same_report_and_every_change_is_seen(
    workspace: Workspace, tmp_path: Path
) -> None:
    artifact = register(workspace, tmp_path)
    first = workspace.validate()
    assert first.ok
    assert workspace.validate() is first  # nothing changed: the same report

    register(workspace, tmp_path, "1.1")  # a new version
    second = workspace.validate()
    assert second is not first and "shop/emb@1.1" in second.model_dump_json()

    workspace.set_alias("shop/emb", "production", "1.0")
    assert workspace.validate(alias="production") is not second

    # The artifact edited in place, same size, modification time put back: seen.
    stat = artifact.stat()
    time.sleep(0.05)
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0x01
    artifact.write_bytes(bytes(data))
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = workspace.validate()
    assert not changed.ok
    assert any("changed after registration" in p.message for p in changed.errors)
