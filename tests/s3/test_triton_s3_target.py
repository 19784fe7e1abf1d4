"""The `triton-s3` target against a real S3-compatible server (moto_server, then s3rver)
and the real local Triton reading `s3://HOST:PORT/bucket/path`: deploys publish there, an
upgrade keeps serving, doctor finds a tampered or missing object, bad input changes
nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelyard import Workspace
from modelyard.errors import InputError, ModelyardError
from modelyard.ops.doctor import diagnose
from modelyard.triton.client import TritonClient
from tests.support.rollout import FAST, GOOD_MODEL, python_model, ready_models
from tests.support.s3 import s3_workspace_config
from tests.support.workspaces import init_workspace

pytestmark = [pytest.mark.triton, pytest.mark.slow]


def echo(client: TritonClient) -> float:
    return float(client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"][0])


def test_deploy_publishes_to_s3_and_an_upgrade_keeps_serving(
    on_s3: tuple[Workspace, TritonClient, str], s3: Any, tmp_path: Path
) -> None:
    import threading

    workspace, client, bucket = on_s3
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    workspace.deploy("s3t", options=FAST)
    assert echo(client) == 1.0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"repo/tools.echo/config.pbtxt", "repo/tools.echo/1/model.py"} <= keys
    assert {"repo.generations/current", "repo.generations/000001.json"} <= keys
    answers: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                answers.append(echo(client))
            except Exception as exc:  # any failed request is what the test looks for
                failures.append(repr(exc))

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        workspace.apply([python_model(tmp_path, "echo", "2.0", GOOD_MODEL)])
        workspace.deploy("s3t", options=FAST)
        while 2.0 not in answers and not failures:
            stop.wait(0.05)
    finally:
        stop.set()
        asker.join()
    assert failures == []
    assert set(answers) == {1.0, 2.0} and len(answers) > 10
    assert ready_models(client)["tools.echo"] == [2]
    report = diagnose(workspace.root)
    assert [f.status for f in report.checks if f.area == "repository s3t"] == ["ok"]


def test_doctor_finds_a_tampered_and_a_missing_object(
    on_s3: tuple[Workspace, TritonClient, str], s3: Any, tmp_path: Path
) -> None:
    workspace, client, bucket = on_s3
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    workspace.deploy("s3t", options=FAST)
    s3.put_object(Bucket=bucket, Key="repo/tools.echo/1/model.py", Body=b"# tampered\n")
    s3.delete_object(Bucket=bucket, Key="repo/tools.echo/1/__pycache__")
    report = diagnose(workspace.root)
    (finding,) = [f for f in report.checks if f.area == "repository s3t"]
    assert finding.status == "fail"
    assert f"s3://{bucket}/repo/tools.echo/1/model.py was changed after it was published" in (
        finding.detail
    )
    assert f"s3://{bucket}/repo/tools.echo/1/__pycache__ is missing" in finding.detail


def test_bad_repositories_are_one_line_and_write_nothing(
    tmp_path: Path, catalog_url: str, s3_endpoint: str, s3_env: dict[str, str], s3: Any, bucket: str
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    targets = (
        "targets:\n"
        "  caps: {kind: triton-s3, url: 'http://127.0.0.1:9', repository: 's3://Caps_Bucket/r'}\n"
        f"  root: {{kind: triton-s3, url: 'http://127.0.0.1:9', repository: 's3://{bucket}'}}\n"
        "  down: {kind: triton-s3, url: 'http://127.0.0.1:9', repository: 's3://b-down/r',"
        " s3: {endpoint_url: 'http://127.0.0.1:9'}}\n"
    )
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint, targets))
    workspace = init_workspace(root, catalog_url)
    try:
        workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
        with pytest.raises(InputError, match="bucket name 'Caps_Bucket'.*is not one Triton"):
            workspace.deploy("caps", options=FAST)
        with pytest.raises(InputError, match="is a bucket's root; give s3://BUCKET/PATH"):
            workspace.deploy("root", options=FAST)
        with pytest.raises(ModelyardError, match="cannot reach http://127.0.0.1:9") as down:
            workspace.deploy("down", options=FAST)
        assert "\n" not in down.value.message
    finally:
        workspace.close()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
