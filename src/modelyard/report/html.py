"""The HTML report: an index page and one page per domain, self-contained (inline CSS and
SVG; no server, no CDN).

The index: summary, the domains (each with its colour, size, dependencies within and
across domains, findings), resource charts against fleet capacity, SLA statistics, the
catalog's critical path, validation findings grouped by kind, the fleet map (the
placement `modelyard place` makes), deployment history, measured vs declared (from
`modelyard perf`), traffic experiments, canary rollouts, live status and the compiled
Triton repository as a tree. A small catalog's index also holds every model's rows and
the whole graph, so six models read on one page. A domain page: its dependency graph
(Graphviz, the domain's models and what they need elsewhere), its models, their SLAs with
the chains that overrun their budget highlighted, its findings and lifecycle marks. So the
index stays small (under 2 MB at 10,000 models) and each picture is one domain's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from modelyard.errors import NotFound, Problem, Severity
from modelyard.placement.fleet import Fleet
from modelyard.placement.solver import Placement
from modelyard.report.charts import bar_chart
from modelyard.report.data import CatalogReport, build_report
from modelyard.report.graphs import GraphView, domain_colours, render_svg, to_dot
from modelyard.report.rollout_charts import decision_of, rollout_charts
from modelyard.report.tree import TreeNode, human_size, read_tree
from modelyard.report.units import count, megabytes
from modelyard.selection import CatalogView
from modelyard.store.history import DeploymentRecord
from modelyard.validation import ValidationReport

# Up to this many models the index also lists every model and draws the whole graph.
INLINE_LIMIT = 120
OPEN_SECTION_LIMIT = 60
# Findings of one kind the index lists before sending readers to the domain pages.
INDEX_FINDINGS_PER_KIND = 20
# Rows of the repository tree and of each target's live status the index shows at most.
TREE_ROWS_LIMIT = 2000
LIVE_ROWS_LIMIT = 200
# Above this many replicas the fleet map counts each GPU's replicas instead of naming them;
# the index names at most this many replicas that do not fit.
PLACEMENT_NAMES_LIMIT = 500
UNPLACED_LIMIT = 50
_CHART_METRICS = (
    ("gpu_memory_mb", "GPU memory", "MB"),
    ("memory_mb", "host memory", "MB"),
    ("cpu_cores", "CPU cores", "cores"),
)
_GROUPS = (("by_domain", "domain"), ("by_team", "team"), ("by_framework", "framework"))
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class DrawnGraph:
    title: str
    svg: str
    nodes: int
    edges: int


@dataclass(frozen=True)
class PageLinks:
    """Where the pages link to one another: files side by side (`index.html`,
    `domains/<domain>.html`), or the API's URLs when a server renders them."""

    index_from_domain: str = "../index.html"
    domain_from_index: str = "domains/{domain}.html"
    domain_from_domain: str = "{domain}.html"


