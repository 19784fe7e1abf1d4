"""Catalog use cases: register, look up, walk dependencies, move aliases, yank and
deprecate versions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.artifact_hashes import HASHES_FILE, ArtifactHashes
from modelyard.catalog.lifecycle import VersionStatus, check_reason
from modelyard.catalog.manifest import ManifestDocument, load_manifests, parse_manifest_text
from modelyard.catalog.parse_cache import ParseCache
from modelyard.catalog.real_paths import folders_resolved_once, is_within, real_path
from modelyard.catalog.ref import ModelRef, check_alias_name, check_version, model_id_of
from modelyard.catalog.spec import ModelSpec
from modelyard.catalog.version import Version
from modelyard.config import STATE_DIR
from modelyard.errors import Conflict, Forbidden, InputError, NotFound, Problem, Severity
from modelyard.graph.dag import DependencyGraph
from modelyard.graph.explore import domain_overview, layered_positions, within_hops
from modelyard.graph.resolve import VersionEntry, VersionIndex, resolve
from modelyard.ops.context import Context, paused_gc
from modelyard.ops.parse_ahead import parse_on_every_core
from modelyard.registry import ApplyResult, apply_documents
from modelyard.report.graphs import GraphView, domain_colour, neighbourhood
from modelyard.s3.artifacts import remote_artifacts
from modelyard.s3.store import is_s3_url
from modelyard.selection import CatalogView, alias_versions, load_index, select
from modelyard.store.access import record as record_audit
from modelyard.store.store import AliasRecord, CatalogTransaction, StoredVersion
from modelyard.triton.compile_memo import MEMO_FILE, CompileMemo
from modelyard.triton.importer import read_triton_repository

# An audit entry lists at most this many created versions (and counts them all).
AUDIT_LIST_LIMIT = 100
# Parsed manifests by content (catalog/parse_cache.py), inside the workspace's state.
PARSE_CACHE = Path(".modelyard") / "cache" / "manifests"
# Artifacts modelyard fetched (import-mlflow), inside the workspace's state: the one part
# of it an artifact may lie in, because each folder there is named by the SHA-256 of what
# it holds and never rewritten.
ARTIFACT_STORE = Path(STATE_DIR) / "artifacts"


class ShowResult(BaseModel):
    """One model version in full: spec, other versions, aliases, resolved dependencies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    id: str
    spec: ModelSpec
    # Whether this version is yanked or deprecated, why and since when.
    lifecycle: VersionStatus
    content_digest: str
    registered_at: datetime
    source: str | None
    versions: list[str]
    # The model's yanked or deprecated versions (this one included): version -> status.
    marked_versions: dict[str, VersionStatus]
    aliases: dict[str, str]
    # Each declared dependency and the version it resolves to (None: unresolved).
    dependencies: dict[str, str | None]
    dependents: list[str]


def apply(
    ctx: Context,
    paths: Sequence[str | Path],
    *,
    dry_run: bool = False,
    transfer_owner: bool = False,
) -> ApplyResult:
    """Register every manifest under `paths` in one transaction. A new version naming
    another `owner_team` than its model's is refused unless `transfer_owner` (audited)."""
    cache = ParseCache(ctx.root / PARSE_CACHE) if ctx.root is not None else None
    memo = CompileMemo.load(ctx.root / MEMO_FILE) if ctx.root is not None else CompileMemo()
    # What compile and validate know of the artifacts, and learn from each other: an
    # unchanged file is not read again here, nor by them after what is read here.
    hashes = ArtifactHashes.load(ctx.root / HASHES_FILE) if ctx.root is not None else None
    with paused_gc():  # reading builds millions of objects and no cycles worth collecting
        documents = load_manifests(
            paths,
            cache=cache,
            remote=remote_artifacts(ctx),
            parse_ahead=parse_on_every_core,
            artifact_hashes=hashes,
        )
    refuse_state_artifacts(ctx, documents)
    with paused_gc():
        result = apply_documents(
            ctx.store,
            documents,
            dry_run=dry_run,
            audit=apply_audit(ctx.actor),
            transfer_owner=transfer_owner,
            memo=memo,
        )
    if cache is not None and not dry_run:
        cache.flush()  # only once the catalog took them: a refused apply writes nothing
    if ctx.root is not None and not dry_run:
        memo.save(ctx.root / MEMO_FILE)
    if hashes is not None and ctx.root is not None:
        hashes.save(ctx.root / HASHES_FILE)  # true of the files whatever the apply did
    return result


