"""Importing (and re-syncing) an MLflow Model Registry into the catalog: `import-mlflow`.

What maps to what (README "Importing from MLflow" has the table):

- A registered model is a catalog model. Its id is `modelyard.domain`/`modelyard.name`
  (tags of the registered model) where set, else `--domain` and the MLflow name
  normalised by `catalog.naming.normalised_name` ("Fraud Scorer" -> fraud_scorer).
- MLflow version N (status READY) is catalog version `N.0`; its artifacts are downloaded
  into `.modelyard/artifacts/mlflow/<domain>/<name>/<N>/<sha256>/` (content-addressed:
  a folder is named by the SHA-256 of what it holds and never rewritten) and registered
  with that digest, like any local artifact.
- Fields come from `modelyard.*` tags (the version's, else the registered model's; see
  FIELD_TAGS); a field without a tag gets modelyard's default, and each such field is
  listed per version in the result and in the label `modelyard_defaulted`: never
  silently invented. The framework without a tag is read from the model file Triton
  would pick (model.onnx, model.py, ...), and listed as defaulted too.
- Every other tag becomes a label (the version's over the model's), beside
  `mlflow_model`, `mlflow_version` and `mlflow_run_id`.
- An MLflow alias becomes the model's alias of the same name, moved by compare-and-set
  (expecting the version it pointed at when the import read it). Aliases MLflow does not
  have are left alone: they may be modelyard's own.

Re-running syncs: new versions are registered, moved aliases move, a version already in
the catalog is `unchanged`. Catalog versions are immutable and MLflow tags and
descriptions are not: a version whose tags or description changed since its import is
`kept` as registered, naming the fields; one whose artifacts changed is refused.

All of it is one catalog transaction: on any error nothing is registered, no alias
moves, and the folders this run downloaded are removed again (also after a dry run).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelyard.catalog.manifest import ArtifactUnreadable, ManifestDocument, artifact_digest
from modelyard.catalog.naming import check_name, model_id, normalised_name
from modelyard.catalog.ref import check_alias_name
from modelyard.catalog.spec import ModelSpec, differing_fields
from modelyard.catalog.version import Version
from modelyard.errors import Conflict, InputError, NotFound
from modelyard.integrations.mlflow import MlflowClient, ModelVersion, RegisteredModel
from modelyard.ops.catalog import ARTIFACT_STORE, apply_audit, refuse_state_artifacts
from modelyard.ops.context import Context, paused_gc
from modelyard.registry import apply_documents
from modelyard.store.access import record as record_audit
from modelyard.store.store import CatalogTransaction

TAG_PREFIX = "modelyard."
DOMAIN_TAG = "modelyard.domain"
NAME_TAG = "modelyard.name"
DEFAULTED_LABEL = "modelyard_defaulted"
IMPORTED_MODEL_TYPE = "imported"
MLFLOW_ARTIFACTS = ARTIFACT_STORE / "mlflow"
# MLflow's version states; only READY versions have their files in place.
READY = "READY"

# Tag -> (the field's dotted path, its type). Read from the version's tags, else the
# registered model's.
FIELD_TAGS: dict[str, tuple[str, type]] = {
    "modelyard.framework": ("framework", str),
    "modelyard.model_type": ("model_type", str),
    "modelyard.memory_mb": ("resource_requirements.memory_mb", int),
    "modelyard.gpu_memory_mb": ("resource_requirements.gpu_memory_mb", int),
    "modelyard.cpu_cores": ("resource_requirements.cpu_cores", float),
    "modelyard.max_batch_size": ("resource_requirements.max_batch_size", int),
    "modelyard.instance_count": ("resource_requirements.instance_count", int),
    "modelyard.max_latency_p99_ms": ("sla_requirements.max_latency_p99_ms", float),
    "modelyard.min_throughput_rps": ("sla_requirements.min_throughput_rps", float),
    "modelyard.availability": ("sla_requirements.availability", float),
    # JSON lists of tensors: [{"name": "X", "data_type": "FP32", "dims": [-1, 8]}]
    "modelyard.inputs": ("inputs", list),
    "modelyard.outputs": ("outputs", list),
}
KNOWN_TAGS = frozenset({DOMAIN_TAG, NAME_TAG, *FIELD_TAGS})
# The model file Triton's auto-complete picks a backend from (as triton/importer.py).
_FRAMEWORK_BY_FILE = (
    ("model.plan", "tensorrt"),
    ("model.onnx", "onnx"),
    ("model.pt", "pytorch"),
    ("model.savedmodel", "tensorflow"),
    ("saved_model.pb", "tensorflow"),
    ("model.py", "python"),
)


class ImportedVersion(BaseModel):
    """One MLflow version and the catalog version it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mlflow_model: str
    mlflow_version: int
    ref: str
    # created: registered by this run (would be, on a dry run); unchanged: registered
    # already, identical; kept: registered already, and MLflow's tags or description
    # changed since (`differing` names the fields): catalog versions are immutable.
    status: Literal["created", "unchanged", "kept"]
    artifact: str
    artifact_sha256: str
    # Each field that no tag set: modelyard's default was used.
    defaulted: list[str]
    differing: list[str] = Field(default_factory=list)


