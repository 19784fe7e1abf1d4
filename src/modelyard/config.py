"""`modelyard.yaml`: the catalog URL, the fleet, the deployment targets, what the API allows.

Read once by the edges (CLI, API, Python `Workspace`) and passed down as values.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from modelyard.catalog.manifest import parse_yaml_document
from modelyard.catalog.naming import check_name
from modelyard.defaults import DEFAULT_MAX_BODY_MB, WEBHOOK_EVENT_NAMES
from modelyard.errors import InputError, NotFound, Problem, Severity
from modelyard.placement.fleet import Fleet
from modelyard.triton.config import Profile

CONFIG_FILE = "modelyard.yaml"
STATE_DIR = ".modelyard"
DEFAULT_DB_FILE = "catalog.db"

DEFAULT_CONFIG = """\
# modelyard workspace. See README.md for every key.
catalog:
  # Any SQLAlchemy URL; a relative SQLite path is relative to this file.
  url: sqlite:///.modelyard/catalog.db

# The servers and GPUs models run on; `validate` checks capacity against them.
# fleet:
#   servers:
#     - name: gpu-node-1
#       url: http://gpu-node-1:8000
#       cpu_cores: 64
#       memory_mb: 262144
#       gpus:
#         - {index: 0, model: A100-80GB, memory_mb: 81920}
#         - {index: 1, model: A100-80GB, memory_mb: 81920}
"""


class CatalogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = None


# The API's default request-body limit (`api.max_body_mb`): a manifest of a few thousand
# models fits; a body of hundreds of MiB is refused before it costs the server memory.

DEFAULT_TARGET_KIND = "triton"
# A kind names an entry in modelyard.targets' registry (and maybe a plugin's entry point).
TARGET_KIND_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


def check_target_kind(kind: str) -> str:
    """`kind` if it is a safe target kind name, else ValueError saying what one looks like."""
    if not TARGET_KIND_PATTERN.fullmatch(kind):
        raise ValueError(
            f"expected a target kind such as {DEFAULT_TARGET_KIND!r} (a lowercase letter, then "
            f"at most 63 lowercase letters, digits, '.', '_' or '-'), got {kind!r}"
        )
    return kind


class S3Config(BaseModel):
    """Where `s3://` artifacts and repositories live: an S3-compatible endpoint (absent:
    AWS S3) and its region. Credentials are never written here: boto3 reads the standard
    AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or ~/.aws."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    endpoint_url: str | None = None
    region: str | None = None


class TargetConfig(BaseModel):
    """A Triton server to deploy to: its HTTP endpoint, the repository folder it reads
    (`--model-repository`, which modelyard writes), and the compile profile.

    `kind` says which of modelyard.targets' kinds opens it (`triton`: the server at `url`
    reading the local folder `repository`); a kind unknown there is refused when the
    target is opened, naming the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str = DEFAULT_TARGET_KIND
    url: str
    repository: str
    profile: Profile = "production"
    # Triton's gRPC endpoint, host:port (`--grpc-port`, 8001 by default): what the
    # gateway's gRPC frontend (`gateway start --grpc-port`) passes calls to; unset: none.
    grpc_url: str | None = None
    # Triton's Prometheus endpoint (`--metrics-port`, 8002 by default), read by
    # `modelyard perf` for queue and compute times; unset: not read.
    metrics_url: str | None = None
    # A production Prometheus that scrapes this target's Triton and gateway, read by
    # `modelyard rollout` for latencies; unset: the one `modelyard metrics start` runs.
    prometheus_url: str | None = None
    # Teams whose maintainers may deploy here through the API; absent: any team.
    teams: tuple[str, ...] | None = None
    # The server's --model-load-thread-count (how many models Triton loads at once),
    # which bounds a rollout's estimate; absent: Triton's default, 4.
    load_threads: int | None = Field(default=None, ge=1)
    # The storage of an `s3://` repository (kind `triton-s3`); absent: the workspace's `s3:`.
    s3: S3Config | None = None

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, value: str) -> str:
        return check_target_kind(value)


class ApiConfig(BaseModel):
    """What the REST API (`modelyard server`) allows."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The folders a manifest registered through the API may name an `artifact` in (it is
    # read and hashed on the server's disk); relative ones are relative to the workspace
    # folder. Absent: the workspace folder.
    artifact_roots: tuple[str, ...] | None = None
    # The largest request body the server reads, in MiB; a longer one is answered 413
    # before it is read past this size (`modelyard server --max-body-mb` overrides it).
    max_body_mb: int = Field(default=DEFAULT_MAX_BODY_MB, ge=1, le=1024)


LOCAL_TARGET = TargetConfig(
    url="http://127.0.0.1:8000",
    grpc_url="127.0.0.1:8001",
    repository=".modelyard/triton/repository",
    profile="local",
    metrics_url="http://127.0.0.1:8002/metrics",
)


