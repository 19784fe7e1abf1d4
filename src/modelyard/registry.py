"""Registering manifests: one transaction for a whole batch, in any order.

Checks, in order, before anything is written: every document is valid (done by the
manifest loader), no id@version appears twice in the batch, no registered version
would change (published versions are immutable), every dependency of the new
versions resolves against the catalog plus the batch, and no dependency cycle appears.
Capacity never blocks registration; `validate` reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field

from modelyard.catalog.manifest import ManifestDocument
from modelyard.catalog.spec import TensorSpec, differing_fields
from modelyard.catalog.version import Version
from modelyard.errors import (
    Conflict,
    Forbidden,
    InputError,
    Problem,
    Severity,
    ValidationFailed,
    VersionConflict,
)
from modelyard.graph.resolve import VersionEntry, VersionIndex, cycle_problems, entry_for, resolve
from modelyard.store.store import CatalogStore, CatalogTransaction
from modelyard.triton.compile_memo import CompileMemo
from modelyard.triton.compiler import FILE_NAME_MAX_BYTES, check_new_version, io_key, show_io
from modelyard.triton.config import ModelConfig
from modelyard.triton.naming import check_triton_name
from modelyard.triton.onnx_io import ArtifactError, read_onnx_io
from modelyard.triton.rules import check_file_names


class ApplyResult(BaseModel):
    """What an apply registered (or, on a dry run, would register)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    dry_run: bool = False
    created: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    # Models handed to another team (--transfer-owner): model id -> {"from", "to"}.
    transferred: dict[str, dict[str, str]] = Field(default_factory=dict)


def apply_documents(
    store: CatalogStore,
    documents: Sequence[ManifestDocument],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    audit: Callable[[CatalogTransaction, ApplyResult], None] | None = None,
    registering_team: str | None = None,
    transfer_owner: bool = False,
    then: Callable[[CatalogTransaction, ApplyResult], None] | None = None,
    memo: CompileMemo | None = None,
) -> ApplyResult:
    """Register `documents` in one transaction (nothing on a dry run). `audit` writes the
    audit entry of what was registered inside that transaction: both commit, or neither.
    `then` runs last in that transaction, also when nothing is new (import-mlflow moves
    aliases there, so that versions and aliases commit together); not on a dry run.
    `memo` learns the clean configs and ONNX tensors checked here, for later compiles
    (the caller saves it once the apply has committed).

    Ownership is checked inside the transaction, so two teams racing to register one new
    model cannot both win: a model belongs to the team of its newest version, a new
    version naming another `owner_team` is refused unless `transfer_owner`, and with
    `registering_team` (an API caller's team) every model must be that team's.

    Raises:
        InputError: the same id@version twice in the batch.
        VersionConflict: a registered version would get different content.
        ValidationFailed: missing or unsatisfiable dependencies, or a cycle.
        Forbidden: a model of another team (with `registering_team`).
        Conflict: an owner change without `transfer_owner`, or a Triton model name that
            another model already compiles to.
    """
    _reject_duplicates(documents)
    _check_triton_blocks(documents)
    # An ONNX file is read only for what may be new: a version registered with the same
    # digest was checked when it was registered (at 10,000 models, 3,000 files read for
    # nothing on each re-apply). Versions are never removed, so what is unchanged here is
    # still unchanged in the transaction.
    content = {_key(d): d.spec.content_digest() for d in documents}
    with store.reader() as tx:
        known = tx.digests(list(content))
    settled = {key for key, digest in content.items() if known.get(key) == digest}
    onnx_tensors = _check_onnx_artifacts([d for d in documents if _key(d) not in settled], memo)
    with store.transaction() as tx:
        registered = tx.digests([key for key in content if key not in settled])
        new: list[ManifestDocument] = []
        unchanged: list[str] = []
        for document in documents:
            key = _key(document)
            digest = content[key] if key in settled else registered.get(key)
            if digest is None:
                new.append(document)
            elif digest == content[key]:
                unchanged.append(document.spec.ref)
            else:
                # The stored spec decides, not its digest column: a digest left from an
                # older rule must neither block an unchanged version nor name no fields.
                stored = tx.get(document.spec.id, document.spec.version)
                fields = differing_fields(stored.spec, document.spec)
                if not fields:
                    unchanged.append(document.spec.ref)
                    continue
                _raise_conflict(document, fields)
        transferred = _check_owners(tx, new, registering_team, transfer_owner)
        _check_triton_names(tx, new)
        _check_requested_triton_versions(tx, new)
        _check_compiled_configs(new, onnx_tensors, memo)
        if new:
            index = VersionIndex(
                [
                    VersionEntry(
                        s.model_id, s.version, s.dependencies, s.yanked_reason, s.deprecated_reason
                    )
                    for s in tx.summaries()
                ]
                + [entry_for(d.spec) for d in new]
            )
            _check_graph(index, new)
        result = ApplyResult(
            dry_run=dry_run,
            created=sorted(d.spec.ref for d in new),
            unchanged=sorted(unchanged),
            transferred=transferred,
        )
        if not dry_run:
            tx.insert([(d.spec, d.source) for d in new], now=now, digests=content)
            if audit is not None and new:
                audit(tx, result)
            if then is not None:
                then(tx, result)
    return result


