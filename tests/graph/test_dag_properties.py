"""Properties of `DependencyGraph` (edges a -> b: a depends on b) checked against brute force,
a few hand-written examples, and `modelyard.graph.resolve` on small version indexes."""

from __future__ import annotations

import graphlib
import itertools
import sys
from collections import deque
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from modelyard import Workspace
from modelyard.catalog.spec import Dependency
from modelyard.catalog.version import Version
from modelyard.errors import Severity
from modelyard.graph import CycleFound, DependencyGraph
from modelyard.graph.resolve import VersionEntry, VersionIndex, resolve

Adjacency = dict[int, list[int]]


# Strategies -----------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 40) -> Adjacency:
    """Acyclic by construction: node i only depends on nodes with a lower index."""
    n = draw(st.integers(min_value=0, max_value=max_nodes))
    graph: Adjacency = {}
    for i in range(n):
        if i == 0:
            graph[i] = []
            continue
        deps = draw(st.lists(st.integers(min_value=0, max_value=i - 1), max_size=4, unique=True))
        graph[i] = deps
    return graph


@st.composite
def digraphs(draw: st.DrawFn, max_nodes: int = 12) -> Adjacency:
    """Any directed graph: cycles and self loops allowed."""
    n = draw(st.integers(min_value=1, max_value=max_nodes))
    graph: Adjacency = {}
    for i in range(n):
        graph[i] = draw(
            st.lists(st.integers(min_value=0, max_value=n - 1), max_size=4, unique=True)
        )
    return graph


# Brute force ----------------------------------------------------------------------


def all_nodes(graph: Mapping[int, Sequence[int]]) -> set[int]:
    return set(graph) | {d for deps in graph.values() for d in deps}


def reachable(graph: Mapping[Hashable, Sequence[Hashable]], start: Hashable) -> set[Hashable]:
    """Nodes reachable from `start` by one or more edges (`start` only if on a cycle)."""
    seen: set[Hashable] = set()
    queue = deque(graph.get(start, ()))
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        queue.extend(graph.get(node, ()))
    return seen


def reverse_of(graph: Mapping[int, Sequence[int]]) -> dict[int, list[int]]:
    reverse: dict[int, list[int]] = {n: [] for n in all_nodes(graph)}
    for node, deps in graph.items():
        for dep in deps:
            reverse[dep].append(node)
    return reverse


def distances(graph: Mapping[int, Sequence[int]], start: int) -> dict[int, int]:
    dist = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in graph.get(node, ()):
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    return dist


def is_acyclic(graph: Mapping[int, Sequence[int]]) -> bool:
    try:
        graphlib.TopologicalSorter({n: list(d) for n, d in graph.items()}).prepare()
    except graphlib.CycleError:
        return False
    return True


def longest_from(
    graph: Mapping[int, Sequence[int]], node: int, weight: Mapping[int, float]
) -> float:
    """Heaviest path starting at `node`, by enumerating every path (small DAGs only)."""
    best = 0.0
    stack: list[tuple[int, float]] = [(node, weight[node])]
    while stack:
        current, total = stack.pop()
        best = max(best, total)
        for dep in graph.get(current, ()):
            stack.append((dep, total + weight[dep]))
    return best


def count_paths(graph: Mapping[int, Sequence[int]], source: int, target: int) -> int:
    """Number of distinct paths source -> target in a DAG whose edges go to lower indexes."""
    ways: dict[int, int] = {}
    for node in sorted(all_nodes(graph)):  # dependencies (lower indexes) first
        ways[node] = 1 if node == target else sum(ways[d] for d in graph.get(node, ()))
    return ways.get(source, 0)


@contextmanager
def shallow_recursion(headroom: int = 150) -> Iterator[None]:
    """Allow only `headroom` more frames: a recursive walk of 5000 nodes would fail."""
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def assert_closed_walk(graph: DependencyGraph[int], cycle: list[int]) -> None:
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, f"repeated node in {cycle}"
    for a, b in itertools.pairwise(cycle):
        assert b in graph.dependencies(a), f"{a} -> {b} is not an edge ({cycle})"