@dataclass(frozen=True)
class ReportPages:
    """The index page and the domain pages asked for (domain -> page)."""

    index: str
    domains: dict[str, str]


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one kind: severity, code, how many, and those listed."""

    severity: str
    code: str
    total: int
    problems: list[Problem]


def domain_page_path(domain: str) -> str:
    """A domain page's path inside the report folder (domain names are file-name safe)."""
    return f"domains/{domain}.html"


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
    domains: Collection[str] | None = None,
    links: PageLinks = PageLinks(),
) -> ReportPages:
    """The index and the pages of `domains` (every domain when None).

    Raises:
        NotFound: a domain asked for has no model in the selection.
    """
    report = build_report(view.specs.values(), fleet, view.marked_versions())
    every_domain = sorted(report.structure)
    wanted = every_domain if domains is None else sorted(set(domains))
    for domain in wanted:
        if domain not in report.structure:
            raise NotFound(
                f"domain {domain!r} has no model in this selection; the report's index "
                "lists its domains"
            )
    colours = domain_colours(every_domain)
    overruns: dict[str, list[str]] = {}
    for problem in validation.problems:
        if problem.model and problem.code in ("sla-latency-chain", "sla-availability-chain"):
            overruns.setdefault(problem.model, []).append(problem.message)
    listed = [p for p in validation.problems if p.severity is not Severity.INFO]
    by_domain: dict[str, list[Problem]] = {}
    for problem in listed:
        if problem.model:
            by_domain.setdefault(problem.model.split("/", 1)[0], []).append(problem)
    inline = len(view.specs) <= INLINE_LIMIT
    parts = [("all models", GraphView.of(view.graph, view.specs))] if inline and view.specs else []
    parts += [(f"domain {domain}", _domain_view(view, domain)) for domain in wanted]
    drawn = _draw(parts)
    environment = _environment()
    common = {
        "generated_at": generated_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "models": len(view.specs),
        "domains": every_domain,
        "colours": colours,
        "overruns": overruns,
        "open_limit": OPEN_SECTION_LIMIT,
        "links": links,
    }
    index = environment.get_template("report.html.j2").render(
        **common,
        inline=inline,
        structure=report.structure,
        lifecycle=report.lifecycle,
        sla=report.sla,
        resources=report.resources,
        charts=_charts(report.resources, colours),
        graphs=drawn[:1] if inline and view.specs else [],
        domain_rows=_domain_rows(view, report, by_domain),
        critical_path=_critical_path(view),
        finding_groups=group_findings(listed, INDEX_FINDINGS_PER_KIND),
        findings_left_out=sum(len(p) for p in by_domain.values()) > 0,
        infos=[p for p in validation.problems if p.severity is Severity.INFO],
        errors=len(validation.errors),
        warnings=len(validation.warnings),
        fleet=fleet,
        tree=_tree_rows(read_tree(repository)) if repository and repository.exists() else None,
        tree_limit=TREE_ROWS_LIMIT,
        repository=str(repository) if repository else None,
        history=[_history_row(record) for record in history],
        placement=_placement_rows(placement) if placement is not None else None,
        unplaced=[str(s) for s in placement.unplaced[:UNPLACED_LIMIT]] if placement else [],
        unplaced_total=len(placement.unplaced) if placement is not None else 0,
        live=list(live),
        live_limit=LIVE_ROWS_LIMIT,
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
    pages = {}
    domain_graphs = drawn[1:] if inline and view.specs else drawn
    for domain, graph in zip(wanted, domain_graphs, strict=True):
        refs = {row["ref"] for row in report.structure[domain]}
        pages[domain] = environment.get_template("domain.html.j2").render(
            **common,
            domain=domain,
            rows=report.structure[domain],
            graph=graph,
            sla_rows=[row for row in report.sla["models"] if row["domain"] == domain],
            lifecycle=[row for row in report.lifecycle if row["ref"] in refs],
            finding_groups=group_findings(by_domain.get(domain, [])),
            resources=report.resources["by_domain"][domain],
        )
    return ReportPages(index, pages)


def group_findings(problems: Iterable[Problem], shown: int | None = None) -> list[FindingGroup]:
    """Findings grouped by (severity, code), errors first, then the largest groups; each
    group lists its first `shown` findings (all when None)."""
    groups: dict[tuple[Severity, str], list[Problem]] = {}
    for problem in problems:
        groups.setdefault((problem.severity, problem.code), []).append(problem)
    ordered = sorted(
        groups.items(), key=lambda kv: (_SEVERITY_ORDER[kv[0][0]], -len(kv[1]), kv[0][1])
    )
    return [
        FindingGroup(str(severity), code, len(found), found if shown is None else found[:shown])
        for (severity, code), found in ordered
    ]


def write_html_report(html: str | ReportPages, out_dir: Path) -> Path:
    """Write `out_dir/index.html` (and `out_dir/domains/<domain>.html`), each file
    atomically (readers never see half a page); the index's path."""
    pages: Mapping[str, str] = (
        {"index.html": html}
        if isinstance(html, str)
        else {
            "index.html": html.index,
            **{domain_page_path(d): page for d, page in html.domains.items()},
        }
    )
    for relative, text in pages.items():
        _write_atomically(out_dir / relative, text)
    return out_dir / "index.html"


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".page-", suffix=".html")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for reading
    os.replace(temporary, target)