class WebhookConfig(BaseModel):
    """One webhook of modelyard.yaml: where the server POSTs events, signed with the
    secret in the environment variable `secret_env` (read by the server, never stored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(pattern=r"^https?://", max_length=500)
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)
    events: tuple[str, ...] = WEBHOOK_EVENT_NAMES

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e not in WEBHOOK_EVENT_NAMES]
        if unknown:
            raise ValueError(
                f"unknown {', '.join(map(repr, unknown))}; expected some of "
                + ", ".join(WEBHOOK_EVENT_NAMES)
            )
        return value or WEBHOOK_EVENT_NAMES


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    fleet: Fleet | None = None
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    api: ApiConfig = Field(default_factory=ApiConfig)
    webhooks: tuple[WebhookConfig, ...] = ()
    s3: S3Config = Field(default_factory=S3Config)
    # Region name -> its targets, in the order `deploy --region` deploys them. Declared
    # after `targets`, whose validated value the regions' check reads.
    regions: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("targets")
    @classmethod
    def _check_target_names(cls, value: dict[str, TargetConfig]) -> dict[str, TargetConfig]:
        # Target names go into the catalog (leases, history: at most 64 characters, which
        # PostgreSQL enforces) and into API paths (/api/v1/targets/<name>/...).
        for name in value:
            check_name(name, "target name")
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(
        cls, value: dict[str, tuple[str, ...]], info: ValidationInfo
    ) -> dict[str, tuple[str, ...]]:
        targets = info.data.get("targets")
        if targets is None:  # `targets` itself is invalid: its own error says why
            return value
        problems = region_problems(value, set(targets))
        if problems:
            # One error per region at `regions.<region>`, so that each is its own line
            # naming its field (a ValueError would give one line for all, at `regions`).
            raise ValidationError.from_exception_data(
                "regions",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("invalid_region", "{message}", {"message": m}),
                        loc=(region,),
                        input=value.get(region),
                    )
                    for region, m in problems
                ],
            )
        return value


def region_problems(
    regions: dict[str, tuple[str, ...]], targets: set[str]
) -> list[tuple[str, str]]:
    """(region, what is wrong) for each fault of `regions` given the declared target
    names: a bad region name, an empty region, an unknown target, a target named twice
    (in one region or in two)."""
    problems: list[tuple[str, str]] = []
    known = ", ".join(sorted(targets)) or "none declared"
    first_region: dict[str, str] = {}
    for region, members in regions.items():
        try:
            check_name(region, "region name")
        except ValueError as exc:
            problems.append((region, str(exc)))
        if not members:
            problems.append((region, "names no target; list at least one or remove the region"))
        for target in members:
            if target not in targets:
                problems.append(
                    (
                        region,
                        f"unknown target {target!r} (targets: {known}); declare it under "
                        "`targets:` or remove it from the region",
                    )
                )
            elif target in first_region:
                where = first_region[target]
                problems.append(
                    (
                        region,
                        f"target {target!r} is in region {where!r} already; a target "
                        "belongs to one region"
                        if where != region
                        else f"names target {target!r} twice",
                    )
                )
            else:
                first_region[target] = region
    return problems


def find_workspace(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding a `modelyard.yaml`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def read_config(path: Path) -> WorkspaceConfig:
    """Read `modelyard.yaml`; errors name the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # The manifest loader: PyYAML's own errors (huge integers, impossible dates) and
    # duplicate keys become InputErrors with the line, never a traceback.
    data = parse_yaml_document(text, str(path)) or {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with keys 'catalog' and 'fleet'")
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                Severity.ERROR,
                "invalid-config",
                str(error["msg"]).removeprefix("Value error, "),
                source=str(path),
                field=".".join(str(p) for p in error["loc"]),
            )
            for error in exc.errors()
        ]
        raise InputError.from_problems(problems, f"{path} is not valid") from exc


def sqlite_url_relative_to(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        return prefix + str((root / url[len(prefix) :]).resolve())
    return url


def create_workspace_folder(root: str | Path) -> Path:
    """Create the folder and a default `modelyard.yaml` in it (an existing one is kept)."""
    folder = Path(root).resolve()
    config_path = folder / CONFIG_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not config_path.exists():
            config_path.write_text(DEFAULT_CONFIG, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the workspace ({exc.strerror})") from exc
    return folder


def locate_workspace(
    root: str | Path | None, db_url: str | None, cwd: str | Path | None = None
) -> tuple[Path | None, WorkspaceConfig, str]:
    """The workspace folder (`root`, else the nearest one at or above `cwd`), its
    configuration and the catalog URL.

    The URL is, first match wins: `db_url` (`--db`, or `MODELYARD_DB` read by the CLI),
    `catalog.url` in `modelyard.yaml`, `sqlite:///<workspace>/.modelyard/catalog.db`.
    Without any workspace, `db_url` alone is enough (no folder, an empty configuration).

    Raises:
        NotFound: no workspace and no database URL.
    """
    if root is not None:
        folder = Path(root).resolve()
        if not (folder / CONFIG_FILE).is_file():
            raise NotFound(
                f"{folder} is not a modelyard workspace (no {CONFIG_FILE}); "
                "create one with `modelyard init`"
            )
    else:
        found = find_workspace(Path(cwd) if cwd is not None else Path.cwd())
        if found is None:
            if db_url:
                return None, WorkspaceConfig(), db_url
            raise NotFound(
                f"no {CONFIG_FILE} in this folder or above it; run `modelyard init`, "
                "pass --workspace DIR, or give a catalog with --db / MODELYARD_DB"
            )
        folder = found
    config = read_config(folder / CONFIG_FILE)
    url = db_url or config.catalog.url or f"sqlite:///{STATE_DIR}/{DEFAULT_DB_FILE}"
    return folder, config, sqlite_url_relative_to(url, folder)