def rotate_to(cycle: list[int], start: int) -> list[int]:
    body = cycle[:-1]
    at = body.index(start)
    body = body[at:] + body[:at]
    return body + [start]


# (a) waves --------------------------------------------------------------------------


@given(dags())
def test_waves_respect_edges_cover_nodes_once_and_are_minimal(adjacency: Adjacency) -> None:
    graph = DependencyGraph(adjacency)
    waves = graph.waves()
    flat = [n for wave in waves for n in wave]
    assert sorted(flat) == sorted(all_nodes(adjacency))
    assert len(flat) == len(set(flat))
    wave_of = {n: k for k, wave in enumerate(waves) for n in wave}
    for node, deps in adjacency.items():
        for dep in deps:
            assert wave_of[dep] < wave_of[node]
    for k, wave in enumerate(waves):
        assert wave, "no empty waves"
        for node in wave:
            if k == 0:
                assert not graph.dependencies(node)
            else:
                assert any(wave_of[d] == k - 1 for d in graph.dependencies(node))
    assert graph.topological_order() == flat


# (b) transitive dependencies ----------------------------------------------------------


@given(dags(), st.data())
def test_transitive_dependencies_match_reachability_in_dependency_order(
    adjacency: Adjacency, data: st.DataObject
) -> None:
    assume(adjacency)
    graph = DependencyGraph(adjacency)
    node = data.draw(st.sampled_from(sorted(all_nodes(adjacency))))
    closure = graph.transitive_dependencies(node)
    assert len(closure) == len(set(closure))
    assert set(closure) == reachable(adjacency, node)
    position = {n: i for i, n in enumerate(closure)}
    for n in closure:
        for dep in graph.dependencies(n):
            assert position[dep] < position[n], f"{dep} must come before {n} in {closure}"


@given(digraphs())
def test_transitive_dependencies_on_cyclic_graphs_are_reachability_without_self(
    adjacency: Adjacency,
) -> None:
    graph = DependencyGraph(adjacency)
    for node in all_nodes(adjacency):
        closure = graph.transitive_dependencies(node)
        assert len(closure) == len(set(closure))
        assert set(closure) == reachable(adjacency, node) - {node}


# (c) transitive dependents ------------------------------------------------------------


@given(dags(), st.data())
def test_transitive_dependents_match_reverse_reachability_nearest_first(
    adjacency: Adjacency, data: st.DataObject
) -> None:
    assume(adjacency)
    graph = DependencyGraph(adjacency)
    node = data.draw(st.sampled_from(sorted(all_nodes(adjacency))))
    reverse = reverse_of(adjacency)
    impact = graph.transitive_dependents(node)
    assert len(impact) == len(set(impact))
    assert set(impact) == reachable(reverse, node)
    dist = distances(reverse, node)
    assert [dist[n] for n in impact] == sorted(dist[n] for n in impact)


@given(digraphs())
def test_transitive_dependents_on_cyclic_graphs(adjacency: Adjacency) -> None:
    graph = DependencyGraph(adjacency)
    reverse = reverse_of(adjacency)
    for node in all_nodes(adjacency):
        impact = graph.transitive_dependents(node)
        assert len(impact) == len(set(impact))
        assert set(impact) == reachable(reverse, node) - {node}


# (d) cycles ---------------------------------------------------------------------------


@settings(max_examples=200)
@given(digraphs())
def test_cycles_are_real_and_cover_every_cyclic_component(adjacency: Adjacency) -> None:
    graph = DependencyGraph(adjacency)
    cycles = graph.cycles()
    assert (cycles == []) == is_acyclic(adjacency)
    for cycle in cycles:
        assert_closed_walk(graph, cycle)
    reach = {n: reachable(adjacency, n) for n in all_nodes(adjacency)}
    on_cycle = {n for n in reach if n in reach[n]}

    def same_component(a: int, b: int) -> bool:
        return a == b or (b in reach[a] and a in reach[b])

    for node in on_cycle:
        assert any(same_component(node, member) for cycle in cycles for member in cycle), (
            f"{node} lies on a cycle but no reported cycle is in its component: {cycles}"
        )
    # One cycle per strongly connected component that has one, never two.
    for first, second in itertools.combinations(cycles, 2):
        assert not same_component(first[0], second[0])
    components = {frozenset(m for m in on_cycle if same_component(n, m)) for n in on_cycle}
    assert len(cycles) == len(components)
    if cycles:
        with pytest.raises(CycleFound) as raised:
            graph.waves()
        assert raised.value.cycle == cycles[0]
    else:
        graph.check_acyclic()