_environment_cache: list[Environment] = []


def _environment() -> Environment:
    # Built once per process: compiling the templates costs more than rendering them.
    if _environment_cache:
        return _environment_cache[0]
    environment = Environment(
        loader=PackageLoader("modelyard.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = count
    environment.filters["mb"] = megabytes
    environment.filters["pct"] = lambda v: f"{v:.3%}"
    environment.filters["weights"] = _weights_text
    _environment_cache.append(environment)
    return environment


def _domain_view(view: CatalogView, domain: str) -> GraphView:
    """A domain's models and, inside their own domains' clusters, what they need elsewhere."""
    graph = view.graph
    members = {ref for ref, s in view.specs.items() if s.domain == domain}
    external = {dep for ref in members for dep in graph.dependencies(ref)}
    return GraphView.of(graph, view.specs, members | external)


def _draw(parts: list[tuple[str, GraphView]]) -> list[DrawnGraph]:
    svgs = render_svg([to_dot(part) for _, part in parts]) if parts else []
    return [
        DrawnGraph(title, svg, len(part.nodes), len(part.edges))
        for (title, part), svg in zip(parts, svgs, strict=True)
    ]


def _domain_rows(
    view: CatalogView, report: CatalogReport, findings: Mapping[str, list[Problem]]
) -> list[dict[str, Any]]:
    """Per domain: models, GPU memory, dependencies inside it, to and from other domains,
    and its errors and warnings."""
    within: dict[str, int] = {}
    outgoing: dict[str, int] = {}
    incoming: dict[str, int] = {}
    specs = view.specs
    for ref, spec in specs.items():
        for dep in view.graph.dependencies(ref):
            other = specs[dep].domain if dep in specs else dep.split("/", 1)[0]
            if other == spec.domain:
                within[spec.domain] = within.get(spec.domain, 0) + 1
            else:
                outgoing[spec.domain] = outgoing.get(spec.domain, 0) + 1
                incoming[other] = incoming.get(other, 0) + 1
    rows = []
    for domain, models in report.structure.items():
        found = findings.get(domain, [])
        rows.append(
            {
                "domain": domain,
                "models": len(models),
                "gpu_memory_mb": report.resources["by_domain"][domain]["gpu_memory_mb"],
                "within": within.get(domain, 0),
                "outgoing": outgoing.get(domain, 0),
                "incoming": incoming.get(domain, 0),
                "errors": sum(1 for p in found if p.severity is Severity.ERROR),
                "warnings": sum(1 for p in found if p.severity is Severity.WARNING),
            }
        )
    return sorted(rows, key=lambda row: row["domain"])


def _critical_path(view: CatalogView) -> list[str]:
    """The catalog's longest chain of loads, deepest dependency first (none with a cycle)."""
    if not view.specs or view.graph.cycles():
        return []
    _, path = view.graph.critical_path(lambda _ref: 1.0)
    return path if len(path) > 1 else []


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
                        megabytes if unit == "MB" else None,
                    ),
                }
            )
    return charts


def _placement_rows(placement: Placement) -> list[dict[str, Any]]:
    """Per server, per GPU: memory used of capacity and the replicas placed there."""
    servers: list[dict[str, Any]] = []
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
    if len(placement.assignments) > PLACEMENT_NAMES_LIMIT:
        # Thousands of names say nothing on a map; `modelyard place` lists them.
        for row in servers:
            for gpu in row["gpus"]:
                gpu["models"] = [f"{len(gpu['models']):,} replicas"] if gpu["models"] else []
            if row["cpu_models"]:
                row["cpu_models"] = [f"{len(row['cpu_models']):,} replicas"]
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
