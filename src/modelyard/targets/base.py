"""The Target protocol: what the rollout runner, undeploy, status and perf need of a place
models are deployed to.

Two halves: the repository the server reads (publish a compiled set of files atomically,
say what differs, hand back what is published for a rollback) and the server itself
(Triton's repository API: index, load, unload, readiness, config, inference). The lease
that keeps one deployer per target is not the target's business: it lives in the catalog
(deploy/lease.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self

from modelyard.triton.inputs import RequestInputs
from modelyard.triton.repository import RepoFile, RepositoryDiff


class Target(Protocol):
    """A server and the repository it serves models from.

    Errors: a server that refuses or does not answer raises TritonError (naming the
    server, the model and the reason); a repository that cannot be written raises
    RepositoryWriteError and leaves what it published before in place.
    """

    @property
    def name(self) -> str:
        """The target's name in modelyard.yaml: leases and history are kept under it."""
        ...

    @property
    def kind(self) -> str:
        """The registry kind that opened it (`triton`, ...)."""
        ...

    @property
    def url(self) -> str:
        """Where the server answers, for messages and status."""
        ...

    # The repository ------------------------------------------------------------------

    def diff(self, files: Sequence[RepoFile]) -> RepositoryDiff:
        """What publishing `files` would add, change and remove."""
        ...

    def published_files(self) -> list[RepoFile] | None:
        """The files published now, readable until the next publish but one (a rollback
        publishes them again); None if nothing was ever published."""
        ...

    def published_digests(self) -> dict[str, str]:
        """Repository path -> SHA-256 of each file published now (as recorded when it was
        published, read without fetching the files); empty if nothing was ever published."""
        ...

    def publish(self, files: Sequence[RepoFile]) -> None:
        """Make `files` the repository the server reads, all at once."""
        ...

    def candidate_name(self, triton_name: str) -> str:
        """The name a rollout verifies an upgrade of `triton_name` under: one no client
        uses and no catalog model can have, which this repository can hold."""
        ...

    # The server ----------------------------------------------------------------------

    def index(self) -> list[dict[str, Any]]:
        """Every model the server knows, one entry per version: name, version, state."""
        ...

    def load(self, model: str, *, timeout_s: float | None = None) -> None:
        """(Re)load a model from the published repository; `timeout_s`: this call's limit."""
        ...

    def unload(self, model: str, *, timeout_s: float | None = None) -> None:
        """Stop serving a model."""
        ...

    def is_ready(self, model: str, version: int | None = None) -> bool:
        """Whether the model (one version, or any) answers requests; False if unreachable."""
        ...

    def model_config(self, model: str) -> dict[str, Any]:
        """The live model's config as the server reports it (Triton's JSON ModelConfig)."""
        ...

    def infer(
        self,
        model: str,
        inputs: RequestInputs,
        version: int | None = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, list[Any]]:
        """Run one request (`inputs`: name -> (datatype, shape, flat data), as
        modelyard.triton.inputs builds them); output name -> flat data."""
        ...

    def close(self) -> None:
        """Let go of connections; the target is unusable afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *_exc: object) -> None: ...