def _key(document: ManifestDocument) -> tuple[str, Version]:
    return document.spec.id, document.spec.parsed_version


def _check_owners(
    tx: CatalogTransaction,
    new: Sequence[ManifestDocument],
    registering_team: str | None,
    transfer_owner: bool,
) -> dict[str, dict[str, str]]:
    """The ownership rule (see apply_documents); returns the models handed over."""
    claimed: dict[str, ManifestDocument] = {}
    for document in new:
        first = claimed.setdefault(document.spec.id, document)
        if first.spec.owner_team != document.spec.owner_team:
            raise Conflict(
                f"{document.where}: {document.spec.ref} names owner_team "
                f"{document.spec.owner_team!r} and {first.where}: {first.spec.ref} names "
                f"{first.spec.owner_team!r}; one model has one owner team"
            )
    owners = tx.owners(claimed)
    transferred: dict[str, dict[str, str]] = {}
    for model_id, document in sorted(claimed.items()):
        owner = owners.get(model_id)
        wanted = document.spec.owner_team
        if registering_team is not None and owner not in (None, registering_team):
            raise Forbidden(
                f"{model_id} is owned by {owner!r}; team {registering_team!r} may not add "
                "versions to it"
            )
        if owner is not None and owner != wanted and not transfer_owner:
            raise Conflict(
                f"{document.where}: {document.spec.ref} names owner_team {wanted!r}, but "
                f"{model_id} is owned by {owner!r}; keep owner_team {owner!r}, or hand the "
                "model over explicitly with --transfer-owner (audited); nothing was registered"
            )
        if owner is not None and owner != wanted:
            transferred[model_id] = {"from": owner, "to": wanted}
    return transferred


def _check_triton_names(tx: CatalogTransaction, new: Sequence[ManifestDocument]) -> None:
    """One model id per Triton model name: a second claimant is refused, naming the owner
    (compile would otherwise fail for everyone whose selection holds both)."""
    claims: dict[str, ManifestDocument] = {}
    for document in new:
        first = claims.setdefault(document.spec.triton_name, document)
        if first.spec.id != document.spec.id:
            raise Conflict(
                f"{document.where}: {document.spec.ref} compiles to the Triton model "
                f"{document.spec.triton_name!r}, as {first.spec.ref} in the same batch does; "
                "choose another triton.name; nothing was registered"
            )
    for name, (model_id, owner) in sorted(tx.triton_name_owners(claims).items()):
        document = claims[name]
        if model_id != document.spec.id:
            raise Conflict(
                f"{document.where}: {document.spec.ref} compiles to the Triton model "
                f"{name!r}, which {model_id} (team {owner!r}) already compiles to; choose "
                "another triton.name (or another folder name for import-triton); nothing "
                "was registered"
            )