class AliasSync(BaseModel):
    """One MLflow alias and what happened to the modelyard alias of the same name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    alias: str
    version: str
    previous: str | None
    status: Literal["created", "moved", "unchanged"]


class MlflowImportResult(BaseModel):
    """What `import-mlflow` registered and moved (or, on a dry run, would)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    dry_run: bool = False
    tracking_uri: str
    models: list[str]
    versions: list[ImportedVersion]
    aliases: list[AliasSync]
    # MLflow versions left out and why (not READY; an alias on such a version).
    skipped: list[str] = Field(default_factory=list)


@dataclass
class _Planned:
    model: RegisteredModel
    domain: str
    name: str

    @property
    def id(self) -> str:
        return model_id(self.domain, self.name)


def import_mlflow(
    ctx: Context,
    tracking_uri: str,
    *,
    domain: str,
    owner_team: str,
    name_filter: str | None = None,
    dry_run: bool = False,
    client: MlflowClient | None = None,
) -> MlflowImportResult:
    """Register the models of the MLflow registry at `tracking_uri` (those whose name
    matches the glob `name_filter`), and move their aliases, in one transaction.

    Raises:
        InputError: a bad flag, a name or alias that cannot be mapped, a bad tag value.
        RegistryError: MLflow does not answer or refuses, or a version has no artifacts.
        Conflict: a version's artifacts changed in MLflow since its import, or an alias
            moved in the catalog while this import ran.
    """
    if ctx.root is None:
        raise InputError(
            "import-mlflow needs a workspace: the artifacts go into its "
            f"{MLFLOW_ARTIFACTS} folder (`modelyard init` makes one)"
        )
    try:
        check_name(domain, "domain")
    except ValueError as exc:
        raise InputError(f"--domain: {exc}") from None
    own_client = client is None
    mlflow = client if client is not None else MlflowClient(tracking_uri)
    try:
        models = [
            mlflow.registered_model(name)
            for name in mlflow.model_names()
            if name_filter is None or fnmatch.fnmatchcase(name, name_filter)
        ]
        planned = _plan_ids(models, domain)
        for plan in planned:
            for alias in plan.model.aliases:
                check_alias_name(alias, f"MLflow model {plan.model.name!r}: alias")
        with _downloads(keep=not dry_run) as downloads:
            return _import(ctx, mlflow, planned, owner_team, dry_run, downloads)
    finally:
        if own_client:
            mlflow.close()


