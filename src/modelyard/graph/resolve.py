"""Resolve dependency constraints to registered versions and build the version graph.

The rule, one for every selection: a dependency resolves to the version the selection
*prefers* for that model (in an alias selection, the version the alias names) when its
constraint allows it; otherwise to the highest registered version the constraint allows.
A yanked version is never chosen, preferred or not. Nodes are model refs
(`domain/name@version`), so two versions of one model can both be in a graph when
different dependents need them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from modelyard.catalog.spec import Dependency, ModelSpec
from modelyard.catalog.version import Version
from modelyard.errors import Problem, Severity
from modelyard.graph.dag import DependencyGraph

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """What resolution needs to know about one registered version."""

    model_id: str
    version: Version
    dependencies: tuple[Dependency, ...]
    # Why the version was yanked or deprecated (None: it is not).
    yanked: str | None = None
    deprecated: str | None = None
    # Made once: resolution asks for it about ten times per version.
    ref: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", f"{self.model_id}@{self.version}")

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


@dataclass
class Resolution:
    """The resolved version graph of a selection, and what could not be resolved."""

    graph: DependencyGraph[str]
    entries: dict[str, VersionEntry]
    problems: list[Problem] = field(default_factory=list)
    resolved: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


class VersionIndex:
    """Registered versions per model id, newest first."""

    def __init__(self, entries: Iterable[VersionEntry]) -> None:
        self.by_ref: dict[str, VersionEntry] = {}
        versions: dict[str, list[VersionEntry]] = {}
        for entry in entries:
            self.by_ref[entry.ref] = entry
            versions.setdefault(entry.model_id, []).append(entry)
        for listed in versions.values():
            listed.sort(key=lambda e: e.version, reverse=True)
        self.by_model: dict[str, list[VersionEntry]] = versions
        self._made: dict[str, Any] = {}

    def once(self, key: str, make: Callable[[], T]) -> T:
        """What `make` returns, made once per index and key: for what depends on the
        index alone (an index is never changed once made, and a process keeps the
        newest ones; selection.load_index). Callers only read what it returns."""
        if key not in self._made:
            self._made[key] = make()
        return cast(T, self._made[key])

    def everything(self) -> Resolution:
        """`resolve(self)`: every version's dependencies, made once per index."""
        return self.once("everything", lambda: resolve(self))

    def newest(self, model_id: str) -> VersionEntry | None:
        """The newest version that is not yanked (None if there is none)."""
        return next((e for e in self.by_model.get(model_id, ()) if not e.is_yanked), None)

    def default(self, model_id: str) -> VersionEntry | None:
        """What a bare `domain/name` shows: the newest version not yanked, else the newest."""
        listed = self.by_model.get(model_id)
        return (self.newest(model_id) or listed[0]) if listed else None

    def best_match(
        self, dependency: Dependency, preferred: Mapping[str, VersionEntry] | None = None
    ) -> VersionEntry | None:
        """The version `dependency` resolves to (the module docstring's rule)."""
        pinned = preferred.get(dependency.model_id) if preferred else None
        if (
            pinned is not None
            and not pinned.is_yanked
            and dependency.constraint.allows(pinned.version)
        ):
            return pinned
        for entry in self.by_model.get(dependency.model_id, ()):
            if not entry.is_yanked and dependency.constraint.allows(entry.version):
                return entry
        return None


def resolve(
    index: VersionIndex,
    roots: Sequence[str] | None = None,
    preferred: Mapping[str, VersionEntry] | None = None,
) -> Resolution:
    """Resolve the dependencies of `roots` (refs; default: every version) and theirs.

    `preferred` maps model ids to the version a dependency on that model resolves to
    whenever its constraint allows it (an alias selection's versions). Missing models
    and constraints no version satisfies become error problems; the graph then holds
    only the edges that did resolve.
    """
    pending = list(roots) if roots is not None else list(index.by_ref)
    edges: dict[str, list[str]] = {}
    problems: list[Problem] = []
    resolved: dict[tuple[str, str], str] = {}
    while pending:
        ref = pending.pop()
        if ref in edges:
            continue
        entry = index.by_ref[ref]
        targets: list[str] = []
        for position, dependency in enumerate(entry.dependencies):
            match = index.best_match(dependency, preferred)
            if match is None:
                problems.append(_unresolved(entry, position, dependency, index))
                continue
            targets.append(match.ref)
            resolved[(ref, dependency.model_id)] = match.ref
            if match.ref not in edges:
                pending.append(match.ref)
        edges[ref] = targets
    entries = {ref: index.by_ref[ref] for ref in edges}
    return Resolution(DependencyGraph(edges), entries, problems, resolved)


def _unresolved(
    entry: VersionEntry, position: int, dependency: Dependency, index: VersionIndex
) -> Problem:
    field_name = f"dependencies[{position}]"
    available = index.by_model.get(dependency.model_id)
    if not available:
        return Problem(
            Severity.ERROR,
            "missing-dependency",
            f"depends on {dependency.model_id}, which is not registered; "
            "apply its manifest first or in the same apply",
            model=entry.ref,
            field=field_name,
            details={"dependency": str(dependency), "position": position},
        )
    listed = sorted(available, key=lambda e: e.version)
    versions = ", ".join(str(e.version) for e in listed)
    yanked = [e for e in listed if e.is_yanked and dependency.constraint.allows(e.version)]
    also = "".join(f"; {e.version} would, but it is yanked ({e.yanked})" for e in yanked)
    return Problem(
        Severity.ERROR,
        "unsatisfiable-dependency",
        f"{dependency} matches none of the registered versions ({versions}){also}",
        model=entry.ref,
        field=field_name,
        details={
            "dependency": str(dependency),
            "position": position,
            "available": versions.split(", "),
            "yanked": [str(e.version) for e in yanked],
        },
    )


def cycle_problems(graph: DependencyGraph[str]) -> list[Problem]:
    """One error per group of mutually dependent versions, naming one whole cycle in it."""
    problems = []
    for cycle, members in graph.cycle_groups():
        others = sorted(members - set(cycle))
        also = f" (also caught up in it: {', '.join(others)})" if others else ""
        problems.append(
            Problem(
                Severity.ERROR,
                "cycle",
                "dependency cycle: " + " -> ".join(cycle) + also,
                model=cycle[0],
                field="dependencies",
                details={"cycle": cycle, "members": sorted(members)},
            )
        )
    return problems


def newest_refs(index: VersionIndex, model_ids: Iterable[str] | None = None) -> list[str]:
    """The newest version not yanked of each model (of all models by default)."""
    ids = model_ids if model_ids is not None else index.by_model
    refs = []
    for model_id in ids:
        newest = index.newest(model_id)
        if newest is not None:
            refs.append(newest.ref)
    return refs


def entry_for(spec: ModelSpec) -> VersionEntry:
    return VersionEntry(spec.id, spec.parsed_version, spec.parsed_dependencies)
