"""A selection of the catalog: which versions, with their dependencies resolved.

The default selection is the newest version of every model that is not yanked (a model
whose every version is yanked is left out); `alias` selects the version each model's
alias points to (models without it are left out). Either way the dependencies of the
chosen versions are resolved and added, so a selection is closed.

Dependencies follow one rule (graph/resolve.py): within an alias selection a dependency
resolves to the version that alias names for the dependency's model when the constraint
allows it, otherwise to the highest version the constraint allows; never to a yanked
version. An alias left on a yanked version (`yank --force`) is an error of the
selection: compile and deploy refuse it until the alias is moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from modelyard.catalog.ref import ModelRef, model_id_of
from modelyard.catalog.spec import ModelSpec
from modelyard.catalog.version import Version
from modelyard.errors import NotFound, Problem, Severity, VersionYanked
from modelyard.graph.dag import DependencyGraph
from modelyard.graph.resolve import Resolution, VersionEntry, VersionIndex, cycle_problems, resolve
from modelyard.store.store import CatalogStore, CatalogTransaction


@dataclass
class CatalogView:
    """The specs of a closed selection and its resolved version graph."""

    roots: list[str]
    specs: dict[str, ModelSpec]
    resolution: Resolution
    index: VersionIndex
    triton_versions: dict[str, int] = field(default_factory=dict)
    # What choosing the roots found wrong (an alias on a yanked version).
    root_problems: list[Problem] = field(default_factory=list)

    @property
    def graph(self) -> DependencyGraph[str]:
        return self.resolution.graph

    def problems(self) -> list[Problem]:
        """Yanked alias targets, unresolved dependencies and cycles: what makes a
        selection unusable."""
        return self.root_problems + self.resolution.problems + cycle_problems(self.graph)

    def marked_versions(self) -> list[VersionEntry]:
        """Every yanked or deprecated version of the selection's models, selected or not."""
        models = {entry.model_id for entry in self.resolution.entries.values()}
        models.update(model_id_of(problem.model) for problem in self.root_problems if problem.model)
        return [
            entry
            for model_id in sorted(models)
            for entry in reversed(self.index.by_model[model_id])
            if entry.yanked is not None or entry.deprecated is not None
        ]

    def spec_of(self, model_id: str) -> ModelSpec:
        """The selected spec of a model (its root version if it has several)."""
        for ref in self.roots:
            if model_id_of(ref) == model_id:
                return self.specs[ref]
        for spec in self.specs.values():
            if spec.id == model_id:
                return spec
        raise NotFound(f"no model {model_id} in this selection; `modelyard list` shows the catalog")


# Fingerprint of the versions table -> its index. Reading and indexing every version
# is most of a model page's time at 10,000 models, and a page asks three times; the
# fingerprint is two small queries. An index is never changed once made.
_INDEXES: dict[tuple[object, ...], VersionIndex] = {}
_INDEXES_KEPT = 4


def load_index(tx: CatalogTransaction) -> VersionIndex:
    """Every registered version, indexed; made again only when the versions changed."""
    key = tx.summaries_fingerprint()
    index = _INDEXES.get(key)
    if index is None:
        index = VersionIndex(
            VersionEntry(
                s.model_id, s.version, s.dependencies, s.yanked_reason, s.deprecated_reason
            )
            for s in tx.summaries()
        )
        while len(_INDEXES) >= _INDEXES_KEPT:
            _INDEXES.pop(next(iter(_INDEXES)), None)
        _INDEXES[key] = index
    return index


def alias_versions(
    tx: CatalogTransaction, index: VersionIndex, alias: str
) -> dict[str, VersionEntry]:
    """Model id -> the version alias `alias` points to, for every model that has it."""
    found = {}
    for record in tx.aliases():
        if record.name == alias:
            found[record.model_id] = next(
                e for e in index.by_model[record.model_id] if str(e.version) == record.version
            )
    return found


def select(
    store: CatalogStore,
    *,
    alias: str | None = None,
    model_ids: Iterable[str] | None = None,
    refs: Sequence[ModelRef] | None = None,
    with_specs: bool = True,
) -> CatalogView:
    """Read a closed selection of the catalog in one snapshot.

    `refs` names the roots one by one (a targeted deploy): `ID@VERSION`, `ID@ALIAS`, or
    `ID` for the version `alias` points to (the newest not yanked without `alias`); each
    must exist and none may be yanked. `with_specs=False` skips decoding the specs, for
    callers that need only the graph.
    """
    with store.reader() as tx:
        index = load_index(tx)
        # Named roots all given through one alias (`deploy a@production b@production`)
        # are an alias selection of it too.
        named = {r.alias for r in refs or () if r.alias is not None}
        selection_alias = alias or (named.pop() if len(named) == 1 else None)
        preferred = (
            alias_versions(tx, index, selection_alias) if selection_alias is not None else {}
        )
        if refs is None and model_ids is None and selection_alias is None:
            # The newest of every model depends on the index alone: made once per index.
            newest, newest_problems, resolution = index.once("newest", lambda: _newest(index))
            roots, root_problems = list(newest), list(newest_problems)
        elif refs is None:
            roots, root_problems = _roots(index, alias, preferred, model_ids)
            resolution = resolve(index, roots, preferred)
        else:
            roots, root_problems = _named_roots(tx, index, alias, refs), []
            resolution = resolve(index, roots, preferred)
        specs: dict[str, ModelSpec] = {}
        triton_versions: dict[str, int] = {}
        if with_specs:
            wanted = set(resolution.entries)
            needed_models = {model_id_of(ref) for ref in wanted}
            everything = len(needed_models) == len(index.by_model)
            stored = tx.versions(None if everything else needed_models)
            specs = {v.spec.ref: v.spec for v in stored if v.spec.ref in wanted}
            triton_versions = {v.spec.ref: v.triton_version for v in stored if v.spec.ref in wanted}
    return CatalogView(roots, specs, resolution, index, triton_versions, root_problems)