def _import(
    ctx: Context,
    mlflow: MlflowClient,
    planned: Sequence[_Planned],
    owner_team: str,
    dry_run: bool,
    downloads: _Downloads,
) -> MlflowImportResult:
    assert ctx.root is not None
    documents: list[ManifestDocument] = []
    defaulted: dict[str, list[str]] = {}
    sources: dict[str, tuple[str, int]] = {}
    skipped: list[str] = []
    imported: dict[str, set[int]] = {}
    for plan in planned:
        imported[plan.id] = set()
        for version in plan.model.versions:
            what = f"MLflow model {plan.model.name!r} version {version.version}"
            if version.status != READY:
                skipped.append(f"{what}: status {version.status}, not READY")
                continue
            folder, digest = _download(ctx.root, mlflow, plan, version, what, downloads)
            spec, fields = _spec(plan, version, folder, digest, owner_team, what)
            documents.append(ManifestDocument(spec, f"mlflow:{plan.model.name}/{version.version}"))
            defaulted[spec.ref] = fields
            sources[spec.ref] = (plan.model.name, version.version)
            imported[plan.id].add(version.version)
    refuse_state_artifacts(ctx, documents)
    new, statuses, differing = _compare(ctx, documents)
    moves, alias_results = _plan_aliases(ctx, planned, imported, skipped)

    def sync_aliases(tx: CatalogTransaction) -> None:
        for change in moves:
            record = tx.set_alias(
                change.model_id,
                change.alias,
                change.version,
                expect=change.previous,
                expect_absent=change.previous is None,
            )
            record_audit(
                tx,
                ctx.actor,
                "alias.set",
                f"{record.model_id} alias {record.name}",
                None if change.previous is None else {"version": change.previous},
                {"version": record.version, "revision": record.revision, "from": "mlflow"},
            )

    with paused_gc():
        applied = apply_documents(
            ctx.store,
            new,
            dry_run=dry_run,
            audit=apply_audit(ctx.actor),
            then=None if dry_run else lambda tx, _: sync_aliases(tx),
        )
    statuses.update(dict.fromkeys(applied.unchanged, "unchanged"))
    versions = []
    for document in documents:
        spec = document.spec
        name, number = sources[spec.ref]
        versions.append(
            ImportedVersion(
                mlflow_model=name,
                mlflow_version=number,
                ref=spec.ref,
                status=statuses.get(spec.ref, "created"),  # type: ignore[arg-type]
                artifact=str(spec.artifact),
                artifact_sha256=str(spec.artifact_sha256),
                defaulted=defaulted[spec.ref],
                differing=differing.get(spec.ref, []),
            )
        )
    return MlflowImportResult(
        dry_run=dry_run,
        tracking_uri=mlflow.tracking_uri,
        models=[plan.id for plan in planned],
        versions=versions,
        aliases=alias_results,
        skipped=skipped,
    )


# Names ---------------------------------------------------------------------------------


def _plan_ids(models: Sequence[RegisteredModel], domain: str) -> list[_Planned]:
    """Each model's catalog id; InputError for one that cannot be mapped or two that map
    to the same id."""
    planned: list[_Planned] = []
    taken: dict[str, str] = {}
    for model in models:
        plan = _Planned(
            model,
            _tagged_name(model, DOMAIN_TAG, model.tags.get(DOMAIN_TAG) or domain, "domain"),
            _tagged_name(
                model, NAME_TAG, model.tags.get(NAME_TAG) or normalised_name(model.name), "name"
            ),
        )
        if plan.id in taken:
            raise InputError(
                f"MLflow models {taken[plan.id]!r} and {model.name!r} both become {plan.id}; "
                f"give one a `{NAME_TAG}` tag in MLflow, or narrow --name-filter"
            )
        taken[plan.id] = model.name
        planned.append(plan)
    return planned


