"""The `triton-s3` kind: a Triton server reading its repository from S3-compatible storage
(`--model-repository=s3://HOST:PORT/bucket/path`), published by S3RepositoryWriter (see
s3/repository.py for what stays atomic for Triton's readers, and why)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from modelyard.config import S3Config, TargetConfig
from modelyard.s3.repository import S3RepositoryWriter, parse_repository_url
from modelyard.s3.store import S3Store
from modelyard.targets.triton_server import TritonServer
from modelyard.triton.client import TritonClient
from modelyard.triton.naming import S3_CANDIDATE_PREFIX
from modelyard.triton.repository import RepoFile, RepositoryDiff

KIND = "triton-s3"


class TritonS3Target(TritonServer):
    """A Triton server at `url` serving the repository `repository` (`s3://bucket/path`)."""

    kind = KIND

    def __init__(
        self,
        name: str,
        url: str,
        repository: str,
        storage: S3Config,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        location = parse_repository_url(repository, f"target {name!r}: repository")
        self.name = name
        self.client = TritonClient(url, timeout_s=timeout_s, transport=transport)
        self.url = self.client.url
        self.repository = str(location).rstrip("/")
        self.writer = S3RepositoryWriter(S3Store(storage), location)

    @classmethod
    def from_config(
        cls,
        name: str,
        config: TargetConfig,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> TritonS3Target:
        """The registry's factory: the storage is the target's `s3:`, else the workspace's
        (filled in by resolve_target)."""
        return cls(
            name,
            config.url,
            config.repository,
            config.s3 or S3Config(),
            timeout_s=timeout_s,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"TritonS3Target({self.name!r}, {self.url!r}, {self.repository!r})"

    # The repository ------------------------------------------------------------------

    def diff(self, files: Sequence[RepoFile]) -> RepositoryDiff:
        return self.writer.diff(files)

    def published_files(self) -> list[RepoFile] | None:
        return self.writer.current_files()

    def published_digests(self) -> dict[str, str]:
        return self.writer.current_digests()

    def publish(self, files: Sequence[RepoFile]) -> None:
        self.writer.write(files)

    def candidate_name(self, triton_name: str) -> str:
        return S3_CANDIDATE_PREFIX + triton_name

    def verify(self) -> list[str]:
        """Objects of the current generation missing or changed (doctor)."""
        return self.writer.verify()

    # The server: TritonServer (targets/triton_server.py).

    def close(self) -> None:
        self.writer.close()
        self.client.close()

    def __enter__(self) -> TritonS3Target:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