# (e) an injected cycle is reported with its path --------------------------------------------


@given(dags(max_nodes=30), st.data())
def test_cycle_injected_into_a_dag_is_reported(adjacency: Adjacency, data: st.DataObject) -> None:
    assume(len(adjacency) >= 2)
    chain = data.draw(
        st.lists(st.sampled_from(sorted(adjacency)), min_size=2, max_size=8, unique=True).map(
            lambda xs: sorted(xs, reverse=True)
        )
    )
    top, bottom = chain[0], chain[-1]
    for high, low in itertools.pairwise(chain):  # the chain top -> ... -> bottom
        if low not in adjacency[high]:
            adjacency[high].append(low)
    unique_route = count_paths(adjacency, top, bottom) == 1
    adjacency[bottom].append(top)  # the edge from a low-index node back up the chain
    graph = DependencyGraph(adjacency)
    cycles = graph.cycles()
    assert len(cycles) == 1
    (cycle,) = cycles
    assert_closed_walk(graph, cycle)
    assert (bottom, top) in set(itertools.pairwise(cycle))
    if unique_route:
        assert rotate_to(cycle, top) == chain + [top]
    with pytest.raises(CycleFound) as raised:
        graph.check_acyclic()
    assert raised.value.cycle == cycle


@given(dags(max_nodes=30), st.integers(min_value=1, max_value=6), st.data())
def test_cycle_on_a_new_chain_hanging_off_a_dag_is_reported_exactly(
    adjacency: Adjacency, length: int, data: st.DataObject
) -> None:
    base = dict(adjacency)
    ring = [100 + i for i in range(length)]
    graph_input: dict[int, list[int]] = {n: list(d) for n, d in base.items()}
    for here, there in itertools.pairwise(ring):
        graph_input[here] = [there]
    graph_input.setdefault(ring[-1], [])
    graph_input[ring[-1]].append(ring[0])
    if base:  # the ring depends on the DAG and parts of the DAG depend on the ring
        graph_input[ring[0]].append(data.draw(st.sampled_from(sorted(base))))
    graph = DependencyGraph(graph_input)
    (cycle,) = graph.cycles()
    assert rotate_to(cycle, ring[0]) == ring + [ring[0]]
    assert str(cycle[0]) == min(str(n) for n in ring)  # starts at the smallest name


# (f) longest chains ----------------------------------------------------------------------


@given(dags(max_nodes=12), st.data())
def test_longest_chains_and_critical_path_match_enumeration(
    adjacency: Adjacency, data: st.DataObject
) -> None:
    graph = DependencyGraph(adjacency)
    nodes = sorted(all_nodes(adjacency))
    weights = {n: float(data.draw(st.integers(min_value=0, max_value=50))) for n in nodes}
    chains = graph.longest_chains(weights.__getitem__)
    for node in nodes:
        expected = longest_from(adjacency, node, weights)
        assert chains.weights[node] == expected
        path = chains.path(node)
        assert path[0] == node
        for a, b in itertools.pairwise(path):
            assert b in graph.dependencies(a)
        assert sum(weights[n] for n in path) == expected
    total, critical = graph.critical_path(weights.__getitem__)
    assert total == max((longest_from(adjacency, n, weights) for n in nodes), default=0.0)
    if nodes:
        for a, b in itertools.pairwise(critical):  # deepest dependency first
            assert a in graph.dependencies(b)
        assert sum(weights[n] for n in critical) == total
    else:
        assert critical == []


# Examples ---------------------------------------------------------------------------------


NETFLIX_BY_NAME = {
    "recommendation_ranker": ["user_embedding", "content_embedding"],
    "content_retrieval": ["query_understanding"],
    "user_embedding": [],
    "content_embedding": [],
    "query_understanding": [],
}


