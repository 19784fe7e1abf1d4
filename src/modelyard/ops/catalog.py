"""Catalog use cases: register, look up, walk dependencies, move aliases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.manifest import ManifestDocument, load_manifests, parse_manifest_text
from modelyard.catalog.ref import ModelRef, check_alias_name, check_version, model_id_of
from modelyard.catalog.spec import ModelSpec
from modelyard.catalog.version import Version
from modelyard.errors import Forbidden, InputError, NotFound
from modelyard.graph.resolve import resolve
from modelyard.ops.context import Context, paused_gc
from modelyard.registry import ApplyResult, apply_documents
from modelyard.report.graphs import GraphView, neighbourhood
from modelyard.selection import CatalogView, load_index, select
from modelyard.store.access import record as record_audit
from modelyard.store.store import AliasRecord, CatalogTransaction
from modelyard.triton.importer import read_triton_repository

# An audit entry lists at most this many created versions (and counts them all).
AUDIT_LIST_LIMIT = 100


class ShowResult(BaseModel):
    """One model version in full: spec, other versions, aliases, resolved dependencies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    id: str
    spec: ModelSpec
    content_digest: str
    registered_at: datetime
    source: str | None
    versions: list[str]
    aliases: dict[str, str]
    # Each declared dependency and the version it resolves to (None: unresolved).
    dependencies: dict[str, str | None]
    dependents: list[str]


def apply(ctx: Context, paths: Sequence[str | Path], *, dry_run: bool = False) -> ApplyResult:
    """Register every manifest under `paths` in one transaction."""
    with paused_gc():
        return apply_documents(
            ctx.store, load_manifests(paths), dry_run=dry_run, audit=_apply_audit(ctx.actor)
        )


def apply_text(
    ctx: Context,
    text: str,
    *,
    source: str = "<api>",
    dry_run: bool = False,
    owner_team: str | None = None,
    base_dir: Path | None = None,
    artifact_roots: Sequence[Path] | None = None,
) -> ApplyResult:
    """Register the manifests in `text` (YAML, `---` between documents), as `apply` does.

    With `owner_team`, every document and every model it adds a version to must be
    owned by that team. A relative `artifact` is relative to `base_dir` (default: the
    current folder); with `artifact_roots` (e.g. `api_artifact_roots`), an artifact
    resolving outside them is refused before it is opened.

    Raises:
        Forbidden: a model of another team (with `owner_team`), or an artifact outside
            `artifact_roots`.
    """
    documents = parse_manifest_text(text, source, base_dir=base_dir, artifact_roots=artifact_roots)
    if not documents:
        raise InputError(f"{source}: no manifest documents (name, version, ...) in the text")
    if owner_team is not None:
        _check_owner(ctx, documents, owner_team)
    with paused_gc():
        return apply_documents(ctx.store, documents, dry_run=dry_run, audit=_apply_audit(ctx.actor))


def import_triton(
    ctx: Context, root: str | Path, *, domain: str, owner_team: str, dry_run: bool = False
) -> ApplyResult:
    """Register an existing Triton repository's models (see triton/importer.py)."""
    documents = read_triton_repository(Path(root), domain=domain, owner_team=owner_team)
    with paused_gc():
        return apply_documents(ctx.store, documents, dry_run=dry_run, audit=_apply_audit(ctx.actor))


def api_artifact_roots(ctx: Context) -> list[Path]:
    """The folders registrations through the API may name artifacts in, resolved:
    `api.artifact_roots` of modelyard.yaml, by default the workspace folder (none
    without one)."""
    configured = ctx.config.api.artifact_roots
    if ctx.root is None:
        return []
    if configured is None:
        return [ctx.root.resolve()]
    return [(ctx.root / root).resolve() for root in configured]


def owner_of(ctx: Context, model_id: str) -> str:
    """The owner team of a model: its newest version's `owner_team`."""
    return ctx.store.get(model_id).spec.owner_team


def newest_specs(specs: Sequence[ModelSpec]) -> list[ModelSpec]:
    """The newest version of each model among `specs`, in first-seen order of the models."""
    newest: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.id not in newest or spec.parsed_version > newest[spec.id].parsed_version:
            newest[spec.id] = spec
    return list(newest.values())


def _check_owner(ctx: Context, documents: Sequence[ManifestDocument], team: str) -> None:
    for document in documents:
        if document.spec.owner_team != team:
            raise Forbidden(
                f"{document.where}: {document.spec.ref} is owned by "
                f"{document.spec.owner_team!r}; team {team!r} may only "
                "register models it owns"
            )
    ids = {d.spec.id for d in documents}
    registered = newest_specs([stored.spec for stored in ctx.store.versions(ids)])
    for spec in sorted(registered, key=lambda s: s.id):
        if spec.owner_team != team:
            raise Forbidden(
                f"{spec.id} is owned by {spec.owner_team!r}; team {team!r} "
                "may not add versions to it"
            )


def _apply_audit(actor: str) -> Callable[[CatalogTransaction, ApplyResult], None]:
    """The audit entry of a registration, written in the registering transaction."""

    def write(tx: CatalogTransaction, result: ApplyResult) -> None:
        shown = result.created[:AUDIT_LIST_LIMIT]
        record_audit(
            tx,
            actor,
            "model.register",
            ", ".join(shown)[:200],
            None,
            {"created": shown, "created_count": len(result.created)},
        )

    return write


def resolve_ref(ctx: Context, reference: str) -> tuple[str, str | None]:
    """`domain/name[@version|@alias]` -> (model id, version or None for the newest).

    Raises:
        InputError: a malformed reference.
        NotFound: the model has no such alias.
    """
    ref = ModelRef.parse(reference)
    if ref.alias is None:
        return ref.model_id, ref.version
    for record in ctx.store.aliases(ref.model_id):
        if record.name == ref.alias:
            return ref.model_id, record.version
    ctx.store.get(ref.model_id)  # NotFound naming the model, if that is what is missing
    raise NotFound(
        f"{ref.model_id} has no alias {ref.alias!r}; `modelyard alias list {ref.model_id}` "
        "shows its aliases"
    )


