"""S3RepositoryWriter against a real S3-compatible server (moto_server, then s3rver):
generations, retirement one publish later, rollback copies, and names Triton's S3 client
cannot read refused."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from modelyard.config import S3Config
from modelyard.s3.repository import S3RepositoryWriter, parse_repository_url
from modelyard.s3.store import S3Store
from modelyard.triton.repository import RepoFile, RepositoryWriteError

pytestmark = pytest.mark.slow


def repo_file(path: str, text: str) -> RepoFile:
    data = text.encode()
    return RepoFile(path, hashlib.sha256(data).hexdigest(), content=data)


def keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_generations_retire_objects_one_publish_later(
    s3_endpoint: str, s3_env: dict[str, str], s3: Any, bucket: str
) -> None:
    writer = S3RepositoryWriter(
        S3Store(S3Config(endpoint_url=s3_endpoint)), parse_repository_url(f"s3://{bucket}/r", "r")
    )
    first = [repo_file("a/config.pbtxt", "a1"), repo_file("a/1/model.py", "1")]
    assert writer.write(first)[1] == 1
    assert writer.write(first)[1] == 1  # unchanged: no new generation
    second = [repo_file("b/config.pbtxt", "b1"), repo_file("b/1/model.py", "2")]
    diff, number = writer.write(second)
    # With the bytecode guard every folder holding a .py file gets (triton/repository.py).
    assert number == 2
    assert diff.removed == ["a/1/__pycache__", "a/1/model.py", "a/config.pbtxt"]
    assert {"r/a/config.pbtxt", "r/b/config.pbtxt"} <= keys(s3, bucket)  # a kept for now
    published = writer.current_files()
    assert published is not None
    assert sorted(f.path for f in published) == [
        "b/1/__pycache__",
        "b/1/model.py",
        "b/config.pbtxt",
    ]
    writer.write([repo_file("c/config.pbtxt", "c1")])
    assert "r/a/config.pbtxt" not in keys(s3, bucket)  # retired by 2, deleted by 3
    assert "r/b/config.pbtxt" in keys(s3, bucket)  # retired by 3
    # A rollback publishes the copies taken before: they outlive the objects.
    assert writer.write(published)[1] == 4
    assert s3.get_object(Bucket=bucket, Key="r/b/1/model.py")["Body"].read() == b"2"
    assert writer.verify() == []
    writer.close()


def test_names_triton_cannot_read_from_s3_are_refused_before_writing(
    s3_endpoint: str, s3_env: dict[str, str], s3: Any, bucket: str
) -> None:
    writer = S3RepositoryWriter(
        S3Store(S3Config(endpoint_url=s3_endpoint)), parse_repository_url(f"s3://{bucket}/r", "r")
    )
    with pytest.raises(RepositoryWriteError, match=r"could not load ens~step@1.0/config.pbtxt"):
        writer.write([repo_file("ens~step@1.0/config.pbtxt", "x"), repo_file("a/config.pbtxt", "")])
    assert keys(s3, bucket) == set()
