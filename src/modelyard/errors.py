"""The one exception tree of modelyard.

```
ModelyardError
├── InputError          bad manifest, flag or file: source, field, reason
├── ValidationFailed    problems: list[Problem] (all of them, not the first)
├── NotFound            unknown model, version, alias or workspace
├── Conflict            published version is immutable, stale alias
│   ├── VersionConflict same id and version, different content
│   └── VersionYanked   a yanked version asked for where only a usable one will do
├── CapacityError       nothing fits: the model and the shortfall
├── StorageError        the catalog database cannot be opened or read
├── Unauthenticated     no token, or an unknown or revoked one (HTTP 401)
├── Forbidden           the token's role or team does not allow this (HTTP 403)
├── TooManyAttempts     too many failed token attempts from one address (HTTP 429)
├── GatewayError        the gateway (HAProxy) refused or does not answer
├── RegistryError       an external model registry (MLflow) refused or does not answer
├── ObjectStoreError    S3-compatible storage unreachable, refused credentials, no object
├── RegionDeployFailed  a region's deploy stopped at one target (its error's exit code)
├── ServerUnreachable   the modelyard server (MODELYARD_SERVER) does not answer
├── LocalOnly           a command that needs the catalog here, run against a server
└── TritonError         the server refused: url, model, HTTP status, message
    └── RolloutFailed   what was rolled back and what is still serving
```

Each class knows its CLI exit code and its HTTP status, so the CLI and the API map
errors in one place and the library never calls `sys.exit`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about the catalog or a manifest.

    `model` is `domain/name@version` where the finding belongs to one model version,
    `source` the file (and `line` the line) it came from where known, `field` the
    dotted manifest key.
    """

    severity: Severity
    code: str
    message: str
    model: str | None = None
    source: str | None = None
    line: int | None = None
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def location(self) -> str:
        """`file:line: field` (whatever of it is known) for the start of a message."""
        parts: list[str] = []
        if self.source:
            parts.append(f"{self.source}:{self.line}" if self.line else self.source)
        elif self.model:
            parts.append(self.model)
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "model": self.model,
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "details": self.details,
        }


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    exit_code = 70
    http_status = 500
    code = "internal"

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = list(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[Problem], headline: str) -> Self:
        """One problem: its own line; several: the headline and each on its own line."""
        return cls(_summarise(problems, headline), problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": False,
            "error": self.code,
            "message": self.message,
            "errors": [p.to_dict() for p in self.problems],
            "status": self.http_status,
        }


