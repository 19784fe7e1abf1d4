"""The HTML report: one self-contained page (inline CSS and SVG; no server, no CDN).

Sections: summary, dependency graph (one per domain for large catalogs), catalog by
domain, resource charts against fleet capacity, SLA table with the models whose
dependency chains overrun their budget highlighted, validation findings, fleet map,
deployment history (when recorded), measured vs declared (from `modelyard perf`), traffic
experiments (current and past, each change with the weights before and after), canary
rollouts (each step, analysis and decision, with per-arm charts over the analyses), and
the compiled Triton repository as a tree.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from modelyard.errors import Severity
from modelyard.placement.fleet import Fleet
from modelyard.placement.solver import Placement
from modelyard.report.charts import bar_chart
from modelyard.report.data import build_report
from modelyard.report.graphs import GraphView, domain_colours, render_svg, to_dot
from modelyard.report.rollout_charts import decision_of, rollout_charts
from modelyard.report.tree import TreeNode, human_size, read_tree
from modelyard.selection import CatalogView
from modelyard.store.history import DeploymentRecord
from modelyard.validation import ValidationReport

# Above this many models the graph is drawn per domain: one picture of 1,000 boxes helps nobody.
WHOLE_GRAPH_LIMIT = 120
OPEN_SECTION_LIMIT = 60
_CHART_METRICS = (
    ("gpu_memory_mb", "GPU memory", "MB"),
    ("memory_mb", "host memory", "MB"),
    ("cpu_cores", "CPU cores", "cores"),
)
_GROUPS = (("by_domain", "domain"), ("by_team", "team"), ("by_framework", "framework"))


@dataclass(frozen=True)
class DrawnGraph:
    title: str
    svg: str
    nodes: int
    edges: int


def build_html_report(
    view: CatalogView,
    fleet: Fleet | None,
    validation: ValidationReport,
    *,
    generated_at: datetime,
    repository: Path | None = None,
    history: Sequence[DeploymentRecord] = (),
    placement: Placement | None = None,
    live: Sequence[Any] = (),  # ops.rollout.TargetStatus: target, status or error
    measured: Sequence[dict[str, Any]] = (),
    experiments: Sequence[Any] = (),  # ops.insight.ExperimentDetail: experiment, changes
    rollouts: Sequence[Any] = (),  # ops.canary.RolloutStatus: rollout, interrupted, events
) -> str:
    report = build_report(view.specs.values(), fleet, view.marked_versions())
    colours = domain_colours(spec.domain for spec in view.specs.values())
    findings_by_model: dict[str, list[str]] = {}
    for problem in validation.problems:
        if problem.model and problem.code in ("sla-latency-chain", "sla-availability-chain"):
            findings_by_model.setdefault(problem.model, []).append(problem.message)
    template = _environment().get_template("report.html.j2")
    return template.render(
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
        models=len(view.specs),
        domains=sorted(report.structure),
        structure=report.structure,
        lifecycle=report.lifecycle,
        sla=report.sla,
        resources=report.resources,
        charts=_charts(report.resources, colours),
        graphs=_graphs(view),
        colours=colours,
        overruns=findings_by_model,
        problems=[p for p in validation.problems if p.severity is not Severity.INFO],
        infos=[p for p in validation.problems if p.severity is Severity.INFO],
        errors=len(validation.errors),
        warnings=len(validation.warnings),
        fleet=fleet,
        tree=_tree_rows(read_tree(repository)) if repository and repository.exists() else None,
        repository=str(repository) if repository else None,
        open_limit=OPEN_SECTION_LIMIT,
        history=[_history_row(record) for record in history],
        placement=_placement_rows(placement) if placement is not None else None,
        unplaced=[str(s) for s in placement.unplaced] if placement is not None else [],
        live=list(live),
        measured=list(measured),
        experiments=list(experiments),
        rollouts=[
            {
                "status": status,
                "charts": rollout_charts(status.events),
                "decision": decision_of(status.events),
            }
            for status in rollouts
        ],
    )


def write_html_report(html: str, out_dir: Path) -> Path:
    """Write `out_dir/index.html` atomically (readers never see half a page)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=".index-", suffix=".html")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(html)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for reading
    os.replace(temporary, target)
    return target


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("modelyard.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    environment.filters["gb"] = lambda mb: f"{mb / 1024:,.1f} GB"
    environment.filters["pct"] = lambda v: f"{v:.3%}"
    environment.filters["weights"] = _weights_text
    return environment


def _weights_text(weights: dict[str, int] | None) -> str:
    """`3.0=90, 3.1=10` (or `unrouted`: Triton's highest loaded version took every request)."""
    if not weights:
        return "unrouted"
    return ", ".join(f"{version}={weight}" for version, weight in weights.items())


def _charts(resources: dict[str, Any], colours: dict[str, str]) -> list[dict[str, str]]:
    capacity = resources.get("capacity") or {}
    charts = []
    for key, label, unit in _CHART_METRICS:
        for group, group_label in _GROUPS:
            rows = [(name, float(values[key])) for name, values in resources[group].items()]
            title = f"{label} by {group_label}"
            charts.append(
                {
                    "id": f"chart-{key}-{group_label}",
                    "svg": bar_chart(
                        title,
                        rows,
                        unit,
                        capacity.get(key),
                        colours if group == "by_domain" else None,
                    ),
                }
            )
    return charts


def _graphs(view: CatalogView) -> list[DrawnGraph]:
    graph = view.graph
    if not view.specs:
        return []
    if len(view.specs) <= WHOLE_GRAPH_LIMIT:
        parts = [("all models", GraphView.of(graph, view.specs))]
    else:
        parts = []
        for domain in sorted({s.domain for s in view.specs.values()}):
            members = {ref for ref, s in view.specs.items() if s.domain == domain}
            # Cross-domain dependencies are drawn too, inside their own domain's cluster.
            external = {dep for ref in members for dep in graph.dependencies(ref)}
            parts.append((f"domain {domain}", GraphView.of(graph, view.specs, members | external)))
    svgs = render_svg([to_dot(part) for _, part in parts])
    return [
        DrawnGraph(title, svg, len(part.nodes), len(part.edges))
        for (title, part), svg in zip(parts, svgs, strict=True)
    ]


def _placement_rows(placement: Placement) -> list[dict[str, Any]]:
    """Per server, per GPU: memory used of capacity and the replicas placed there."""
    servers = []
    for server in placement.servers:
        by_gpu: dict[int | None, list[str]] = {}
        for a in placement.on(server.server):
            by_gpu.setdefault(a.gpu_index, []).append(f"{a.ref} ×{a.instances}")
        servers.append(
            {
                "name": server.server,
                "used_gpu": server.used_gpu_memory_mb,
                "gpu": server.gpu_memory_mb,
                "used_memory": server.used_memory_mb,
                "memory": server.memory_mb,
                "used_cpu": server.used_cpu_cores,
                "cpu": server.cpu_cores,
                "gpus": [
                    {
                        "index": g.index,
                        "used": g.used_mb,
                        "memory": g.memory_mb,
                        "percent": round(100 * g.utilisation, 1),
                        "models": by_gpu.get(g.index, []),
                    }
                    for g in placement.gpus_of(server.server)
                ],
                "cpu_models": by_gpu.get(None, []),
            }
        )
    return servers


def _history_row(record: DeploymentRecord) -> dict[str, Any]:
    seconds = (
        (record.finished_at - record.started_at).total_seconds() if record.finished_at else None
    )
    return {
        "id": record.id,
        "target": record.target,
        "actor": record.actor,
        "started": f"{record.started_at:%Y-%m-%d %H:%M:%S}",
        "outcome": record.outcome,
        "seconds": f"{seconds:.1f}" if seconds is not None else "–",
        "selection": record.selection,
        "error": record.error or "",
        "models": ", ".join(f"{a['model']} ({a['action']}: {a['status']})" for a in record.actions),
    }


def _tree_rows(root: TreeNode) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def walk(node: TreeNode, depth: int) -> None:
        rows.append(
            {
                "name": node.name + ("/" if node.is_dir else ""),
                "depth": depth,
                "size": human_size(node.size_bytes),
                "is_dir": node.is_dir,
            }
        )
        for child in node.children:
            walk(child, depth + 1)

    walk(root, 0)
    return rows
