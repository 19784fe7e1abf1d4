"""A dependency graph over hashable nodes: cycles with their path, waves, closures.

An edge `a -> b` means "a depends on b": b must be serving before a can be.
"""

from __future__ import annotations

import graphlib
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)


class CycleFound(ValueError):
    """The graph has a cycle; `cycle` is its path, first node repeated at the end."""

    def __init__(self, cycle: list[object]) -> None:
        super().__init__(" -> ".join(str(n) for n in cycle))
        self.cycle = cycle


class DependencyGraph(Generic[N]):
    """Nodes and their direct dependencies. Nodes only named as targets are added too."""

    def __init__(self, dependencies: Mapping[N, Iterable[N]]) -> None:
        self._deps: dict[N, tuple[N, ...]] = {}
        for node, deps in dependencies.items():
            self._deps[node] = tuple(dict.fromkeys(deps))
        for deps in list(self._deps.values()):
            for dep in deps:
                self._deps.setdefault(dep, ())
        self._dependents: dict[N, list[N]] | None = None
        # The graph never changes after construction, so these are computed once.
        self._cycle_groups: list[tuple[list[N], set[N]]] | None = None
        self._waves: list[list[N]] | None = None

    @property
    def nodes(self) -> list[N]:
        return list(self._deps)

    def dependencies(self, node: N) -> tuple[N, ...]:
        """Direct dependencies of `node`."""
        return self._deps[node]

    def dependents(self, node: N) -> list[N]:
        """Direct dependents of `node` (the models that name it)."""
        return self._reverse()[node]

    def edges(self) -> list[tuple[N, N]]:
        return [(node, dep) for node, deps in self._deps.items() for dep in deps]

    def _reverse(self) -> dict[N, list[N]]:
        if self._dependents is None:
            reverse: dict[N, list[N]] = {node: [] for node in self._deps}
            for node, deps in self._deps.items():
                for dep in deps:
                    reverse[dep].append(node)
            self._dependents = reverse
        return self._dependents

    def cycles(self) -> list[list[N]]:
        """One cycle path per strongly connected component that has a cycle.

        Each path starts and ends with the same node (`[a, b, c, a]`). Every node on
        some cycle is in the component of one returned path, though not necessarily on
        the path itself (`cycle_groups` gives the components).
        """
        return [cycle for cycle, _ in self.cycle_groups()]

    def cycle_groups(self) -> list[tuple[list[N], set[N]]]:
        """Each cyclic strongly connected component: (one cycle path in it, its members)."""
        if self._cycle_groups is None:
            found: list[tuple[list[N], set[N]]] = []
            for component in self._strongly_connected_components():
                if len(component) == 1:
                    (node,) = component
                    if node in self._deps[node]:
                        found.append(([node, node], component))
                    continue
                found.append((self._cycle_within(component), component))
            self._cycle_groups = found
        return self._cycle_groups

    def _strongly_connected_components(self) -> list[set[N]]:
        # Tarjan's algorithm, iterative: catalogs are deep enough to overflow recursion.
        index: dict[N, int] = {}
        lowlink: dict[N, int] = {}
        on_stack: set[N] = set()
        stack: list[N] = []
        components: list[set[N]] = []
        counter = 0
        for root in self._deps:
            if root in index:
                continue
            work: list[tuple[N, int]] = [(root, 0)]
            while work:
                node, child_at = work.pop()
                if child_at == 0:
                    index[node] = lowlink[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack.add(node)
                deps = self._deps[node]
                recurse = False
                for position in range(child_at, len(deps)):
                    dep = deps[position]
                    if dep not in index:
                        work.append((node, position + 1))
                        work.append((dep, 0))
                        recurse = True
                        break
                    if dep in on_stack:
                        lowlink[node] = min(lowlink[node], index[dep])
                if recurse:
                    continue
                if work and work[-1][1] > 0:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component: set[N] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
        return components

    def _cycle_within(self, component: set[N]) -> list[N]:
        start = min(component, key=str)
        # Shortest way back to `start` inside the component (breadth-first).
        came_from: dict[N, N] = {}
        queue: deque[N] = deque([start])
        while queue:
            node = queue.popleft()
            for dep in self._deps[node]:
                if dep not in component:
                    continue
                if dep == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = came_from[node]
                    path.append(start)
                    return [path[0]] + path[1:-1][::-1] + [start]
                if dep not in came_from:
                    came_from[dep] = node
                    queue.append(dep)
        raise AssertionError(
            "a strongly connected component always has a cycle"
        )  # pragma: no cover

    def check_acyclic(self) -> None:
        """Raise CycleFound with the first cycle's path if there is one."""
        cycles = self.cycles()
        if cycles:
            raise CycleFound(list(cycles[0]))

    def waves(self) -> list[list[N]]:
        """Topological levels: every node comes in a later wave than all it depends on."""
        if self._waves is None:
            self.check_acyclic()
            sorter: graphlib.TopologicalSorter[N] = graphlib.TopologicalSorter(self._deps)
            sorter.prepare()
            waves: list[list[N]] = []
            while sorter.is_active():
                ready = sorted(sorter.get_ready(), key=str)
                waves.append(ready)
                sorter.done(*ready)
            self._waves = waves
        return [list(wave) for wave in self._waves]

    def topological_order(self) -> list[N]:
        return [node for wave in self.waves() for node in wave]

    def transitive_dependencies(self, node: N) -> list[N]:
        """Everything `node` needs, each once, dependencies before their dependents."""
        return self._closure(node, self._deps)

    def iter_transitive_dependencies(self, node: N) -> Iterator[N]:
        """Everything `node` needs, each once, in no particular order, lazily."""
        seen: set[N] = {node}
        stack = list(self._deps[node])
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            yield current
            stack.extend(self._deps[current])

    def transitive_dependents(self, node: N) -> list[N]:
        """Everything that needs `node` directly or not (its impact), nearest first."""
        reverse = self._reverse()
        seen: dict[N, None] = {}
        queue: deque[N] = deque(reverse[node])
        while queue:
            current = queue.popleft()
            if current in seen or current == node:
                continue
            seen[current] = None
            queue.extend(reverse[current])
        return list(seen)

    @staticmethod
    def _closure(node: N, edges: Mapping[N, Iterable[N]]) -> list[N]:
        order: dict[N, None] = {}
        visited: set[N] = {node}
        work: list[tuple[N, Iterator[N]]] = [(node, iter(edges[node]))]
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if current != node:
                    order[current] = None
                continue
            if child not in visited:
                visited.add(child)
                work.append((child, iter(edges[child])))
        return list(order)

    def longest_chains(self, weight: Callable[[N], float]) -> Chains[N]:
        """For every node, the heaviest chain that starts at it and follows dependencies."""
        best: dict[N, float] = {}
        next_on_chain: dict[N, N | None] = {}
        lengths: dict[N, int] = {}
        for node in self.topological_order():  # dependencies come first
            heaviest: N | None = None
            for dep in self._deps[node]:
                if heaviest is None or best[dep] > best[heaviest]:
                    heaviest = dep
            best[node] = weight(node) + (best[heaviest] if heaviest is not None else 0.0)
            next_on_chain[node] = heaviest
            lengths[node] = 1 + (lengths[heaviest] if heaviest is not None else 0)
        return Chains(best, next_on_chain, lengths)

    def critical_path(self, weight: Callable[[N], float]) -> tuple[float, list[N]]:
        """The heaviest dependency chain of the whole graph, deepest dependency first."""
        chains = self.longest_chains(weight)
        if not chains.weights:
            return 0.0, []
        top = max(chains.weights, key=lambda node: chains.weights[node])
        return chains.weights[top], chains.path(top)[::-1]


class Chains(Generic[N]):
    """Heaviest dependency chains found by `DependencyGraph.longest_chains`."""

    def __init__(
        self, weights: dict[N, float], next_on_chain: dict[N, N | None], lengths: dict[N, int]
    ) -> None:
        self.weights = weights
        self._next = next_on_chain
        self._lengths = lengths

    def path(self, node: N, limit: int | None = None) -> list[N]:
        """`[node, dependency, its dependency, ...]` along the heaviest chain; at most
        `limit` nodes (a report per model that lists whole chains is quadratic)."""
        path = [node]
        step = self._next[node]
        while step is not None and (limit is None or len(path) < limit):
            path.append(step)
            step = self._next[step]
        return path

    def length(self, node: N) -> int:
        """How many nodes the heaviest chain from `node` has, `node` included."""
        return self._lengths[node]
