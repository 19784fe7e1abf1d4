"""A selection of the catalog: which versions, with their dependencies resolved.

The default selection is the newest version of every model; `alias` selects the
version each model's alias points to (models without it are left out). Either way the
dependencies of the chosen versions are resolved and added, so a selection is closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from modelyard.catalog.ref import ModelRef, model_id_of
from modelyard.catalog.spec import ModelSpec
from modelyard.catalog.version import Version
from modelyard.errors import NotFound, Problem
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

    @property
    def graph(self) -> DependencyGraph[str]:
        return self.resolution.graph

    def problems(self) -> list[Problem]:
        """Unresolved dependencies and cycles: what makes a selection unusable."""
        return self.resolution.problems + cycle_problems(self.graph)

    def spec_of(self, model_id: str) -> ModelSpec:
        """The selected spec of a model (its root version if it has several)."""
        for ref in self.roots:
            if model_id_of(ref) == model_id:
                return self.specs[ref]
        for spec in self.specs.values():
            if spec.id == model_id:
                return spec
        raise NotFound(f"no model {model_id} in this selection; `modelyard list` shows the catalog")


def load_index(tx: CatalogTransaction) -> VersionIndex:
    return VersionIndex(VersionEntry(s.model_id, s.version, s.dependencies) for s in tx.summaries())


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
    `ID` for the version `alias` points to (the newest without `alias`); each must exist.
    `with_specs=False` skips decoding the specs, for callers that need only the graph.
    """
    with store.reader() as tx:
        index = load_index(tx)
        roots = (
            _roots(tx, index, alias, model_ids)
            if refs is None
            else _named_roots(tx, index, alias, refs)
        )
        resolution = resolve(index, roots)
        specs: dict[str, ModelSpec] = {}
        triton_versions: dict[str, int] = {}
        if with_specs:
            wanted = set(resolution.entries)
            needed_models = {model_id_of(ref) for ref in wanted}
            everything = len(needed_models) == len(index.by_model)
            stored = tx.versions(None if everything else needed_models)
            specs = {v.spec.ref: v.spec for v in stored if v.spec.ref in wanted}
            triton_versions = {v.spec.ref: v.triton_version for v in stored if v.spec.ref in wanted}
    return CatalogView(roots, specs, resolution, index, triton_versions)


def _roots(
    tx: CatalogTransaction, index: VersionIndex, alias: str | None, model_ids: Iterable[str] | None
) -> list[str]:
    ids = list(model_ids) if model_ids is not None else list(index.by_model)
    for model_id in ids:
        if model_id not in index.by_model:
            raise NotFound(
                f"no model {model_id} in the catalog; `modelyard list` shows what is registered"
            )
    if alias is None:
        return [entry.ref for model_id in ids if (entry := index.newest(model_id)) is not None]
    wanted = set(ids)
    roots = []
    for record in tx.aliases():
        if record.name == alias and record.model_id in wanted:
            entry = next(
                e for e in index.by_model[record.model_id] if str(e.version) == record.version
            )
            roots.append(entry.ref)
    if not roots:
        raise NotFound(
            f"no model has an alias {alias!r}; set one with "
            f"`modelyard alias set ID {alias} VERSION`"
        )
    return roots


def _named_roots(
    tx: CatalogTransaction, index: VersionIndex, alias: str | None, refs: Sequence[ModelRef]
) -> list[str]:
    """The version each reference names; NotFound naming the reference otherwise."""
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
        else:
            version = ref.version or str(listed[0].version)
        wanted = Version.parse(version)
        entry = next((e for e in listed if e.version == wanted), None)
        if entry is None:
            raise NotFound(
                f"{ref}: {ref.model_id} has no version {version}; "
                f"`modelyard show {ref.model_id}` lists its versions"
            )
        if entry.ref not in roots:
            roots.append(entry.ref)
    return roots