def test_netflix_waves_by_name() -> None:
    waves = DependencyGraph(NETFLIX_BY_NAME).waves()
    assert waves == [
        ["content_embedding", "query_understanding", "user_embedding"],
        ["content_retrieval", "recommendation_ranker"],
    ]


def test_netflix_example_waves_from_the_catalog(netflix: Workspace) -> None:
    graph = netflix.select().graph
    assert graph.waves() == [
        [
            "recommendation/content_embedding@2.1",
            "recommendation/ranking_scorer@3.0",
            "recommendation/user_embedding@1.0",
            "search/query_understanding@1.5",
        ],
        ["recommendation/recommendation_ranker@3.0", "search/content_retrieval@2.0"],
    ]
    assert graph.cycles() == []


def test_diamond_shared_dependency_appears_once() -> None:
    graph = DependencyGraph({"top": ["left", "right"], "left": ["base"], "right": ["base"]})
    closure = graph.transitive_dependencies("top")
    assert closure.count("base") == 1
    assert set(closure) == {"left", "right", "base"}
    assert closure[0] == "base"
    assert graph.transitive_dependents("base") == ["left", "right", "top"]
    assert graph.waves() == [["base"], ["left", "right"], ["top"]]


def test_three_cycle_reported_with_its_path() -> None:
    graph = DependencyGraph({"a": ["b"], "b": ["c"], "c": ["a"]})
    assert graph.cycles() == [["a", "b", "c", "a"]]
    with pytest.raises(CycleFound, match="a -> b -> c -> a"):
        graph.waves()


def test_self_loop_is_a_cycle() -> None:
    assert DependencyGraph({"a": ["a"], "b": ["a"]}).cycles() == [["a", "a"]]


def test_targets_only_named_as_dependencies_become_nodes() -> None:
    graph = DependencyGraph({"a": ["b", "b"]})
    assert set(graph.nodes) == {"a", "b"}
    assert graph.dependencies("a") == ("b",)
    assert graph.dependents("b") == ["a"]
    assert graph.edges() == [("a", "b")]


def test_empty_graph() -> None:
    graph: DependencyGraph[str] = DependencyGraph({})
    assert graph.waves() == []
    assert graph.cycles() == []
    assert graph.critical_path(lambda _n: 1.0) == (0.0, [])


def test_cycle_groups_cover_every_node_on_a_cycle() -> None:
    graph = DependencyGraph({"a": ["b", "c"], "b": ["a"], "c": ["a"], "d": ["a"]})
    [(cycle, members)] = graph.cycle_groups()
    assert cycle == ["a", "b", "a"]
    assert members == {"a", "b", "c"}  # d depends on the cycle but is not on one


LONG = 5000


def test_long_chain_does_not_recurse() -> None:
    chain = {i: [i - 1] for i in range(1, LONG)}
    chain[0] = []
    with shallow_recursion():
        graph = DependencyGraph(chain)
        assert graph.cycles() == []
        waves = graph.waves()
        assert len(waves) == LONG
        assert waves[0] == [0] and waves[-1] == [LONG - 1]
        assert graph.transitive_dependencies(LONG - 1) == list(range(LONG - 1))
        assert graph.transitive_dependents(0) == list(range(1, LONG))
        total, path = graph.critical_path(lambda _n: 1.0)
        assert total == LONG and path == list(range(LONG))


def test_long_ring_is_one_cycle_without_recursion() -> None:
    ring = {i: [(i + 1) % LONG] for i in range(LONG)}
    with shallow_recursion():
        (cycle,) = DependencyGraph(ring).cycles()
    assert len(cycle) == LONG + 1
    assert rotate_to(cycle, 0) == list(range(LONG)) + [0]


# modelyard.graph.resolve -------------------------------------------------------------


def entry(model: str, version: str, *deps: str) -> VersionEntry:
    return VersionEntry(model, Version.parse(version), tuple(Dependency.parse(d) for d in deps))