def _summarise(problems: Sequence[Problem], headline: str) -> str:
    if len(problems) == 1:
        return str(problems[0])
    shown = "\n".join(f"  {p}" for p in problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    return f"{headline} ({len(problems)} problems):\n{shown}{more}"


class InputError(ModelyardError):
    """A manifest, flag or file is malformed; nothing was written."""

    exit_code = 2
    http_status = 422
    code = "invalid_input"


class WithResult(ModelyardError):
    """An error that comes with what was done before it (`result`, a pydantic model),
    shown in its JSON under `result_key`."""

    result_key = "result"

    def __init__(
        self, message: str, problems: Sequence[Problem] = (), *, result: Any = None
    ) -> None:
        super().__init__(message, problems)
        self.result = result

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.result is not None and hasattr(self.result, "model_dump"):
            data[self.result_key] = self.result.model_dump(mode="json")
        return data


class ValidationFailed(ModelyardError):
    """The catalog has errors (all of them are in `problems`)."""

    exit_code = 1
    http_status = 422
    code = "validation_failed"


class ModelsBlocked(WithResult, ValidationFailed):
    """Every model was compiled and written but these: their artifacts are missing,
    changed after registration or unreadable (or they need such a model), so each kept
    what the repository had for it. `result` holds what was written."""

    code = "models_blocked"
    result_key = "compiled"


class NotFound(ModelyardError):
    exit_code = 3
    http_status = 404
    code = "not_found"


class Conflict(ModelyardError):
    exit_code = 4
    http_status = 409
    code = "conflict"


class VersionConflict(Conflict):
    """A published version is immutable: the same id and version came with other content."""

    code = "version_conflict"

    def __init__(self, message: str, model: str, differing_fields: Sequence[str]) -> None:
        super().__init__(message)
        self.model = model
        self.differing_fields = list(differing_fields)


class AliasConflict(Conflict):
    """Compare-and-set on an alias failed: it no longer points where the caller expected."""

    code = "alias_conflict"


class VersionYanked(Conflict):
    """A yanked version was asked for where only one that can be chosen will do (an
    alias target; the only versions of a model selected by name)."""

    code = "version_yanked"


class CapacityError(ModelyardError):
    exit_code = 5
    http_status = 409
    code = "capacity"


class StorageError(ModelyardError):
    """The catalog database is missing, unreadable or not migrated."""

    exit_code = 6
    http_status = 503
    code = "storage"


class Unauthenticated(ModelyardError):
    """The request carries no token, or one the catalog does not know or has revoked."""

    exit_code = 9
    http_status = 401
    code = "unauthenticated"


class Forbidden(ModelyardError):
    """The caller's role or team does not allow this change."""

    exit_code = 9
    http_status = 403
    code = "forbidden"


class TooManyAttempts(ModelyardError):
    """Too many failed token attempts from one client address; `retry_after_s` says when
    the next attempt is heard (the API's `Retry-After`)."""

    exit_code = 9
    http_status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GatewayError(ModelyardError):
    """The gateway (HAProxy) refused a configuration or change, or does not answer."""

    exit_code = 10
    http_status = 502
    code = "gateway"


class RegistryError(ModelyardError):
    """An external model registry (MLflow) refused a request or does not answer."""

    exit_code = 11
    http_status = 502
    code = "model_registry"


class ObjectStoreError(ModelyardError):
    """S3-compatible storage did not answer, refused the credentials, or lacks the bucket
    or object; `missing` says it was the last (the bucket or object is not there)."""

    exit_code = 12
    http_status = 502
    code = "object_store"

    def __init__(
        self, message: str, problems: Sequence[Problem] = (), *, missing: bool = False
    ) -> None:
        super().__init__(message, problems)
        self.missing = missing


class RegionDeployFailed(WithResult, ModelyardError):
    """A region's deploy stopped at its first failing target; `result` holds the targets
    deployed before it. The exit code and HTTP status are the failing target's error's
    (8: rolled back there, 7: unreachable, 4: its lease held, ...), `cause` that error."""

    code = "region_deploy_failed"
    result_key = "region"

    def __init__(self, message: str, cause: ModelyardError, *, result: Any = None) -> None:
        super().__init__(message, cause.problems, result=result)
        self.cause = cause
        self.exit_code = cause.exit_code
        self.http_status = cause.http_status


class ServerUnreachable(ModelyardError):
    """The modelyard server the CLI or `Client` talks to (`MODELYARD_SERVER`,
    `--server`) refused the connection, timed out, or answered something not its own."""

    exit_code = 13
    http_status = 502
    code = "server_unreachable"


class LocalOnly(ModelyardError):
    """The command (or one of its options) works on the catalog's own machine only
    (it writes local folders, starts servers, or reads local files), but a server is
    configured."""

    exit_code = 14
    http_status = 400
    code = "local_only"


class TritonError(ModelyardError):
    exit_code = 7
    http_status = 502
    code = "triton"


class TritonUnreachable(TritonError):
    """The server did not answer at all (refused, reset): no one model's fault."""


class RolloutFailed(WithResult, TritonError):
    """A deployment failed and was rolled back; `result` holds what happened per model."""

    exit_code = 8
    code = "rollout_failed"
    # Each model's outcome: what failed, what was skipped, what was rolled back.
    result_key = "deployment"
