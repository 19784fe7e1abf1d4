"""The graph viewer's use case over the Netflix catalog: which view, which nodes, the
critical path, and the errors."""

from __future__ import annotations

import pytest

from modelyard import Workspace
from modelyard.errors import InputError, NotFound
from modelyard.report.graphs import domain_colour


def test_a_small_catalog_is_drawn_whole_with_its_critical_path(netflix: Workspace) -> None:
    data = netflix.explore_graph()
    assert data.level == "models" and data.shown_models == 6 and data.hidden_models == 0
    assert len(data.edges) == 4
    assert len(data.critical_path) == 2 and data.critical_path[-1].startswith(
        "recommendation/recommendation_ranker@"
    )
    on_path = {node.id for node in data.nodes if node.critical}
    assert on_path == set(data.critical_path)
    assert [e for e in data.edges if e.critical] == [
        e
        for e in data.edges
        if (e.source, e.target) == (data.critical_path[1], data.critical_path[0])
    ]
    assert {n.domain: n.colour for n in data.nodes}["search"] == domain_colour("search")


def test_a_large_catalog_starts_with_one_node_per_domain(netflix: Workspace) -> None:
    data = netflix.explore_graph(overview_above=5)
    assert data.level == "domains"
    assert [(n.id, n.models) for n in data.nodes] == [
        ("domain:recommendation", 4),
        ("domain:search", 2),
    ]
    assert {(e.source, e.target): e.count for e in data.edges} == {
        ("domain:recommendation", "domain:recommendation"): 3,
        ("domain:search", "domain:search"): 1,
    }
    assert [n.id for n in data.nodes if n.critical] == ["domain:recommendation"]
    # Filtering or focusing shows models again, however large the catalog.
    assert netflix.explore_graph(domain="search", overview_above=5).level == "models"


def test_focus_search_and_domain(netflix: Workspace) -> None:
    focused = netflix.explore_graph(focus="recommendation/user_embedding", hops=1)
    assert {n.id.split("@")[0] for n in focused.nodes} == {
        "recommendation/user_embedding",
        "recommendation/recommendation_ranker",
    }
    assert [n.id for n in focused.nodes if n.focus] == ["recommendation/user_embedding@1.0"]
    two_hops = netflix.explore_graph(focus="recommendation/user_embedding", hops=2)
    # What it needs and what needs it, not what else the ranker needs (no sibling is a
    # neighbour): the same two at any distance.
    assert two_hops.shown_models == 2
    found = netflix.explore_graph(search="EMBEDDING")
    assert sorted(n.id for n in found.nodes if n.match) == [
        "recommendation/content_embedding@2.1",
        "recommendation/user_embedding@1.0",
    ]
    search = netflix.explore_graph(domain="search")
    assert {n.domain for n in search.nodes} == {"search"} and search.shown_models == 2
    assert netflix.explore_graph(search="embedding", domain="search").shown_models == 0
    limited = netflix.explore_graph(limit=3)
    assert limited.shown_models == 3 and limited.hidden_models == 3


def test_bad_requests_name_what_to_do(netflix: Workspace) -> None:
    with pytest.raises(NotFound, match="domain 'nowhere'"):
        netflix.explore_graph(domain="nowhere")
    with pytest.raises(NotFound, match="search/nothing"):
        netflix.explore_graph(focus="search/nothing")
    with pytest.raises(InputError, match="hops"):
        netflix.explore_graph(focus="search/content_retrieval", hops=0)
