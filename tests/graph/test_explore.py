"""What the graph viewer draws: the domain overview, neighbourhoods within N hops, layers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelyard.graph.dag import DependencyGraph
from modelyard.graph.explore import (
    COLUMN_GAP,
    LAYER_GAP,
    ROW_GAP,
    domain_overview,
    layered_positions,
    within_hops,
)

# a -> b means a depends on b: top needs mid1 and mid2, which need leaf; other is apart.
GRAPH: DependencyGraph[str] = DependencyGraph(
    {
        "x/top": ["x/mid1", "y/mid2"],
        "x/mid1": ["y/leaf"],
        "y/mid2": ["y/leaf"],
        "y/leaf": [],
        "z/other": [],
    }
)


def test_domain_overview_counts_models_and_dependencies_between_domains() -> None:
    models, edges = domain_overview(GRAPH, lambda node: node.split("/")[0])
    assert models == {"x": 2, "y": 2, "z": 1}
    assert edges == {("x", "x"): 1, ("x", "y"): 2, ("y", "y"): 1}


def test_within_hops_goes_both_ways_nearest_first() -> None:
    assert within_hops(GRAPH, "x/mid1", 1) == ["x/mid1", "y/leaf", "x/top"]
    assert set(within_hops(GRAPH, "y/leaf", 1)) == {"y/leaf", "x/mid1", "y/mid2"}
    assert set(within_hops(GRAPH, "y/leaf", 2)) == {"y/leaf", "x/mid1", "y/mid2", "x/top"}
    assert within_hops(GRAPH, "z/other", 3) == ["z/other"]


def test_layers_put_dependencies_left_of_what_needs_them() -> None:
    positions = layered_positions(GRAPH, GRAPH.nodes)
    assert positions["y/leaf"][0] == positions["z/other"][0] == 0
    assert positions["x/mid1"][0] == positions["y/mid2"][0] == LAYER_GAP
    assert positions["x/top"][0] == 2 * LAYER_GAP
    assert len(set(positions.values())) == 5  # no two nodes on one spot
    # Only the nodes given count: without the middle, top sits right beside leaf.
    assert layered_positions(GRAPH, ["x/top", "y/leaf"])["x/top"][0] == 0


@given(
    st.dictionaries(
        st.integers(0, 30), st.lists(st.integers(0, 30), max_size=3), min_size=1, max_size=30
    )
)
def test_every_edge_points_left_without_cycles(raw: dict[int, list[int]]) -> None:
    # Only edges to smaller numbers: acyclic.
    graph: DependencyGraph[int] = DependencyGraph(
        {n: [d for d in deps if d < n] for n, deps in raw.items()}
    )
    positions = layered_positions(graph, graph.nodes)
    assert set(positions) == set(graph.nodes)
    for node, dependency in graph.edges():
        assert positions[dependency][0] < positions[node][0]
    assert len(set(positions.values())) == len(positions)


def test_a_long_layer_wraps_into_columns() -> None:
    leaves: DependencyGraph[int] = DependencyGraph({n: [] for n in range(400)})
    positions = layered_positions(leaves, leaves.nodes)
    xs = sorted({x for x, _ in positions.values()})
    ys = sorted({y for _, y in positions.values()})
    assert len(xs) > 1 and len(set(positions.values())) == 400
    width, height = xs[-1] - xs[0] + COLUMN_GAP, ys[-1] - ys[0] + ROW_GAP
    assert 1 < width / height < 3  # about ASPECT, not a strip