def test_highest_matching_version_is_chosen() -> None:
    index = VersionIndex(
        [
            entry("d/base", "1.0"),
            entry("d/base", "1.10"),
            entry("d/base", "1.9.3"),
            entry("d/base", "1.2"),
            entry("d/app", "1.0", "d/base>=1.0,<2"),
        ]
    )
    resolution = resolve(index, ["d/app@1.0"])
    assert resolution.ok
    assert resolution.resolved[("d/app@1.0", "d/base")] == "d/base@1.10"
    assert resolution.graph.dependencies("d/app@1.0") == ("d/base@1.10",)
    assert set(resolution.entries) == {"d/app@1.0", "d/base@1.10"}
    assert index.newest("d/base") == entry("d/base", "1.10")


def test_constraint_excluding_the_newest_picks_an_older_one() -> None:
    index = VersionIndex(
        [
            entry("d/base", "1.4"),
            entry("d/base", "2.0"),
            entry("d/base", "1.5.1"),
            entry("d/app", "3.0", "d/base<2"),
        ]
    )
    resolution = resolve(index, ["d/app@3.0"])
    assert resolution.ok
    assert resolution.resolved[("d/app@3.0", "d/base")] == "d/base@1.5.1"


def test_two_versions_of_one_model_can_both_be_resolved() -> None:
    index = VersionIndex(
        [
            entry("d/base", "1.0"),
            entry("d/base", "2.0"),
            entry("d/old", "1.0", "d/base~=1.0"),
            entry("d/new", "1.0", "d/base>=2"),
            entry("d/app", "1.0", "d/old", "d/new"),
        ]
    )
    resolution = resolve(index, ["d/app@1.0"])
    assert resolution.ok
    assert {"d/base@1.0", "d/base@2.0"} <= set(resolution.entries)
    assert resolution.graph.dependencies("d/old@1.0") == ("d/base@1.0",)
    assert resolution.graph.dependencies("d/new@1.0") == ("d/base@2.0",)
    closure = resolution.graph.transitive_dependencies("d/app@1.0")
    assert sorted(closure) == ["d/base@1.0", "d/base@2.0", "d/new@1.0", "d/old@1.0"]


def test_resolving_everything_by_default() -> None:
    index = VersionIndex([entry("d/base", "1.0"), entry("d/app", "1.0", "d/base")])
    resolution = resolve(index)
    assert set(resolution.entries) == {"d/base@1.0", "d/app@1.0"}


def test_missing_and_unsatisfiable_dependencies_are_distinct_problems() -> None:
    index = VersionIndex(
        [
            entry("d/base", "1.0"),
            entry("d/base", "1.5"),
            entry("d/app", "1.0", "d/ghost>=1.0", "d/base>=2", "d/base2"),
        ]
    )
    resolution = resolve(index, ["d/app@1.0"])
    assert not resolution.ok
    codes = [(p.code, p.field) for p in resolution.problems]
    assert codes == [
        ("missing-dependency", "dependencies[0]"),
        ("unsatisfiable-dependency", "dependencies[1]"),
        ("missing-dependency", "dependencies[2]"),
    ]
    assert all(p.severity is Severity.ERROR and p.model == "d/app@1.0" for p in resolution.problems)
    unsatisfiable = resolution.problems[1]
    assert unsatisfiable.details["available"] == ["1.0", "1.5"]
    assert resolution.graph.dependencies("d/app@1.0") == ()


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    st.sampled_from([">=1.0,<2", "<2", ">=2", "~=1.1", "==1.2", "", "!=3.3"]),
)
def test_best_match_is_the_highest_allowed_version(
    triples: list[tuple[int, int, int]], constraint: str
) -> None:
    entries = [entry("d/base", f"{a}.{b}.{c}") for a, b, c in triples]
    index = VersionIndex(entries + [entry("d/app", "1.0", f"d/base{constraint}")])
    dependency = Dependency.parse(f"d/base{constraint}")
    allowed = [e for e in entries if dependency.constraint.allows(e.version)]
    match = index.best_match(dependency)
    if not allowed:
        assert match is None
        (problem,) = resolve(index, ["d/app@1.0"]).problems
        assert problem.code == "unsatisfiable-dependency"
    else:
        assert match is not None
        assert match.version == max(e.version for e in allowed)