def apply_text(
    ctx: Context,
    text: str,
    *,
    source: str = "<api>",
    dry_run: bool = False,
    owner_team: str | None = None,
    base_dir: Path | None = None,
    artifact_roots: Sequence[Path] | None = None,
    transfer_owner: bool = False,
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
    return apply_texts(
        ctx,
        [(source, text)],
        dry_run=dry_run,
        owner_team=owner_team,
        base_dir=base_dir,
        artifact_roots=artifact_roots,
        transfer_owner=transfer_owner,
    )


def apply_texts(
    ctx: Context,
    files: Sequence[tuple[str, str]],
    *,
    dry_run: bool = False,
    owner_team: str | None = None,
    base_dir: Path | None = None,
    artifact_roots: Sequence[Path] | None = None,
    transfer_owner: bool = False,
) -> ApplyResult:
    """Register the manifests of several `(source, text)` files in one transaction, as
    `apply_text` registers one (a `source` ending in `.json` is seed JSON): what a remote
    `modelyard apply` sends. Every file's problems are reported, not the first file's.

    A relative `artifact` is relative to its file's folder when `source` is an absolute
    path (as a local `apply` reads it: a client on this machine, or on a shared disk),
    else to `base_dir`. Either way `artifact_roots` decides what may be read, so the
    claimed folder gives no more than an absolute `artifact` would.

    Raises:
        Forbidden: as `apply_text`.
        InputError: as `apply_text`, for every file at once.
    """
    documents: list[ManifestDocument] = []
    problems: list[Problem] = []
    outside = False
    remote = remote_artifacts(ctx)
    cache = ParseCache(ctx.root / PARSE_CACHE) if ctx.root is not None else None
    with paused_gc():  # as `apply`: reading builds millions of objects and no cycles
        for source, text in files:
            folder = Path(source).parent if Path(source).is_absolute() else base_dir
            try:
                documents += parse_manifest_text(
                    text,
                    source,
                    base_dir=folder,
                    artifact_roots=artifact_roots,
                    remote=remote,
                    cache=cache,
                )
            except (InputError, Forbidden) as error:
                outside = outside or isinstance(error, Forbidden)
                problems += error.problems
    if problems:
        refused = Forbidden if outside else InputError
        raise refused.from_problems(problems, "manifests are not valid; nothing was applied")
    if not documents:
        where = ", ".join(source for source, _ in files) or "<api>"
        raise InputError(f"{where}: no manifest documents (name, version, ...) in the text")
    if owner_team is not None:
        _check_owner(documents, owner_team)
    refuse_state_artifacts(ctx, documents)
    with paused_gc():
        result = apply_documents(
            ctx.store,
            documents,
            dry_run=dry_run,
            audit=apply_audit(ctx.actor),
            registering_team=owner_team,
            transfer_owner=transfer_owner,
        )
    if cache is not None and not dry_run:
        cache.flush()  # only once the catalog took them, as `apply`
    return result


def import_triton(
    ctx: Context, root: str | Path, *, domain: str, owner_team: str, dry_run: bool = False
) -> ApplyResult:
    """Register an existing Triton repository's models (see triton/importer.py)."""
    documents = read_triton_repository(Path(root), domain=domain, owner_team=owner_team)
    refuse_state_artifacts(ctx, documents)
    with paused_gc():
        return apply_documents(ctx.store, documents, dry_run=dry_run, audit=apply_audit(ctx.actor))


def state_paths(ctx: Context) -> list[Path]:
    """What modelyard itself writes, resolved: the workspace's state folder, a SQLite
    catalog's files, and each declared target's repository with its generations. An
    artifact there would change under its registration (or vanish with a pruned
    generation)."""
    paths: list[Path] = []
    if ctx.root is not None:
        paths.append(ctx.root / STATE_DIR)
    url = ctx.store.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        paths += [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    for target in ctx.config.targets.values():
        if is_s3_url(target.repository):
            continue  # in object storage: no local path to guard
        repository = Path(target.repository)
        if ctx.root is not None and not repository.is_absolute():
            repository = ctx.root / repository
        repository = repository.absolute()
        paths += [repository, repository.parent / f".{repository.name}.generations"]
    return [path.resolve() for path in paths]


def refuse_state_artifacts(ctx: Context, documents: Sequence[ManifestDocument]) -> None:
    """InputError for a document whose artifact lies in what modelyard writes."""
    state = [str(folder) for folder in state_paths(ctx)]
    store = [str((ctx.root / ARTIFACT_STORE).resolve())] if ctx.root is not None else []
    with folders_resolved_once():
        for document in documents:
            if document.spec.artifact is None or is_s3_url(document.spec.artifact):
                continue
            artifact = real_path(document.spec.artifact)
            if is_within(artifact, store):
                continue
            folder = next((folder for folder in state if is_within(artifact, [folder])), None)
            if folder is not None:
                reason = (
                    f"artifact {artifact} is inside {folder}, which modelyard itself writes "
                    "(its state, catalog or a target's repository): it would change after "
                    "registration; keep artifacts elsewhere"
                )
                problem = Problem(
                    Severity.ERROR,
                    "artifact-in-state",
                    reason,
                    model=document.spec.ref,
                    field="artifact",
                    source=document.where,
                )
                raise InputError(f"{document.where}: {document.spec.ref}: {reason}", [problem])


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


def owners_of(ctx: Context, model_ids: Iterable[str]) -> dict[str, str]:
    """The owner team of each registered model among `model_ids` (as `owner_of`)."""
    return ctx.store.owners(model_ids)


def newest_specs(specs: Sequence[ModelSpec]) -> list[ModelSpec]:
    """The newest version of each model among `specs`, in first-seen order of the models."""
    newest: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.id not in newest or spec.parsed_version > newest[spec.id].parsed_version:
            newest[spec.id] = spec
    return list(newest.values())


def _check_owner(documents: Sequence[ManifestDocument], team: str) -> None:
    """Every document names the caller's team. Whether the models are that team's is
    checked in the registering transaction (registry._check_owners): a check here could
    be raced by another team's registration."""
    for document in documents:
        if document.spec.owner_team != team:
            raise Forbidden(
                f"{document.where}: {document.spec.ref} is owned by "
                f"{document.spec.owner_team!r}; team {team!r} may only "
                "register models it owns"
            )


def _listed_within(refs: Sequence[str], limit: int) -> str:
    """`a, b (+N more)`: as many whole references as fit in `limit` characters."""
    shown: list[str] = []
    for index, ref in enumerate(refs):
        more = f" (+{len(refs) - index - 1} more)" if index < len(refs) - 1 else ""
        if len(", ".join([*shown, ref]) + more) > limit:
            return ", ".join(shown) + f" (+{len(refs) - len(shown)} more)"
        shown.append(ref)
    return ", ".join(shown)


def apply_audit(actor: str) -> Callable[[CatalogTransaction, ApplyResult], None]:
    """The audit entry of a registration, written in the registering transaction."""

    def write(tx: CatalogTransaction, result: ApplyResult) -> None:
        shown = result.created[:AUDIT_LIST_LIMIT]
        record_audit(
            tx,
            actor,
            "model.register",
            _listed_within(result.created, 200),
            None,
            {"created": shown, "created_count": len(result.created)},
        )
        for model_id, change in sorted(result.transferred.items()):
            record_audit(
                tx,
                actor,
                "model.transfer_owner",
                model_id,
                {"owner_team": change["from"]},
                {"owner_team": change["to"]},
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
    labels: Sequence[str] = (),
) -> list[ModelSpec]:
    """Registered models (every version, or of each model the version the default
    selection takes: the newest not yanked; the newest, if every one is yanked).

    `labels` are `KEY=VALUE` (that label with that value) or `KEY` (that label with any
    value); a model must match them all. `version_statuses` says which of them are
    yanked or deprecated.

    Raises:
        InputError: a label selector that is empty or has an empty key.
    """
    wanted = [_label_selector(label) for label in labels]
    stored = ctx.store.versions()
    specs = [v.spec for v in stored] if all_versions else _listed(stored)
    return [
        s
        for s in specs
        if (domain is None or s.domain == domain)
        and (team is None or s.owner_team == team)
        and (framework is None or s.framework == framework)
        and all(
            key in s.labels and (value is None or s.labels[key] == value) for key, value in wanted
        )
    ]


def _label_selector(text: str) -> tuple[str, str | None]:
    key, has_value, value = text.partition("=")
    if not key.strip():
        raise InputError(f"--label {text!r}: expected KEY=VALUE or KEY, e.g. tier=gold")
    return key.strip(), value.strip() if has_value else None


def _listed(stored: Sequence[StoredVersion]) -> list[ModelSpec]:
    """Per model, in first-seen order: the newest version not yanked, else the newest."""
    chosen: dict[str, StoredVersion] = {}
    for version in stored:
        current = chosen.get(version.spec.id)
        if current is None or _listing_key(current) < _listing_key(version):
            chosen[version.spec.id] = version
    return [v.spec for v in chosen.values()]


def _listing_key(stored: StoredVersion) -> tuple[bool, Version]:
    return not stored.status.is_yanked, stored.spec.parsed_version


def version_statuses(
    ctx: Context, model_ids: Iterable[str] | None = None
) -> dict[str, VersionStatus]:
    """`domain/name@version` -> status, for each yanked or deprecated version (of
    `model_ids`, or of every model); versions not named are active."""
    with ctx.store.reader() as tx:
        return tx.marked(model_ids)


def show(ctx: Context, reference: str) -> ShowResult:
    """One version (`@version`, `@alias`, or the one a bare id selects: the newest not
    yanked) in full. Dependencies resolve as the selection would: after `@alias`, by
    the alias rule (selection.py)."""
    model_id, version = resolve_ref(ctx, reference)
    with ctx.store.reader() as tx:
        index = load_index(tx)
        if version is None and (default := index.default(model_id)) is not None:
            version = str(default.version)
        stored = tx.get(model_id, version)
        preferred = _preferred(tx, index, reference)
        aliases = tx.aliases(model_id)
        marked = tx.marked([model_id])
    spec = stored.spec
    versions = [str(e.version) for e in reversed(index.by_model[model_id])]
    resolution = resolve(index, [spec.ref], preferred)
    dependencies = {
        str(d): resolution.resolved.get((spec.ref, d.model_id)) for d in spec.parsed_dependencies
    }
    return ShowResult(
        ref=spec.ref,
        id=spec.id,
        spec=spec,
        lifecycle=stored.status,
        content_digest=stored.content_digest,
        registered_at=stored.registered_at,
        source=stored.source,
        versions=versions,
        marked_versions={ref.rpartition("@")[2]: status for ref, status in marked.items()},
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
    graph = index.everything().graph
    seen: dict[str, None] = {}
    for target in targets:
        for ref in graph.transitive_dependents(target):
            if model_id_of(ref) != model_id:
                seen[ref] = None
    return list(seen)


def view_of(ctx: Context, reference: str) -> CatalogView:
    """The closed selection of one model: a version, its alias's version (dependencies
    then resolve by the alias rule), or the newest not yanked."""
    model_id, version = resolve_ref(ctx, reference)
    if version is None:
        return select(ctx.store, model_ids=[model_id])
    with ctx.store.reader() as tx:
        stored = tx.get(model_id, version)
        index = load_index(tx)
        preferred = _preferred(tx, index, reference)
    resolution = resolve(index, [stored.spec.ref], preferred)
    return CatalogView([stored.spec.ref], {stored.spec.ref: stored.spec}, resolution, index)


def _preferred(
    tx: CatalogTransaction, index: VersionIndex, reference: str
) -> dict[str, VersionEntry]:
    """What dependencies prefer when `reference` names a version by alias (`@production`):
    that alias's versions (the alias rule, selection.py); nothing otherwise."""
    alias = ModelRef.parse(reference).alias
    return alias_versions(tx, index, alias) if alias is not None else {}


def graph_view(
    ctx: Context, reference: str | None = None, *, alias: str | None = None
) -> GraphView:
    """The whole selection's graph, or one model's neighbourhood (whose specs alone are
    read: at 10,000 models decoding every spec is most of a model page's time)."""
    view = select(ctx.store, alias=alias, with_specs=reference is None)
    if reference is None:
        return GraphView.of(view.graph, view.specs)
    nodes: set[str] = set()
    hidden = 0
    for ref in _selected_refs(ctx, view, reference):
        shown, more = neighbourhood(view.graph, ref)
        nodes.update(shown)
        hidden += more
    with ctx.store.reader() as tx:
        stored = tx.versions({model_id_of(ref) for ref in nodes})
    specs = {v.spec.ref: v.spec for v in stored if v.spec.ref in nodes}
    return GraphView.of(view.graph, specs, nodes, hidden=hidden)


def _selected_refs(ctx: Context, view: CatalogView, reference: str) -> list[str]:
    """The selection's versions `reference` names (every selected version of a model)."""
    model_id, version = resolve_ref(ctx, reference)
    wanted = Version.parse(version) if version is not None else None
    refs = sorted(
        ref
        for ref, entry in view.resolution.entries.items()
        if entry.model_id == model_id and (wanted is None or entry.version == wanted)
    )
    if not refs:
        raise NotFound(f"{reference} is not in this selection; `modelyard list` shows the catalog")
    return refs


# Above this many models, the graph viewer starts from one node per domain.
OVERVIEW_ABOVE = 300
# A model view draws at most this many models (the nearest or first ones).
GRAPH_MODELS_LIMIT = 1500
GRAPH_HOPS_MAX = 10


class GraphNode(BaseModel):
    """A node of the viewer: a model version, or a whole domain in the overview."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: Literal["model", "domain"]
    label: str
    domain: str
    colour: str
    models: int = 1
    x: float = 0.0
    y: float = 0.0
    critical: bool = False
    focus: bool = False
    match: bool = False
    # A model of another domain that a shown one needs (drawn when filtering by domain).
    external: bool = False


class GraphEdge(BaseModel):
    """`source` depends on `target`; `count` dependencies between two domains."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str
    count: int = 1
    critical: bool = False


class GraphDomain(BaseModel):
    """A domain of the selection, its colour and its model count (for filters and keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    colour: str
    models: int


class GraphData(BaseModel):
    """What the dashboard's graph viewer draws: the domain overview or models, their
    dependencies, the critical path among them, and how many models were left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    level: Literal["domains", "models"]
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    critical_path: list[str]
    total_models: int
    shown_models: int
    hidden_models: int
    domains: list[GraphDomain]
    domain: str | None = None
    focus: str | None = None
    hops: int = 2
    search: str | None = None


def explore_graph(
    ctx: Context,
    *,
    domain: str | None = None,
    focus: str | None = None,
    hops: int = 2,
    search: str | None = None,
    alias: str | None = None,
    overview_above: int = OVERVIEW_ABOVE,
    limit: int = GRAPH_MODELS_LIMIT,
) -> GraphData:
    """The graph viewer's view of the selection.

    `focus` (a model reference): its neighbourhood within `hops` dependencies either way;
    `search`: the models whose `domain/name@version` holds the text; `domain`: that
    domain's models (and what they need elsewhere), or narrows the other two. With none
    of them, a selection of more than `overview_above` models is shown as one node per
    domain with dependency counts, a smaller one whole. At most `limit` models are
    drawn. The critical path is the longest chain of loads among what is drawn (across
    domains, in the overview).

    Raises:
        InputError: `hops` outside 1 ... GRAPH_HOPS_MAX, or a malformed reference.
        NotFound: an unknown domain, or a focus that is not in the selection.
    """
    if not 1 <= hops <= GRAPH_HOPS_MAX:
        raise InputError(f"graph hops: expected 1 to {GRAPH_HOPS_MAX}, got {hops}")
    # The graph alone: every figure drawn is in the refs (`domain/name@version`), and
    # decoding 10,000 specs would be most of the time.
    with paused_gc():
        view = select(ctx.store, alias=alias, with_specs=False)
    graph = view.graph
    every = graph.nodes
    counts: dict[str, int] = {}
    for ref in every:
        counts[_domain_of(ref)] = counts.get(_domain_of(ref), 0) + 1
    domains = [
        GraphDomain(domain=name, colour=domain_colour(name), models=n)
        for name, n in sorted(counts.items())
    ]
    if domain is not None and domain not in counts:
        raise NotFound(
            f"domain {domain!r} has no model in this selection; the viewer's domain list "
            "shows those it has"
        )
    needle = (search or "").strip().lower()
    common: dict[str, Any] = {
        "total_models": len(every),
        "domains": domains,
        "domain": domain,
        "focus": focus,
        "hops": hops,
        "search": needle or None,
    }
    if focus is None and not needle and domain is None and len(every) > overview_above:
        return _domain_overview(graph, common)
    focused: list[str] = []
    external: set[str] = set()
    if focus is not None:
        focused = _graph_refs(ctx, every, focus)
        candidates = list(
            dict.fromkeys(ref for start in focused for ref in within_hops(graph, start, hops))
        )
    elif needle:
        candidates = sorted(ref for ref in every if needle in ref)
    else:
        candidates = sorted(every)
    if domain is not None:
        kept = set(focused)
        candidates = [r for r in candidates if r in kept or _domain_of(r) == domain]
        if focus is None and not needle:
            # What the domain's models need elsewhere, so that its chains are whole.
            members = set(candidates)
            external = {
                dep for ref in candidates for dep in graph.dependencies(ref) if dep not in members
            }
            candidates += sorted(external)
    shown = candidates[:limit]
    part = GraphView.of(graph, {}, shown)
    positions = layered_positions(graph, shown)
    on_path = set(part.critical_path)
    path_edges = set(zip(part.critical_path[1:], part.critical_path, strict=False))
    matches = {ref for ref in shown if needle and needle in ref}
    nodes = [
        GraphNode(
            id=ref,
            kind="model",
            label=ref.split("/", 1)[1],
            domain=_domain_of(ref),
            colour=domain_colour(_domain_of(ref)),
            x=positions[ref][0],
            y=positions[ref][1],
            critical=ref in on_path,
            focus=ref in focused,
            match=ref in matches,
            external=ref in external,
        )
        for ref in part.nodes
    ]
    edges = [GraphEdge(source=a, target=b, critical=(a, b) in path_edges) for a, b in part.edges]
    return GraphData(
        level="models",
        nodes=nodes,
        edges=edges,
        critical_path=part.critical_path,
        shown_models=len(shown),
        hidden_models=len(candidates) - len(shown),
        **common,
    )


def _domain_of(ref: str) -> str:
    return ref.split("/", 1)[0]


def _graph_refs(ctx: Context, refs: Iterable[str], reference: str) -> list[str]:
    """The selected versions `reference` names, read from the refs alone."""
    model_id, version = resolve_ref(ctx, reference)
    wanted = Version.parse(version) if version is not None else None
    found = [
        ref
        for ref in refs
        if model_id_of(ref) == model_id
        and (wanted is None or Version.parse(ref.rsplit("@", 1)[1]) == wanted)
    ]
    if not found:
        raise NotFound(f"{reference} is not in this selection; `modelyard list` shows the catalog")
    return found


def _domain_overview(graph: DependencyGraph[str], common: dict[str, Any]) -> GraphData:
    counts, between = domain_overview(graph, _domain_of)
    critical: list[str] = []
    if not graph.cycles():
        _, critical = graph.critical_path(lambda _ref: 1.0)
    # The domains the catalog's critical path passes through, in its order.
    path_domains = [_domain_of(ref) for ref in critical]
    path_edges = set(zip(path_domains[1:], path_domains, strict=False))
    nodes = [
        GraphNode(
            id=f"domain:{name}",
            kind="domain",
            label=f"{name} ({n:,})",
            domain=name,
            colour=domain_colour(name),
            models=n,
            critical=name in path_domains,
        )
        for name, n in sorted(counts.items())
    ]
    edges = [
        GraphEdge(
            source=f"domain:{a}",
            target=f"domain:{b}",
            count=n,
            critical=(a, b) in path_edges and a != b,
        )
        for (a, b), n in sorted(between.items())
    ]
    return GraphData(
        level="domains",
        nodes=nodes,
        edges=edges,
        critical_path=critical if len(critical) > 1 else [],
        shown_models=0,
        hidden_models=len(graph.nodes),
        **common,
    )


@dataclass(frozen=True)
class AliasMove:
    """One alias move: `alias` of model `reference` to `version`, compare-and-set on
    `expect` (a version, or "none": the alias must not exist yet) and/or
    `expect_revision`."""

    reference: str
    alias: str
    version: str
    expect: str | None = None
    expect_revision: int | None = None


def set_alias(
    ctx: Context,
    reference: str,
    alias: str,
    version: str,
    *,
    expect: str | None = None,
    expect_revision: int | None = None,
) -> AliasRecord:
    """Move alias `alias` of a model to `version`; `expect` makes it compare-and-set on
    the version (`expect="none"`: the alias must not exist yet), `expect_revision` on the
    revision (every move raises it, so a move away and back is noticed)."""
    return set_aliases(ctx, [AliasMove(reference, alias, version, expect, expect_revision)])[0]


def set_aliases(ctx: Context, moves: Sequence[AliasMove]) -> list[AliasRecord]:
    """Every move, in one transaction: all of them, or (the first that is refused raises)
    none. Each is checked and audited as `set_alias`'s one is."""
    for move in moves:
        _check_move(move)
    records = []
    # The moves and their audit entries commit together.
    with ctx.store.transaction() as tx:
        for move in moves:
            model_id = ModelRef.parse(move.reference).model_id
            expect_absent = move.expect is not None and move.expect.lower() == "none"
            before = next(
                (
                    {"version": a.version, "revision": a.revision}
                    for a in tx.aliases(model_id)
                    if a.name == move.alias
                ),
                None,
            )
            record = tx.set_alias(
                model_id,
                move.alias,
                move.version,
                expect=None if move.expect is None or expect_absent else move.expect,
                expect_absent=expect_absent,
                expect_revision=move.expect_revision,
            )
            record_audit(
                tx,
                ctx.actor,
                "alias.set",
                f"{record.model_id} alias {record.name}",
                before,
                {"version": record.version, "revision": record.revision},
            )
            records.append(record)
    return records


def _check_move(move: AliasMove) -> None:
    ModelRef.parse(move.reference)
    check_alias_name(move.alias)
    check_version(move.version, "VERSION")
    if move.expect is not None and move.expect.lower() != "none":
        check_version(move.expect, "--expect")
    if move.expect_revision is not None and move.expect_revision < 1:
        raise InputError(
            f"--expect-revision {move.expect_revision}: revisions start at 1 (`modelyard alias "
            "list` shows each alias's revision)"
        )


def alias_moves_from_file(path: Path) -> list[AliasMove]:
    """The moves a file lists: a mapping of alias name -> model -> version, where a
    version may instead be `{version: V, expect: OLD}` (compare-and-set), e.g.

        production:
          recommendation/user_embedding: "1.1"
          search/query_understanding: {version: "1.5", expect: "1.4"}

    Raises:
        InputError: naming the file and the entry that is not of that shape.
    """
    from modelyard.catalog.manifest import parse_yaml_document, read_manifest_bytes

    source = str(path)
    try:
        text = read_manifest_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{source}: cannot read it: {exc}") from None
    data = parse_yaml_document(text, source)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{source}: expected a mapping of alias names to {{model: version}}")
    moves = []
    for alias, entries in data.items():
        if not isinstance(entries, dict) or not entries:
            raise InputError(f"{source}: {alias}: expected a mapping of models to versions")
        for model, target in entries.items():
            where = f"{source}: {alias}.{model}"
            if isinstance(target, dict):
                unknown = set(target) - {"version", "expect", "expect_revision"}
                if unknown or "version" not in target:
                    raise InputError(
                        f"{where}: expected {{version: V[, expect: OLD][, expect_revision: N]}}"
                    )
                version, expect = target["version"], target.get("expect")
                revision = target.get("expect_revision")
            else:
                version, expect, revision = target, None, None
            if not isinstance(version, str) or (expect is not None and not isinstance(expect, str)):
                raise InputError(f'{where}: quote the versions ("1.10" is not 1.1)')
            if revision is not None and (
                isinstance(revision, bool) or not isinstance(revision, int)
            ):
                raise InputError(f"{where}: expect_revision is a whole number")
            moves.append(AliasMove(str(model), str(alias), version, expect, revision))
    return moves


def aliases(ctx: Context, reference: str | None = None) -> list[AliasRecord]:
    """Every alias (of one model, or of all)."""
    model_id = ModelRef.parse(reference).model_id if reference else None
    if model_id is not None:
        ctx.store.get(model_id)
    return ctx.store.aliases(model_id)


Mark = Literal["yanked", "deprecated"]


class StatusChange(BaseModel):
    """A version's status after `yank`, `unyank`, `deprecate` or `undeprecate`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    status: VersionStatus
    # False when the version was already so (same reason): nothing was written.
    changed: bool
    # Aliases still pointing at the version now yanked (`yank --force`): alias selections
    # through them fail until they are moved.
    aliases: list[str]


def yank(ctx: Context, reference: str, reason: str, *, force: bool = False) -> StatusChange:
    """Withdraw `ID@VERSION`: it stays in the catalog, but no selection, constraint or
    alias chooses it again. Yanking it again replaces the reason.

    Raises:
        InputError: no version in the reference, or no usable reason.
        NotFound: no such model or version.
        Conflict: an alias points at the version (move it first, or `force`: the alias
            stays and selections through it fail until it is moved).
    """
    return _mark(ctx, reference, "yanked", check_reason(reason), force=force)


def unyank(ctx: Context, reference: str) -> StatusChange:
    """Make a yanked `ID@VERSION` choosable again (a deprecation stays as it was)."""
    return _mark(ctx, reference, "yanked", None)


def deprecate(ctx: Context, reference: str, reason: str) -> StatusChange:
    """Discourage `ID@VERSION`: it is still chosen, and `validate` warns wherever it is."""
    return _mark(ctx, reference, "deprecated", check_reason(reason))


def undeprecate(ctx: Context, reference: str) -> StatusChange:
    """Clear the deprecation of `ID@VERSION`."""
    return _mark(ctx, reference, "deprecated", None)


_ACTIONS = {
    ("yanked", True): "version.yank",
    ("yanked", False): "version.unyank",
    ("deprecated", True): "version.deprecate",
    ("deprecated", False): "version.undeprecate",
}


def _mark(
    ctx: Context, reference: str, mark: Mark, reason: str | None, *, force: bool = False
) -> StatusChange:
    ref = ModelRef.parse(reference, allow_alias=False)
    if ref.version is None:
        raise InputError(f"{reference}: name the version, e.g. {ref.model_id}@1.0")
    wanted = Version.parse(ref.version)
    # The check, the change and its audit entry commit together.
    with ctx.store.transaction() as tx:
        stored = tx.get(ref.model_id, ref.version)
        before = stored.status
        current = before.yanked_reason if mark == "yanked" else before.deprecated_reason
        at_version = [
            a.name for a in tx.aliases(ref.model_id) if Version.parse(a.version) == wanted
        ]
        if mark == "yanked" and reason is not None and at_version and not force:
            listed = ", ".join(repr(name) for name in at_version)
            raise Conflict(
                f"cannot yank {stored.spec.ref}: alias {listed} points at it; move the alias "
                f"first (`modelyard alias set {ref.model_id} {at_version[0]} VERSION`), or "
                "yank with --force (selections through the alias then fail until it is "
                "moved); nothing changed"
            )
        if current == reason:
            return StatusChange(
                ref=stored.spec.ref,
                status=before,
                changed=False,
                aliases=at_version if before.is_yanked else [],
            )
        after = tx.mark(ref.model_id, ref.version, mark, reason)
        record_audit(
            tx,
            ctx.actor,
            _ACTIONS[(mark, reason is not None)],
            stored.spec.ref,
            before.model_dump(mode="json"),
            {**after.model_dump(mode="json"), "aliases": at_version},
        )
    return StatusChange(
        ref=stored.spec.ref,
        status=after,
        changed=True,
        aliases=at_version if after.is_yanked else [],
    )