def _check_requested_triton_versions(
    tx: CatalogTransaction, new: Sequence[ManifestDocument]
) -> None:
    requested = [d for d in new if d.spec.triton_version is not None]
    if not requested:
        return
    taken = tx.triton_versions_in_use({d.spec.id for d in requested})
    problems = []
    for document in requested:
        in_use = taken.setdefault(document.spec.id, set())
        if document.spec.triton_version in in_use:
            problems.append(
                Problem(
                    Severity.ERROR,
                    "triton-version-taken",
                    f"Triton version folder {document.spec.triton_version} is already given to "
                    f"another version of {document.spec.id}; choose another or leave it out",
                    model=document.spec.ref,
                    source=document.source,
                    line=document.line,
                    field="triton_version",
                )
            )
        in_use.add(document.spec.triton_version or 0)
    if problems:
        raise InputError.from_problems(
            problems, "Triton version folders collide; nothing was applied"
        )


def _check_triton_blocks(documents: Sequence[ManifestDocument]) -> None:
    """A `triton` block must be a ModelConfig in Triton's JSON field names, and the names
    in it that become paths (`name` is the model folder, `default_model_filename` a file in
    each version folder) must stay inside the repository: checked before anything is
    registered, since a published version cannot be fixed later."""
    problems = []
    for document in documents:
        block = document.spec.triton
        if not block:
            continue
        reasons = []
        config = ModelConfig()
        try:
            json_format.ParseDict({k: v for k, v in block.items() if v is not None}, config)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            first_line = str(exc).splitlines()[0].rstrip(".") if str(exc) else type(exc).__name__
            reasons.append(
                (
                    "triton",
                    f"not a Triton model configuration: {first_line} (the keys "
                    "and values of Triton's model_config.proto, e.g. max_batch_size: 8)",
                )
            )
        else:
            # The other rules need the whole compiled config; these only the block.
            reasons += [
                (f"triton.{issue.field}", issue.message) for issue in check_file_names(config)
            ]
        name = block.get("name")
        if isinstance(name, str) and check_triton_name(name):
            reasons.append(("triton.name", str(check_triton_name(name))))
        file_name = block.get("default_model_filename")
        if isinstance(file_name, str) and len(file_name.encode()) > FILE_NAME_MAX_BYTES:
            reasons.append(
                (
                    "triton.default_model_filename",
                    f"a file name of {len(file_name.encode())} bytes is longer than file "
                    f"systems allow ({FILE_NAME_MAX_BYTES}); shorten it",
                )
            )
        problems += [
            Problem(
                Severity.ERROR,
                "triton-block",
                reason,
                model=document.spec.ref,
                source=document.source,
                line=document.line,
                field=field,
            )
            for field, reason in reasons
        ]
    if problems:
        raise InputError.from_problems(problems, "triton blocks are not valid; nothing was applied")


def _check_compiled_configs(
    new: Sequence[ManifestDocument],
    onnx_tensors: dict[str, tuple[list[TensorSpec], list[TensorSpec]]],
    memo: CompileMemo | None = None,
) -> None:
    """The config each new version compiles to must pass Triton's rules (a `triton` block
    can set `max_batch_size: -5`, `dims: [-2]` or `platform: ensemble` on a python
    model, which only the whole config shows): a published version cannot be fixed, and a
    broken one would make every later compile and validate of the catalog fail."""
    problems = [
        Problem(
            Severity.ERROR,
            "triton-config",
            reason,
            model=document.spec.ref,
            source=document.source,
            line=document.line,
            field=field,
        )
        for document in new
        for field, reason in check_new_version(
            document.spec, onnx_tensors.get(document.spec.ref), memo
        )
    ]
    if problems:
        raise InputError.from_problems(
            problems, "Triton would refuse these configurations; nothing was applied"
        )


