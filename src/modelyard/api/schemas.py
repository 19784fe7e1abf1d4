"""Request and response bodies of the REST API (they make the OpenAPI schema precise).

Nested documents the library already renders as JSON (a model's spec, a report) stay
free-form objects; everything a client branches on is typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.catalog.lifecycle import REASON_MAX_CHARS, Status, VersionStatus
from modelyard.store.access import ApiToken, AuditEntry
from modelyard.store.history import DeploymentRecord
from modelyard.store.webhooks import Delivery, Webhook

Role = Literal["viewer", "maintainer", "admin"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Out):
    code: str = Field(description="Stable error code, e.g. not_found, alias_conflict, forbidden.")
    message: str
    field: str | None = Field(description="The offending field (dotted), when one is known.")


class ProblemOut(_Out):
    severity: Literal["error", "warning", "info"]
    code: str
    message: str
    model: str | None
    source: str | None
    line: int | None
    field: str | None
    details: dict[str, Any]


class ErrorOut(_Out):
    ok: Literal[False] = False
    error: ErrorBody
    errors: list[ProblemOut] = Field(description="Every problem found, when there are several.")
    status: int


class Me(_Out):
    token_id: int | None = Field(description="None when the server runs without tokens.")
    prefix: str | None
    team: str
    role: Role


class ModelSummary(_Out):
    ref: str
    id: str
    domain: str
    name: str
    version: str
    framework: str
    model_type: str
    owner_team: str
    description: str
    dependencies: list[str]
    status: Status = Field(
        description="yanked: never chosen by a selection, constraint or alias; "
        "deprecated: chosen, and validation warns."
    )
    status_reason: str | None = Field(description="Why it is yanked or deprecated.")


class ModelList(_Out):
    count: int
    models: list[ModelSummary]


class ManifestFile(_In):
    source: str = Field(
        min_length=1,
        max_length=1024,
        description="Where the text came from (the client's file path): named in every "
        "error and kept as the version's `source`; seed JSON when it ends in `.json`.",
    )
    text: str = Field(max_length=5_000_000, description="The file's manifest YAML (or JSON).")


class ManifestIn(_In):
    manifest: str | None = Field(
        default=None,
        max_length=5_000_000,
        description="Manifest YAML; several documents "
        "separated by `---` are registered in one transaction. Give this or `files`.",
    )
    files: list[ManifestFile] | None = Field(
        default=None,
        max_length=100_000,
        description="Several manifest files (what a remote `modelyard apply` sends), all "
        "registered in one transaction, each error naming its file. Give this or `manifest`.",
    )
    dry_run: bool = False
    transfer_owner: bool = Field(
        default=False,
        description="Admins only: let a new version name another owner_team than its "
        "model's (the model changes hands, audited). Refused (409) otherwise.",
    )


class SpecList(_Out):
    count: int
    specs: list[dict[str, Any]] = Field(
        description="Each listed version's whole spec, in the catalog's order (as "
        "`modelyard list --json`)."
    )


class StatusMap(_Out):
    statuses: dict[str, VersionStatus] = Field(
        description="`domain/name@version` -> status, for each version that is yanked or "
        "deprecated (the others are active)."
    )


class AliasMoveIn(_In):
    model: str = Field(max_length=200, description="domain/name")
    alias: str = Field(max_length=64)
    version: str = Field(max_length=32)
    expect: str | None = Field(default=None, max_length=32)
    expect_revision: int | None = Field(default=None, ge=1)


class AliasMovesIn(_In):
    moves: list[AliasMoveIn] = Field(
        min_length=1,
        max_length=100_000,
        description="Every move, in one transaction: all of them, or (409, 403, 404 for "
        "the first refused) none.",
    )


class DependenciesOut(_Out):
    model: str
    dependencies: list[str]


class ImpactOut(_Out):
    model: str
    dependents: list[str]


class AliasIn(_In):
    version: str = Field(max_length=32, description="The version the alias should point to.")
    expect: str | None = Field(
        default=None,
        max_length=32,
        description="Compare-and-set: move the alias only if it points to this version now "
        "('none': only if it does not exist yet). 409 otherwise. A move away and back in "
        "between goes unnoticed: use expect_revision for that.",
    )
    expect_revision: int | None = Field(
        default=None,
        ge=1,
        description="Compare-and-set on the alias's revision (every move raises it by one): "
        "move it only if it is at this revision now. 409 otherwise.",
    )


class YankIn(_In):
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS, description="Why, in one line.")
    force: bool = Field(
        default=False,
        description="Yank it even though an alias points at it (409 otherwise); selections "
        "through that alias then fail until it is moved.",
    )


class DeprecateIn(_In):
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS, description="Why, in one line.")


class AliasOut(_Out):
    model: str
    alias: str
    version: str
    revision: int
    updated_at: datetime


class AliasList(_Out):
    aliases: list[AliasOut]


class DeployIn(_In):
    target: str = Field(default="local", max_length=64)
    alias: str | None = Field(
        default=None,
        max_length=64,
        description="Deploy the versions this alias points to "
        "(default: the newest of every model).",
    )
    refs: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=1000,
        description="Deploy only these models (ID, ID@VERSION or ID@ALIAS) and what they "
        "need; every other model on the target is kept as it is. Empty: the whole "
        "selection, unloading what is not in it.",
    )
    expect_digest: str | None = Field(
        default=None,
        max_length=64,
        description="The `digest` of the rollout plan the caller reviewed: 409, and "
        "nothing starts, unless today's plan is still that one.",
    )
    concurrency: int = Field(default=4, ge=1, le=64)
    load_timeout_s: float = Field(default=300.0, ge=1, le=3600)
    ready_timeout_s: float = Field(default=60.0, ge=1, le=3600)
    smoke: bool = True
    wait_for_lease_s: float = Field(
        default=0.0,
        ge=0,
        le=600,
        description="Seconds to wait for another deployer's lease on the target.",
    )


class HistoryOut(_Out):
    deployments: list[DeploymentRecord]


class UndeployOut(_Out):
    target: str
    unloaded: list[str]


class TargetOut(_Out):
    name: str
    url: str
    profile: str
    teams: list[str] | None = Field(
        description="Teams whose maintainers may deploy here (None: any team)."
    )


class TargetList(_Out):
    targets: list[TargetOut]


class AuditOut(_Out):
    entries: list[AuditEntry]


class TokenIn(_In):
    team: str = Field(min_length=1, max_length=64)
    role: Role = "viewer"
    description: str = Field(default="", max_length=200)
    expires_in: str | None = Field(
        default=None,
        max_length=16,
        description="How long the token is accepted: 30d, 12h, 90m, 2w (absent: no expiry).",
    )


class TokenCreated(_Out):
    token: ApiToken
    secret: str = Field(description="The bearer token; shown only in this response.")


class TokenList(_Out):
    tokens: list[ApiToken]


class WebhookList(_Out):
    webhooks: list[Webhook]


class DeliveryList(_Out):
    deliveries: list[Delivery]


# Traffic: the gateway and experiments --------------------------------------------------


class ArmIn(_In):
    version: str = Field(max_length=32, description="A registered version: MAJOR.MINOR[.PATCH].")
    weight: int = Field(ge=0, le=100, description="Its percent of the model's requests.")


Arms = Annotated[
    list[ArmIn],
    Field(
        min_length=1,
        max_length=16,
        description="The arms in bucket-layout order (the first is the baseline); the "
        "weights add up to 100.",
    ),
]
TargetField = Annotated[
    str, Field(max_length=64, description="A target in modelyard.yaml, or local.")
]
AliasField = Annotated[
    str | None,
    Field(
        max_length=64,
        description="The selection deployed beside the arms: this alias's versions "
        "(default: the newest of every model).",
    ),
]
LoadTimeout = Annotated[float, Field(ge=1, le=3600, description="Seconds per model load.")]


class ShadowIn(_In):
    version: str = Field(
        max_length=32, description="A registered version that is not an arm: gets the copies."
    )
    percent: int = Field(
        ge=1, le=100, description="The percent of the model's requests copied to it."
    )


ShadowField = Annotated[
    ShadowIn | None,
    Field(
        description="A shadow: a copy of a share of the requests goes to this version too "
        "(loaded and verified first), and its answers go nowhere."
    ),
]


class ExperimentStartIn(_In):
    arms: Arms
    shadow: ShadowField = None
    sticky_header: str | None = Field(
        default=None,
        max_length=64,
        description="Assign each request by a hash of this header (e.g. x-user-id): a user "
        "stays on one arm. Default: at random.",
    )
    target: TargetField = "local"
    alias: AliasField = None
    load_timeout_s: LoadTimeout = 300.0


class WeightsIn(_In):
    arms: list[ArmIn] = Field(
        default=[],
        max_length=16,
        description="New weights; an arm not named gets 0. None given: the weights stay.",
    )
    shadow: ShadowField = None
    no_shadow: bool = Field(default=False, description="End the shadow's copies.")
    target: TargetField = "local"
    alias: AliasField = None
    load_timeout_s: LoadTimeout = 300.0


class ExperimentStopIn(_In):
    keep: str = Field(max_length=32, description="The arm that gets every request.")
    promote: str | None = Field(
        default="production",
        max_length=64,
        description="The alias that moves to the kept version (null: none moves).",
    )
    target: TargetField = "local"


class RolloutAbortIn(_In):
    target: TargetField = "local"


class RolloutStartIn(_In):
    """A stepwise canary rollout, as `modelyard rollout REF --to VERSION`."""

    to: str = Field(max_length=32, description="The candidate version.")
    steps: list[int] = Field(
        default=[5, 25, 50, 100],
        max_length=100,
        description="The candidate's percents, increasing, ending in 100.",
    )
    interval: str | float = Field(
        default="60s",
        description="How long each step holds: 60s, 2m, 500ms, or seconds as a number.",
    )
    max_error_rate: float = Field(
        default=0.01, description="The candidate's 5xx share it must stay under."
    )
    min_requests: int = Field(default=500, description="Candidate requests a step needs.")
    max_extensions: int = Field(default=3, description="Extra intervals a short step may hold.")
    max_latency_increase: float = Field(
        default=0.2, description="Mean latency allowed over the baseline's (0.2: 20 %)."
    )
    max_throughput_drop: float = Field(
        default=0.5,
        description="How far the candidate's completed requests per unit of weight may "
        "fall below the baseline's (0.5: half).",
    )
    max_memory_drift: float = Field(
        default=0.1,
        description="Measured memory allowed over the manifest's resources (0.1: 10 %).",
    )
    check_latency: bool = Field(
        default=True,
        description="Compare p99 with the SLA and the mean latency with the baseline's.",
    )
    target: TargetField = "local"


class SwitchIn(_In):
    to: str = Field(max_length=32, description="The version that gets every request at once.")
    target: TargetField = "local"
    alias: AliasField = None
    load_timeout_s: LoadTimeout = 300.0


class GatewayStartIn(_In):
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port on 127.0.0.1 (default: the one used last, else 9000).",
    )
    grpc_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Also proxy gRPC on this port, to the target's grpc_url (default: none).",
    )


class FeedbackIn(_In):
    value: float = Field(
        allow_inf_nan=False,
        description="The request's outcome: 1 converted, 0 not, or any reward. A second "
        "feedback for the same request replaces the first.",
    )
    target: str = Field(
        default="local", max_length=64, description="The target whose gateway routed it."
    )
