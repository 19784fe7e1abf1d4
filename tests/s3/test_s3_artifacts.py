"""`artifact: s3://...` against a real S3-compatible server (moto_server, then s3rver):
pinned at registration by the same digest rules as local files, fetched and verified at
compile, refused when changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelyard import Workspace
from modelyard.catalog.manifest import artifact_digest
from modelyard.errors import InputError, ModelsBlocked
from tests.support.rollout import GOOD_MODEL
from tests.support.s3 import S3Server, s3_manifest
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def workspace(ws_root: Path, catalog_url: str) -> Any:
    created = init_workspace(ws_root, catalog_url)
    yield created
    created.close()


def test_a_file_pins_the_digest_of_its_bytes_and_compiles(
    workspace: Workspace, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="models/echo/model.py", Body=GOOD_MODEL.encode())
    manifest = s3_manifest(tmp_path, "echo", f"s3://{bucket}/models/echo/model.py")
    local = tmp_path / "echo-1.0" / "model.py"  # the same bytes on disk
    workspace.apply([manifest])
    spec = workspace.store.get("tools/echo", "1.0").spec
    assert spec.artifact == f"s3://{bucket}/models/echo/model.py"
    assert spec.artifact_sha256 == artifact_digest(local)
    out = workspace.root / "repo"
    result = workspace.compile(out, profile="local")
    assert [m.triton_name for m in result.models] == ["tools.echo"]
    assert (out / "tools.echo" / "1" / "model.py").read_text() == GOOD_MODEL
    cached = workspace.root / ".modelyard" / "cache" / "artifacts" / spec.artifact_sha256
    assert (cached / "artifact").read_text() == GOOD_MODEL


def test_a_prefix_is_a_folder_with_the_local_folder_digest(
    workspace: Workspace, s3: Any, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    (folder / "lib").mkdir(parents=True)
    (folder / "model.py").write_text(GOOD_MODEL)
    (folder / "lib" / "helper.py").write_text("X = 1\n")
    for path in ("model.py", "lib/helper.py"):
        s3.put_object(Bucket=bucket, Key=f"m/{path}", Body=(folder / path).read_bytes())
    workspace.apply([s3_manifest(tmp_path, "multi", f"s3://{bucket}/m/")])
    assert workspace.store.get("tools/multi", "1.0").spec.artifact_sha256 == artifact_digest(folder)
    out = workspace.root / "repo"
    workspace.compile(out, profile="local")
    assert (out / "tools.multi" / "1" / "lib" / "helper.py").read_text() == "X = 1\n"


def test_an_object_changed_behind_modelyards_back_blocks_only_its_model(
    workspace: Workspace, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="echo.py", Body=GOOD_MODEL.encode())
    s3.put_object(Bucket=bucket, Key="other.py", Body=GOOD_MODEL.encode())
    workspace.apply(
        [
            s3_manifest(tmp_path, "echo", f"s3://{bucket}/echo.py"),
            s3_manifest(tmp_path, "other", f"s3://{bucket}/other.py"),
        ]
    )
    out = workspace.root / "repo"
    workspace.compile(out, profile="local")  # the cache now holds the pinned bytes
    pinned = workspace.store.get("tools/echo", "1.0").spec.artifact_sha256
    changed = GOOD_MODEL + "# changed in the bucket\n"
    s3.put_object(Bucket=bucket, Key="echo.py", Body=changed.encode())
    (tmp_path / "changed.py").write_text(changed)
    with pytest.raises(ModelsBlocked) as blocked:
        workspace.compile(out, profile="local")
    message = blocked.value.message
    assert f"tools/echo@1.0: artifact s3://{bucket}/echo.py changed after registration" in message
    assert f"it now has SHA-256 {artifact_digest(tmp_path / 'changed.py')}" in message
    assert f"registration pinned {pinned}" in message
    assert "tools/other" not in message
    # The blocked model keeps what was compiled for it: the pinned bytes.
    assert (out / "tools.echo" / "1" / "model.py").read_text() == GOOD_MODEL


def test_bad_urls_and_unreachable_storage_are_one_line_and_register_nothing(
    workspace: Workspace, bucket: str, tmp_path: Path, catalog_url: str
) -> None:
    cases = {
        "s3://Bad_Bucket/model.py": "is not one Triton and S3 accept",
        f"s3://{bucket}/absent.py": "no such object",
        "s3://no-such-bucket-here/model.py": "no such object",
    }
    for url, expected in cases.items():
        with pytest.raises(InputError) as refused:
            workspace.apply(
                [s3_manifest(tmp_path / url.replace("/", "_").replace(":", ""), "echo", url)]
            )
        assert expected in refused.value.message and "\n" not in refused.value.message
    root = tmp_path / "down"
    root.mkdir()
    (root / "modelyard.yaml").write_text("s3: {endpoint_url: 'http://127.0.0.1:9', region: x}\n")
    down = init_workspace(root, catalog_url)
    try:
        with pytest.raises(InputError, match="cannot reach http://127.0.0.1:9"):
            down.apply([s3_manifest(tmp_path / "d", "echo", f"s3://{bucket}/m.py")])
    finally:
        down.close()
    assert workspace.store.summaries() == []


def test_missing_credentials_are_one_line_and_register_nothing(
    workspace: Workspace, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InputError) as refused:
        workspace.apply([s3_manifest(tmp_path, "echo", f"s3://{bucket}/model.py")])
    assert "no S3 credentials; set AWS_ACCESS_KEY_ID" in refused.value.message
    assert "\n" not in refused.value.message
    assert workspace.store.summaries() == []


def test_refused_credentials_are_one_line_and_register_nothing(
    workspace: Workspace,
    s3_server: S3Server,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if s3_server.implementation == "moto":
        pytest.skip("moto_server accepts any key pair; s3rver refuses an unknown access key")
    s3.put_object(Bucket=bucket, Key="model.py", Body=GOOD_MODEL.encode())
    # s3rver 3.7 refuses a key id it does not know, but not a wrong secret (measured).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    with pytest.raises(InputError) as refused:
        workspace.apply([s3_manifest(tmp_path, "echo", f"s3://{bucket}/model.py")])
    # A HEAD's refusal has no body to name the code: boto3 reports the status, 403.
    assert (
        f"s3://{bucket}/model.py: {s3_server.url} refused the credentials (403); check "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    ) in refused.value.message
    assert "\n" not in refused.value.message
    assert workspace.store.summaries() == []