def _check_onnx_artifacts(
    documents: Sequence[ManifestDocument], memo: CompileMemo | None = None
) -> dict[str, tuple[list[TensorSpec], list[TensorSpec]]]:
    """An ONNX artifact must be readable, and agree with the manifest's inputs/outputs:
    a published version is immutable, so a broken one would stay the newest for good.

    Returns: each ONNX version's tensors as read from its artifact, by ref."""
    problems = []
    read: dict[str, tuple[list[TensorSpec], list[TensorSpec]]] = {}
    for document in documents:
        spec = document.spec
        if spec.framework != "onnx" or spec.artifact is None:
            continue
        file_name = str(spec.triton.get("default_model_filename") or "model.onnx")
        max_batch = spec.resource_requirements.max_batch_size
        artifact = document.artifact_path
        assert artifact is not None
        try:
            inputs, outputs = read_onnx_io(artifact, max_batch, file_name)
        except ArtifactError as exc:
            problems.append(
                Problem(
                    Severity.ERROR,
                    "artifact-unreadable",
                    str(exc),
                    model=spec.ref,
                    source=document.source,
                    line=document.line,
                    field="artifact",
                )
            )
            continue
        read[spec.ref] = (inputs, outputs)
        if memo is not None and spec.artifact_sha256:
            # Read just now from the file whose SHA-256 the spec pins (digested as it was
            # loaded): what compile reads from it after verifying that digest.
            memo.learn_tensors(spec.artifact_sha256, file_name, max_batch, (inputs, outputs))
        for declared, found, key in (
            (spec.inputs, inputs, "inputs"),
            (spec.outputs, outputs, "outputs"),
        ):
            if declared and io_key(declared) != io_key(found):
                problems.append(
                    Problem(
                        Severity.ERROR,
                        "artifact-io-mismatch",
                        f"the manifest declares {show_io(declared)} but {spec.artifact} has "
                        f"{show_io(found)}",
                        model=spec.ref,
                        source=document.source,
                        line=document.line,
                        field=key,
                    )
                )
    if problems:
        raise InputError.from_problems(
            problems, "artifacts do not match their manifests; nothing was applied"
        )
    return read


def _reject_duplicates(documents: Sequence[ManifestDocument]) -> None:
    seen: dict[tuple[str, Version], ManifestDocument] = {}
    problems: list[Problem] = []
    for document in documents:
        key = (document.spec.id, document.spec.parsed_version)
        first = seen.get(key)
        if first is None:
            seen[key] = document
            continue
        problems.append(
            Problem(
                Severity.ERROR,
                "duplicate-document",
                f"{document.spec.ref} is also defined at {first.where}; "
                "each version belongs in one document",
                model=document.spec.ref,
                source=document.source,
                line=document.line,
            )
        )
    if problems:
        raise InputError.from_problems(
            problems, "manifests define a version twice; nothing was applied"
        )


def _raise_conflict(document: ManifestDocument, fields: list[str]) -> None:
    raise VersionConflict(
        f"{document.where}: {document.spec.ref} is already registered with different "
        f"{', '.join(fields)}; a published version is immutable, so give the change a new "
        "version number",
        model=document.spec.ref,
        differing_fields=fields,
    )


def _check_graph(index: VersionIndex, new: Sequence[ManifestDocument]) -> None:
    by_ref = {d.spec.ref: d for d in new}
    new_refs = list(by_ref)
    # Only the new versions' own dependencies are checked: registered ones resolved when
    # they were applied (a yank since may have left one unresolved: validate says so).
    problems = [p for p in resolve(index, new_refs).problems]
    if not problems:
        # A new version can close a cycle through older ones, which resolve to the
        # newest match, so cycles are looked for in the whole catalog.
        problems = cycle_problems(resolve(index).graph)
    located = []
    for problem in problems:
        document = by_ref.get(problem.model or "")
        if problem.code == "cycle":
            document = next((by_ref[r] for r in problem.details["cycle"] if r in by_ref), document)
        if document is not None:
            position = problem.details.get("position")
            line = document.line_of_dependency(position) if position is not None else document.line
            problem = Problem(
                problem.severity,
                problem.code,
                problem.message,
                problem.model,
                document.source,
                line,
                problem.field,
                problem.details,
            )
        located.append(problem)
    if located:
        raise ValidationFailed.from_problems(
            located, "dependencies do not resolve; nothing was applied"
        )