def list_models(
    ctx: Context,
    *,
    domain: str | None = None,
    team: str | None = None,
    framework: str | None = None,
    all_versions: bool = False,
) -> list[ModelSpec]:
    """Registered models (the newest version of each, or every version)."""
    specs = [v.spec for v in ctx.store.versions()]
    if not all_versions:
        specs = newest_specs(specs)
    return [
        s
        for s in specs
        if (domain is None or s.domain == domain)
        and (team is None or s.owner_team == team)
        and (framework is None or s.framework == framework)
    ]


def show(ctx: Context, reference: str) -> ShowResult:
    """One version (`@version`, `@alias`, or the newest) in full."""
    model_id, version = resolve_ref(ctx, reference)
    stored = ctx.store.get(model_id, version)
    spec = stored.spec
    with ctx.store.reader() as tx:
        index = load_index(tx)
        versions = [str(e.version) for e in reversed(index.by_model[model_id])]
        aliases = tx.aliases(model_id)
    resolution = resolve(index, [spec.ref])
    dependencies = {
        str(d): resolution.resolved.get((spec.ref, d.model_id)) for d in spec.parsed_dependencies
    }
    return ShowResult(
        ref=spec.ref,
        id=spec.id,
        spec=spec,
        content_digest=stored.content_digest,
        registered_at=stored.registered_at,
        source=stored.source,
        versions=versions,
        aliases={a.name: a.version for a in aliases},
        dependencies=dependencies,
        dependents=impact(ctx, spec.ref),
    )


def dependencies(ctx: Context, reference: str) -> list[str]:
    """Every version `reference` needs, each once, dependencies first."""
    view = view_of(ctx, reference)
    return view.graph.transitive_dependencies(view.roots[0])


def impact(ctx: Context, reference: str) -> list[str]:
    """Every registered version that needs `reference` (directly or not), nearest first.

    All versions count, not only the newest: an older ranker that `production` still
    points at breaks as surely as the newest one.
    """
    model_id, version = resolve_ref(ctx, reference)
    with ctx.store.reader() as tx:
        index = load_index(tx)
    entries = index.by_model.get(model_id, [])
    targets = [e.ref for e in entries if version is None or e.version == Version.parse(version)]
    if not targets:
        ctx.store.get(model_id, version)  # raises NotFound naming what is missing
    graph = resolve(index).graph
    seen: dict[str, None] = {}
    for target in targets:
        for ref in graph.transitive_dependents(target):
            if model_id_of(ref) != model_id:
                seen[ref] = None
    return list(seen)


def view_of(ctx: Context, reference: str) -> CatalogView:
    """The closed selection of one model: a version, its alias's version, or the newest."""
    model_id, version = resolve_ref(ctx, reference)
    if version is None:
        return select(ctx.store, model_ids=[model_id])
    stored = ctx.store.get(model_id, version)
    with ctx.store.reader() as tx:
        index = load_index(tx)
    resolution = resolve(index, [stored.spec.ref])
    return CatalogView([stored.spec.ref], {stored.spec.ref: stored.spec}, resolution, index)


def graph_view(
    ctx: Context, reference: str | None = None, *, alias: str | None = None
) -> GraphView:
    """The whole selection's graph, or one model's neighbourhood."""
    view = select(ctx.store, alias=alias)
    if reference is None:
        return GraphView.of(view.graph, view.specs)
    model_id, version = resolve_ref(ctx, reference)
    wanted = Version.parse(version) if version is not None else None
    refs = [
        ref
        for ref, spec in view.specs.items()
        if spec.id == model_id and (wanted is None or spec.parsed_version == wanted)
    ]
    if not refs:
        raise NotFound(f"{reference} is not in this selection; `modelyard list` shows the catalog")
    nodes: set[str] = set()
    hidden = 0
    for ref in refs:
        shown, more = neighbourhood(view.graph, ref)
        nodes.update(shown)
        hidden += more
    return GraphView.of(view.graph, view.specs, nodes, hidden=hidden)


def set_alias(
    ctx: Context, reference: str, alias: str, version: str, *, expect: str | None = None
) -> AliasRecord:
    """Move alias `alias` of a model to `version`; `expect` makes it compare-and-set
    (`expect="none"` means the alias must not exist yet)."""
    model_id = ModelRef.parse(reference).model_id
    check_alias_name(alias)
    check_version(version, "VERSION")
    expect_absent = expect is not None and expect.lower() == "none"
    if expect is not None and not expect_absent:
        check_version(expect, "--expect")
    # The move and its audit entry commit together.
    with ctx.store.transaction() as tx:
        before = next(
            (
                {"version": a.version, "revision": a.revision}
                for a in tx.aliases(model_id)
                if a.name == alias
            ),
            None,
        )
        record = tx.set_alias(
            model_id,
            alias,
            version,
            expect=None if expect is None or expect_absent else expect,
            expect_absent=expect_absent,
        )
        record_audit(
            tx,
            ctx.actor,
            "alias.set",
            f"{record.model_id} alias {record.name}",
            before,
            {"version": record.version, "revision": record.revision},
        )
    return record


def aliases(ctx: Context, reference: str | None = None) -> list[AliasRecord]:
    """Every alias (of one model, or of all)."""
    model_id = ModelRef.parse(reference).model_id if reference else None
    if model_id is not None:
        ctx.store.get(model_id)
    return ctx.store.aliases(model_id)