def _tagged_name(model: RegisteredModel, tag: str, value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except ValueError as exc:
        source = f"its tag {tag}" if tag in model.tags else f"the MLflow name {model.name!r}"
        raise InputError(
            f"MLflow model {model.name!r}: cannot become a catalog {what} (from {source}): "
            f"{exc}; set the registered model's tag `{tag}` in MLflow"
        ) from None


# Artifacts -----------------------------------------------------------------------------


@dataclass
class _Downloads:
    """The folders one run writes in the artifact store."""

    created: list[Path]
    partial: list[Path]


@contextmanager
def _downloads(*, keep: bool) -> Iterator[_Downloads]:
    """The folders a run creates in the artifact store: removed again when the run
    fails, or when `keep` is false (a dry run). Its unfinished downloads always go; only
    its own, as another import may be downloading into the same store."""
    downloads = _Downloads([], [])
    ok = False
    try:
        yield downloads
        ok = True
    finally:
        for folder in downloads.partial + ([] if ok and keep else downloads.created):
            shutil.rmtree(folder, ignore_errors=True)


def _download(
    root: Path,
    mlflow: MlflowClient,
    plan: _Planned,
    version: ModelVersion,
    what: str,
    downloads: _Downloads,
) -> tuple[Path, str]:
    """The version's artifacts in the content-addressed store (downloaded, then moved
    to the folder named by their digest unless that folder holds them already)."""
    base = root / MLFLOW_ARTIFACTS
    partial = base / ".partial" / uuid.uuid4().hex
    downloads.partial.append(partial)
    partial.mkdir(parents=True)
    uri = mlflow.download_uri(version.name, version.version) or version.source
    mlflow.download(uri, partial, what=what)
    try:
        digest = artifact_digest(partial)
    except ArtifactUnreadable as exc:
        raise InputError(f"{what}: {exc}") from None
    final = base / plan.domain / plan.name / str(version.version) / digest
    if final.is_dir() and _digest_or_none(final) == digest:
        shutil.rmtree(partial)
        return final.resolve(), digest
    if final.exists():  # changed behind modelyard's back: replace it with what it names
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(final)
    downloads.created.append(final)
    return final.resolve(), digest


def _digest_or_none(folder: Path) -> str | None:
    try:
        return artifact_digest(folder)
    except ArtifactUnreadable:
        return None


# Specs ---------------------------------------------------------------------------------


def _spec(
    plan: _Planned, version: ModelVersion, folder: Path, digest: str, owner_team: str, what: str
) -> tuple[ModelSpec, list[str]]:
    """The catalog spec of one version, and the fields left to modelyard's defaults."""
    model = plan.model
    tags = {**model.tags, **version.tags}
    unknown = sorted(k for k in tags if k.startswith(TAG_PREFIX) and k not in KNOWN_TAGS)
    if unknown:
        raise InputError(
            f"{what}: unknown tag {unknown[0]!r}; modelyard reads {', '.join(sorted(KNOWN_TAGS))}"
        )
    data: dict[str, Any] = {
        "name": plan.name,
        "version": f"{version.version}.0",
        "domain": plan.domain,
        "owner_team": owner_team,
        "description": version.description
        or model.description
        or f"Imported from MLflow model {model.name!r} version {version.version}.",
        "artifact": str(folder),
        "artifact_sha256": digest,
    }
    defaulted: list[str] = []
    for tag, (path, kind) in FIELD_TAGS.items():
        if tag in tags:
            _set(data, path, _value(tags[tag], kind, tag, what))
        else:
            defaulted.append(path)
    if "framework" not in data:
        data["framework"] = _framework_of(folder, what)
    if data["framework"] == "onnx":
        # The compiler reads an ONNX model's tensors from its file: nothing defaulted.
        defaulted = [f for f in defaulted if f not in ("inputs", "outputs")]
    data.setdefault("model_type", IMPORTED_MODEL_TYPE)
    labels = {k: v for k, v in tags.items() if not k.startswith(TAG_PREFIX)}
    labels["mlflow_model"] = model.name
    labels["mlflow_version"] = str(version.version)
    if version.run_id:
        labels["mlflow_run_id"] = version.run_id
    if defaulted:
        labels[DEFAULTED_LABEL] = ",".join(defaulted)
    data["labels"] = labels
    try:
        return ModelSpec.model_validate(data), defaulted
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "spec"
        message = str(first["msg"]).removeprefix("Value error, ")
        if where == "owner_team":
            raise InputError(f"--owner-team: {message}") from None
        culprit = next((t for t, (p, _) in FIELD_TAGS.items() if where.startswith(p)), None)
        fix = f"; fix the tag `{culprit}` in MLflow" if culprit in tags else ""
        raise InputError(f"{what}: {where}: {message}{fix}") from None


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        data.setdefault(head, {})[rest] = value
    else:
        data[head] = value


def _value(text: str, kind: type, tag: str, what: str) -> Any:
    try:
        if kind is list:
            value = json.loads(text)
            if not isinstance(value, list):
                raise ValueError("expected a JSON list")
            return value
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError as exc:
        example = '[{"name": "X", "data_type": "FP32", "dims": [-1, 8]}]' if kind is list else ""
        expected = {int: "an integer", float: "a number", list: f"a JSON list like {example}"}
        raise InputError(
            f"{what}: tag {tag}={text!r}: expected {expected[kind]} ({exc}); fix the tag in MLflow"
        ) from None
    return text


def _framework_of(folder: Path, what: str) -> str:
    for file_name, framework in _FRAMEWORK_BY_FILE:
        if (folder / file_name).exists():
            return framework
    raise InputError(
        f"{what}: no tag modelyard.framework and no model file Triton recognises in its "
        f"artifacts ({', '.join(n for n, _ in _FRAMEWORK_BY_FILE)}); set the version's tag "
        "`modelyard.framework` in MLflow (onnx, python, pytorch, tensorflow, tensorrt)"
    )


# Registered already? -------------------------------------------------------------------


def _compare(
    ctx: Context, documents: Sequence[ManifestDocument]
) -> tuple[list[ManifestDocument], dict[str, str], dict[str, list[str]]]:
    """(what to register, the status of each version registered already, the fields
    differing for a `kept` one). Conflict when a version's artifacts changed."""
    new: list[ManifestDocument] = []
    statuses: dict[str, str] = {}
    differing: dict[str, list[str]] = {}
    with ctx.store.reader() as tx:
        registered = tx.digests([(d.spec.id, d.spec.parsed_version) for d in documents])
        for document in documents:
            spec = document.spec
            digest = registered.get((spec.id, spec.parsed_version))
            if digest is None:
                new.append(document)
                continue
            try:
                stored = tx.get(spec.id, spec.version).spec
            except NotFound:  # pragma: no cover - removed between the two reads
                new.append(document)
                continue
            fields = differing_fields(stored, spec)
            if not fields:
                new.append(document)  # apply_documents reports it unchanged
            elif "artifact_sha256" in fields:
                raise Conflict(
                    f"{document.source}: its artifacts changed since it was imported as "
                    f"{spec.ref} (SHA-256 {stored.artifact_sha256} -> {spec.artifact_sha256}); "
                    "a published version is immutable: register the new files as a new "
                    "MLflow version; nothing was imported"
                )
            else:
                statuses[spec.ref] = "kept"
                differing[spec.ref] = fields
    return new, statuses, differing


# Aliases -------------------------------------------------------------------------------


def _plan_aliases(
    ctx: Context,
    planned: Sequence[_Planned],
    imported: dict[str, set[int]],
    skipped: list[str],
) -> tuple[list[AliasSync], list[AliasSync]]:
    """(the moves to make, every MLflow alias's outcome)."""
    current = {(a.model_id, a.name): a.version for a in ctx.store.aliases()}
    moves: list[AliasSync] = []
    results: list[AliasSync] = []
    for plan in planned:
        for alias, number in sorted(plan.model.aliases.items()):
            if number not in imported[plan.id]:
                skipped.append(
                    f"MLflow model {plan.model.name!r} alias {alias!r}: points at version "
                    f"{number}, which was not imported"
                )
                continue
            version = f"{number}.0"
            previous = current.get((plan.id, alias))
            if previous is not None and _same_version(previous, version):
                status: Literal["created", "moved", "unchanged"] = "unchanged"
            else:
                status = "created" if previous is None else "moved"
            change = AliasSync(
                model_id=plan.id, alias=alias, version=version, previous=previous, status=status
            )
            results.append(change)
            if status != "unchanged":
                moves.append(change)
    return moves, results


def _same_version(a: str, b: str) -> bool:
    return Version.parse(a) == Version.parse(b)