def _newest(index: VersionIndex) -> tuple[list[str], list[Problem], Resolution]:
    roots, problems = _roots(index, None, {}, None)
    return roots, problems, resolve(index, roots, {})


def _roots(
    index: VersionIndex,
    alias: str | None,
    preferred: dict[str, VersionEntry],
    model_ids: Iterable[str] | None,
) -> tuple[list[str], list[Problem]]:
    ids = list(model_ids) if model_ids is not None else list(index.by_model)
    for model_id in ids:
        if model_id not in index.by_model:
            raise NotFound(
                f"no model {model_id} in the catalog; `modelyard list` shows what is registered"
            )
    if alias is None:
        roots = [entry.ref for model_id in ids if (entry := index.newest(model_id)) is not None]
        if model_ids is not None and len(roots) < len(ids):
            withdrawn = [m for m in ids if index.newest(m) is None]
            raise VersionYanked(
                f"every version of {', '.join(withdrawn)} is yanked; name a version "
                "(ID@VERSION), or `modelyard unyank ID@VERSION` one of them"
            )
        return roots, []
    wanted = set(ids)
    roots = []
    problems = []
    for model_id, entry in preferred.items():
        if model_id not in wanted:
            continue
        if entry.is_yanked:
            problems.append(yanked_alias_problem(alias, entry))
        else:
            roots.append(entry.ref)
    if not roots and not problems:
        raise NotFound(
            f"no model has an alias {alias!r}; set one with "
            f"`modelyard alias set ID {alias} VERSION`"
        )
    return roots, problems


def _named_roots(
    tx: CatalogTransaction, index: VersionIndex, alias: str | None, refs: Sequence[ModelRef]
) -> list[str]:
    """The version each reference names; NotFound naming the reference otherwise, and
    VersionYanked for a yanked one."""
    aliases = {(r.model_id, r.name): r.version for r in tx.aliases()}
    roots: list[str] = []
    for ref in refs:
        listed = index.by_model.get(ref.model_id)
        if not listed:
            raise NotFound(
                f"{ref}: no model {ref.model_id} in the catalog; `modelyard list` shows "
                "what is registered"
            )
        alias_name = ref.alias or (alias if ref.version is None else None)
        if alias_name is not None:
            version = aliases.get((ref.model_id, alias_name))
            if version is None:
                raise NotFound(
                    f"{ref}: {ref.model_id} has no alias {alias_name!r}; "
                    f"`modelyard alias list {ref.model_id}` shows its aliases"
                )
        elif ref.version is not None:
            version = ref.version
        else:
            newest = index.newest(ref.model_id)
            if newest is None:
                raise VersionYanked(
                    f"{ref}: every version of {ref.model_id} is yanked; name a version "
                    f"({ref.model_id}@VERSION) once one is unyanked"
                )
            version = str(newest.version)
        wanted = Version.parse(version)
        entry = next((e for e in listed if e.version == wanted), None)
        if entry is None:
            raise NotFound(
                f"{ref}: {ref.model_id} has no version {version}; "
                f"`modelyard show {ref.model_id}` lists its versions"
            )
        if entry.is_yanked:
            through = f" (alias {alias_name!r} points at it)" if alias_name else ""
            raise VersionYanked(
                f"{ref}: {entry.ref} is yanked ({entry.yanked}){through}; a selection never "
                f"takes a yanked version: name another, or `modelyard unyank {entry.ref}`"
            )
        if entry.ref not in roots:
            roots.append(entry.ref)
    return roots


def yanked_alias_problem(alias: str, entry: VersionEntry) -> Problem:
    """The error of an alias left on a yanked version (`yank --force`)."""
    return Problem(
        Severity.ERROR,
        "alias-yanked",
        f"alias {alias!r} points at {entry.ref}, which is yanked ({entry.yanked}); move it: "
        f"`modelyard alias set {entry.model_id} {alias} VERSION`",
        model=entry.ref,
        details={"alias": alias, "reason": entry.yanked},
    )
