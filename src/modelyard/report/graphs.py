"""The dependency graph as Graphviz DOT, Mermaid, or SVG (drawn by Graphviz `dot`).

An arrow `a -> b` reads "a depends on b". Models are coloured by domain and grouped in
one cluster per domain; the critical path (the longest chain of loads) is drawn thick
and red.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from modelyard.catalog.spec import ModelSpec
from modelyard.errors import InputError
from modelyard.graph.dag import DependencyGraph

# Okabe & Ito's colour-blind-safe palette, then ColorBrewer's Set3: light enough for black
# text, and sixteen so that two domains of a small catalog seldom share one.
PALETTE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#999999",
    "#8DD3C7",
    "#FB8072",
    "#B3DE69",
    "#FDB462",
    "#BC80BD",
    "#80B1D3",
    "#FCCDE5",
    "#CCEBC5",
)
DOT_TIMEOUT_S = 60


@dataclass(frozen=True)
class GraphView:
    """The part of a catalog graph to draw."""

    nodes: list[str]
    edges: list[tuple[str, str]]
    specs: dict[str, ModelSpec]
    critical_path: list[str]
    hidden: int = 0  # models of the neighbourhood left out of the drawing

    @classmethod
    def of(
        cls,
        graph: DependencyGraph[str],
        specs: dict[str, ModelSpec],
        nodes: Iterable[str] | None = None,
        *,
        hidden: int = 0,
    ) -> GraphView:
        chosen = set(graph.nodes if nodes is None else nodes)
        ordered = sorted(chosen)
        edges = [(a, b) for a in ordered for b in graph.dependencies(a) if b in chosen]
        outgoing: dict[str, list[str]] = {n: [] for n in ordered}
        for a, b in edges:
            outgoing[a].append(b)
        sub: DependencyGraph[str] = DependencyGraph(outgoing)
        _, critical = sub.critical_path(lambda _ref: 1.0) if not sub.cycles() else (0.0, [])
        return cls(ordered, edges, specs, critical if len(critical) > 1 else [], hidden)


# A model page draws at most this many models: Graphviz takes seconds per thousand nodes,
# and a picture of thousands says nothing. The nearest come first.
NEIGHBOURHOOD_LIMIT = 120


def neighbourhood(
    graph: DependencyGraph[str], ref: str, limit: int = NEIGHBOURHOOD_LIMIT
) -> tuple[list[str], int]:
    """A model and the nearest of what it needs and of what needs it (at most `limit` in
    all, half each way when both have more), and how many more there are. Linear in the
    size of the graph."""
    needs = _nearest(ref, graph.dependencies)
    needed_by = _nearest(ref, graph.dependents)
    room = max(0, limit - 1)
    take_needs = min(len(needs), max(room // 2, room - len(needed_by)))
    take_needed_by = min(len(needed_by), room - take_needs)
    shown = [ref, *needs[:take_needs], *needed_by[:take_needed_by]]
    return shown, len(needs) + len(needed_by) - take_needs - take_needed_by


def _nearest(ref: str, step: Callable[[str], Sequence[str]]) -> list[str]:
    """Everything reachable from `ref` by `step`, nearest first (breadth first)."""
    seen: dict[str, None] = {ref: None}
    queue: deque[str] = deque([ref])
    while queue:
        for node in step(queue.popleft()):
            if node not in seen:
                seen[node] = None
                queue.append(node)
    return list(seen)[1:]


def domain_colour(domain: str) -> str:
    """A domain's colour, a function of its name alone: adding or removing a domain never
    changes another's (an index into the sorted list of domains would)."""
    digest = hashlib.sha256(domain.encode()).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def domain_colours(domains: Iterable[str]) -> dict[str, str]:
    return {domain: domain_colour(domain) for domain in sorted(set(domains))}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(view: GraphView, title: str = "modelyard") -> str:
    colours = domain_colours(view.specs[n].domain for n in view.nodes)
    on_path = set(zip(view.critical_path, view.critical_path[1:], strict=False))
    lines = [
        f"digraph {_quote(title)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    if view.hidden:
        note = (
            f"the nearest {len(view.nodes)} models; {view.hidden:,} more are not drawn "
            "(modelyard deps and impact list them all)"
        )
        lines.append(f"  label={_quote(note)}; labelloc=b;")
    by_domain: dict[str, list[str]] = {}
    for node in view.nodes:
        by_domain.setdefault(view.specs[node].domain, []).append(node)
    for index, (domain, nodes) in enumerate(sorted(by_domain.items())):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f'    label={_quote(domain)}; style=dashed; color="#888888";')
        for node in nodes:
            spec = view.specs[node]
            label = f"{spec.name}\\n{spec.version} · {spec.framework}"
            extra = ', penwidth=2.5, color="#B00020"' if node in view.critical_path else ""
            lines.append(
                f'    {_quote(node)} [label="{label}", fillcolor="{colours[domain]}", '
                f"tooltip={_quote(node)}{extra}];"
            )
        lines.append("  }")
    for dependent, dependency in view.edges:
        # The critical path runs from the deepest dependency up: its edges point the other way.
        marked = (dependency, dependent) in on_path
        style = ' [color="#B00020", penwidth=2.5]' if marked else ""
        lines.append(f"  {_quote(dependent)} -> {_quote(dependency)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(view: GraphView) -> str:
    ids = {node: f"m{i}" for i, node in enumerate(view.nodes)}
    lines = ["graph LR"]
    for node in view.nodes:
        spec = view.specs[node]
        lines.append(f'  {ids[node]}["{spec.id}@{spec.version}"]')
    for dependent, dependency in view.edges:
        lines.append(f"  {ids[dependent]} --> {ids[dependency]}")
    colours = domain_colours(view.specs[n].domain for n in view.nodes)
    for domain, colour in colours.items():
        members = ",".join(ids[n] for n in view.nodes if view.specs[n].domain == domain)
        lines.append(f"  classDef d_{domain.replace('-', '_')} fill:{colour},color:#000")
        lines.append(f"  class {members} d_{domain.replace('-', '_')}")
    return "\n".join(lines) + "\n"


def render_svg(dot_sources: Sequence[str]) -> list[str]:
    """Run Graphviz `dot -Tsvg` on each source (in parallel); the `<svg>` elements."""
    binary = shutil.which("dot")
    if binary is None:
        raise InputError(
            "drawing the graph needs Graphviz's `dot` (Debian: apt-get install "
            "graphviz; `make` installs it)"
        )

    def draw(source: str) -> str:
        done = subprocess.run(
            [binary, "-Tsvg"],
            input=source.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise InputError(f"Graphviz dot failed: {done.stderr.decode(errors='replace').strip()}")
        text = done.stdout.decode()
        return text[text.index("<svg") :]  # drop the XML prologue: the SVG is inlined in HTML

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(draw, dot_sources))
