"""The `triton` kind (the default): a Triton server's HTTP endpoint and the local folder
it reads as `--model-repository`, written atomically by RepositoryWriter."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from modelyard.config import TargetConfig
from modelyard.targets.triton_server import TritonServer
from modelyard.triton.client import TritonClient
from modelyard.triton.naming import candidate_name
from modelyard.triton.repository import RepoFile, RepositoryDiff, RepositoryWriter

KIND = "triton"


class TritonFolderTarget(TritonServer):
    """A Triton server at `url` serving the repository folder `repository`."""

    kind = KIND

    def __init__(
        self,
        name: str,
        url: str,
        repository: Path,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.client = TritonClient(url, timeout_s=timeout_s, transport=transport)
        self.url = self.client.url
        self.repository = Path(repository)
        self.writer = RepositoryWriter(self.repository)

    @classmethod
    def from_config(
        cls,
        name: str,
        config: TargetConfig,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> TritonFolderTarget:
        """The registry's factory. A relative `repository` is taken as it is (relative to
        the working folder): callers resolve it against the workspace first."""
        return cls(
            name, config.url, Path(config.repository), timeout_s=timeout_s, transport=transport
        )

    def __repr__(self) -> str:
        return f"TritonFolderTarget({self.name!r}, {self.url!r}, {str(self.repository)!r})"

    # The repository ------------------------------------------------------------------

    def diff(self, files: Sequence[RepoFile]) -> RepositoryDiff:
        return self.writer.diff(files)

    def published_files(self) -> list[RepoFile] | None:
        # The writer keeps the last few generations, so these sources outlive the next
        # publish (an overlap repository) and the one after it (the rollback).
        return self.writer.current_files()

    def published_digests(self) -> dict[str, str]:
        return self.writer.current_digests()

    def publish(self, files: Sequence[RepoFile]) -> None:
        self.writer.write(files)

    def candidate_name(self, triton_name: str) -> str:
        return candidate_name(triton_name)

    # The server: TritonServer (targets/triton_server.py).

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> TritonFolderTarget:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
