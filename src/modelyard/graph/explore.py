"""What an interactive graph viewer draws: one node per domain for a large catalog, a
model's neighbourhood within N hops, and positions in layers (dependencies on the left)
so that a browser need not lay out thousands of nodes itself.

Pure functions of a `DependencyGraph`; the viewer's use case (ops/catalog.py) picks the
view and the dashboard draws it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from modelyard.graph.dag import DependencyGraph

N = TypeVar("N", bound=Hashable)

# Distances in the viewer's units (pixels at zoom 1): between layers, between the columns
# a long layer is wrapped into (room for a label of about 25 characters), between rows.
LAYER_GAP = 300.0
COLUMN_GAP = 210.0
ROW_GAP = 46.0
# A long layer wraps into columns so that the picture is about this much wider than tall
# (a single column of 300 models is a strip nobody can read); never below MIN_ROWS rows.
ASPECT = 1.6
MIN_ROWS = 8


def domain_overview(
    graph: DependencyGraph[N], domain_of: Callable[[N], str]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Models per domain, and dependencies per (dependent's domain, dependency's domain),
    those inside one domain included (as `(d, d)`)."""
    models: dict[str, int] = {}
    edges: dict[tuple[str, str], int] = {}
    for node in graph.nodes:
        domain = domain_of(node)
        models[domain] = models.get(domain, 0) + 1
        for dependency in graph.dependencies(node):
            key = (domain, domain_of(dependency))
            edges[key] = edges.get(key, 0) + 1
    return models, edges


def within_hops(graph: DependencyGraph[N], start: N, hops: int) -> list[N]:
    """`start`, what it needs and what needs it, at most `hops` dependencies away in
    either direction; nearest first (breadth first, needs before needed-by at each
    distance)."""
    seen: dict[N, int] = {start: 0}
    for step in (graph.dependencies, graph.dependents):
        queue: deque[tuple[N, int]] = deque([(start, 0)])
        reached: set[N] = {start}
        while queue:
            node, distance = queue.popleft()
            if distance == hops:
                continue
            for other in step(node):
                if other not in reached:
                    reached.add(other)
                    queue.append((other, distance + 1))
                    if other not in seen or seen[other] > distance + 1:
                        seen[other] = distance + 1
    return sorted(seen, key=lambda node: seen[node])


def layered_positions(
    graph: DependencyGraph[N], nodes: Iterable[N]
) -> dict[N, tuple[float, float]]:
    """x, y of each of `nodes`: a node's layer is the longest chain of dependencies below
    it among `nodes` (leaves leftmost, dependents to the right of all they need); a long
    layer wraps into several columns, in the order given, so that the whole is about
    ASPECT times as wide as tall. With a cycle among `nodes` every node is in layer 0
    (validate reports the cycle)."""
    chosen = list(dict.fromkeys(nodes))
    members = set(chosen)
    sub: DependencyGraph[N] = DependencyGraph(
        {n: [d for d in graph.dependencies(n) if d in members] for n in chosen}
    )
    layer: dict[N, int] = dict.fromkeys(chosen, 0)
    if not sub.cycles():
        for node in sub.topological_order():  # dependencies come first
            below = [layer[d] for d in sub.dependencies(node)]
            layer[node] = 1 + max(below) if below else 0
    rows: dict[int, list[N]] = {}
    for node in chosen:
        rows.setdefault(layer[node], []).append(node)
    layers = [rows[depth] for depth in sorted(rows)]
    per_column = _rows_per_column([len(row) for row in layers])
    positions: dict[N, tuple[float, float]] = {}
    left = 0.0
    for row in layers:
        columns = -(-len(row) // per_column)
        for index, node in enumerate(row):
            column, place = divmod(index, per_column)
            height = min(per_column, len(row) - column * per_column)
            top = -(height - 1) * ROW_GAP / 2
            positions[node] = (left + column * COLUMN_GAP, top + place * ROW_GAP)
        left += (columns - 1) * COLUMN_GAP + LAYER_GAP
    return positions


def _rows_per_column(sizes: list[int]) -> int:
    """The rows per column that bring the picture nearest to ASPECT (width / height)."""
    if not sizes:
        return 1
    longest = max(sizes)
    best, best_score = longest, math.inf
    for rows in range(min(longest, MIN_ROWS), longest + 1):
        columns = sum(-(-size // rows) for size in sizes)
        width = columns * COLUMN_GAP + (len(sizes) - 1) * (LAYER_GAP - COLUMN_GAP)
        score = abs(math.log(max(width, COLUMN_GAP) / (rows * ROW_GAP) / ASPECT))
        if score < best_score:
            best, best_score = rows, score
    return best
