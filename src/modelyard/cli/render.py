"""Rich renderers for the CLI. Each takes library results and draws them; no logic here.

Catalog strings (descriptions, names, teams, labels, error messages quoting them) come
from whoever registered a model, so nothing read from the catalog is ever interpreted by
the terminal or by Rich:

- both consoles have Rich markup and emoji codes off, so a description such as
  `[link=https://evil.example]...` or `[/]` is printed as written (markup that this
  package writes itself is passed with `markup=True`, its values through `safe_markup`);
- every control character but newline and tab (C0, DEL, C1, and the bidirectional
  overrides of "Trojan Source") becomes a visible escape such as `\x1b` (`safe`), in
  every string and every rendered segment, so `ESC]0;...` cannot set the terminal title;
- `print_text` and `print_json` (raw output for pipes) get the same treatment.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from modelyard.errors import ModelyardError, Problem, Severity
from modelyard.report.tree import TreeNode, human_size

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from modelyard.catalog.lifecycle import VersionStatus
    from modelyard.catalog.spec import ModelSpec
    from modelyard.deploy.estimate import RolloutEstimate
    from modelyard.deploy.plan import RolloutPlan
    from modelyard.deploy.runner import DeployResult
    from modelyard.ops.build import CompileResult
    from modelyard.ops.catalog import ShowResult, StatusChange
    from modelyard.ops.regions import RegionDeployResult, RegionsStatus
    from modelyard.ops.rollout import StatusResult
    from modelyard.ops.serving import LocalServing
    from modelyard.placement.solver import Placement
    from modelyard.planning import DeploymentPlan
    from modelyard.registry import ApplyResult
    from modelyard.report.data import CatalogReport
    from modelyard.store.history import DeploymentRecord
    from modelyard.store.store import AliasRecord
    from modelyard.validation import ValidationReport

# C0 controls but tab and newline, DEL, C1 controls (8-bit CSI/OSC: \x9b, \x9d), and the
# bidirectional embeddings, overrides and isolates that reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(value: object) -> str:
    """`value` as text a terminal only displays: each control character (ESC, CR,
    backspace, C1, bidi overrides; not newline or tab) written as a visible escape."""
    text = str(value)
    return _CONTROL.sub(_visible, text) if _CONTROL.search(text) else text


def safe_markup(value: object) -> str:
    """`safe(value)` with Rich markup escaped, to interpolate into a string printed
    with `markup=True`."""
    return escape(safe(value))


class SafeConsole(Console):
    """A Console that never lets a control character through: strings are cleaned
    before layout (so widths stay right), and every rendered segment again (a `Text`
    built from catalog data anywhere in the CLI), leaving Rich's own control segments
    (cursor moves of a live display) alone. Markup and emoji codes are off by default."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe(text), **kwargs)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(self._fitted(o) for o in objects), **kwargs)

    def _fitted(self, renderable: Any) -> Any:
        """A table too wide for the terminal even with every cell wrapped at its spaces
        (Rich would then break words, or drop columns) is printed as one record per row
        instead: every column kept, no word broken."""
        if isinstance(renderable, Table) and self._narrowest(renderable) > self.width:
            return _records(renderable) or renderable
        return renderable

    def _narrowest(self, table: Table) -> int:
        """The fewest columns `table` takes with no word broken and no cell cut (Rich's
        own measure stops at the terminal's width, so it cannot say)."""
        wide = self.options.update(width=100_000, max_width=100_000)
        total = len(table.columns) + 1 if table.box else 0
        for column in table.columns:
            needed = Measurement.get(self, wide, column.header).minimum
            for cell in column.cells:
                measured = Measurement.get(self, wide, cell)
                needed = max(needed, measured.maximum if column.no_wrap else measured.minimum)
            total += max(column.min_width or 0, needed) + 2  # a space on either side
        return total

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and _CONTROL.search(segment.text):
                yield Segment(safe(segment.text), segment.style)
            else:
                yield segment


def _records(table: Table) -> Group | None:
    """`table` as `- header: value` lines, a row after the other (None when a cell is not
    text, which only a table can lay out)."""
    headers = [str(column.header) for column in table.columns]
    columns = [list(column.cells) for column in table.columns]
    if any(not isinstance(cell, str | Text) for cells in columns for cell in cells):
        return None
    lines: list[Text] = []
    if table.title:
        lines.append(Text(str(table.title), style="bold"))
    for row in zip(*columns, strict=True):
        for index, (header, cell) in enumerate(zip(headers, row, strict=True)):
            line = Text(("- " if index == 0 else "  ") + f"{header}: ", style="dim")
            line.append(cell if isinstance(cell, Text) else Text(str(cell)))
            lines.append(line)
    return Group(*lines)


console = SafeConsole()
err_console = SafeConsole(stderr=True)

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


# What json.dumps(ensure_ascii=False) leaves raw that a terminal may act on: C1 controls
# and bidi overrides (it escapes C0 itself). Only inside strings, where \uXXXX means the same.
_JSON_RAW_CONTROL = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    text = _JSON_RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")


def print_text(text: str) -> None:
    """Raw text (DOT, Mermaid, SVG) to stdout, untouched by Rich's markup and wrapping;
    control characters written as visible escapes, as everywhere (see `safe`)."""
    sys.stdout.write(safe(text))


def render_error(error: ModelyardError, as_json: bool) -> None:
    if as_json:
        print_json(error.to_dict())
        return
    # soft_wrap: one error is one line (or the problem list), whatever the terminal width.
    err_console.print(Text("error: ", style="bold red") + Text(safe(error.message)), soft_wrap=True)


# Beyond this many new versions, `apply` names the first few and counts the rest
# (printing 10,000 lines through Rich was a sixth of applying them); --json lists all.
APPLY_LISTED = 50


T = TypeVar("T")


def listed(items: Sequence[T], limit: int = APPLY_LISTED) -> list[T]:
    """`items`, or their first 20 when there are more than `limit`: a terminal shows a
    screenful of a 10,000-model result, and printing every line took seconds."""
    return list(items) if limit <= 0 or len(items) <= limit else list(items[:20])


def print_more(shown: int, total: int, what: str = "") -> None:
    """The line saying how many of `total` were left out of a listing."""
    if shown < total:
        console.print(f"... and {total - shown:,} more{what} (--json lists them all)")


def render_apply(result: ApplyResult) -> None:
    verb = "would register" if result.dry_run else "registered"
    shown = listed(result.created)
    for ref in shown:
        console.print(Text("+ ", style="green") + Text(safe(ref)))
    print_more(len(shown), len(result.created))
    console.print(f"{verb} {len(result.created)} new version(s); {len(result.unchanged)} unchanged")


def render_models(
    specs: list[ModelSpec], statuses: dict[str, VersionStatus], limit: int = 0
) -> None:
    """The models as a table: all of them, or the first `limit` (in the table's order)."""
    # On a narrow terminal (or a log at 80 columns) the type and team columns give way
    # rather than every cell wrapping letter by letter.
    from modelyard.catalog.lifecycle import ACTIVE

    wide = console.width >= 110
    # The status column appears when a listed version is yanked or deprecated.
    marked = any(spec.ref in statuses for spec in specs)
    columns = [
        "model",
        "version",
        *(["status"] if marked else []),
        *(["type"] if wide else []),
        "framework",
        *(["team"] if wide else []),
        "GPU MB",
        "p99 ms",
        "deps",
    ]
    rows = [
        {
            "model": spec.id,
            "version": spec.version,
            "status": statuses.get(spec.ref, ACTIVE).status,
            "type": spec.model_type,
            "framework": spec.framework,
            "team": spec.owner_team,
            "GPU MB": f"{spec.resource_requirements.gpu_memory_mb:,}",
            "p99 ms": f"{spec.sla_requirements.max_latency_p99_ms:g}",
            "deps": str(len(spec.dependencies)),
        }
        for spec in sorted(specs, key=lambda s: (s.domain, s.name, s.parsed_version))[
            : limit or None
        ]
    ]
    title = f"{len(specs):,} model(s)"
    if len(rows) < len(specs):
        title += f", the first {len(rows):,} shown (--limit 0 for all, --json for the data)"
    table = Table(title=title)
    for column in columns:
        # Every column but the model id keeps its full width; the id gives way first.
        width = max([len(column), *(len(row[column]) for row in rows)])
        table.add_column(
            column,
            justify="right" if column in ("GPU MB", "p99 ms", "deps") else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if column == "model" else width,
        )
    for row in rows:
        table.add_row(*(row[column] for column in columns))
    console.print(table)


def render_show(result: ShowResult) -> None:
    spec = result.spec
    tree = Tree(Text(safe(spec.ref), style="bold"))
    tree.add(f"type {spec.model_type}, framework {spec.framework}, team {spec.owner_team}")
    if spec.description:
        tree.add(spec.description)
    status = result.lifecycle
    if status.is_yanked:
        tree.add(
            Text(
                f"YANKED: {status.yanked_reason} (since {status.yanked_at:%Y-%m-%d}); "
                "no selection, constraint or alias chooses it",
                style="bold red",
            )
        )
    if status.is_deprecated:
        tree.add(
            Text(
                f"deprecated: {status.deprecated_reason} (since {status.deprecated_at:%Y-%m-%d})",
                style="yellow",
            )
        )
    tree.add(
        "versions: "
        + ", ".join(
            f"{v} ({result.marked_versions[v].status})" if v in result.marked_versions else v
            for v in result.versions
        )
    )
    if result.aliases:
        tree.add(
            "aliases: "
            + ", ".join(f"{name} -> {version}" for name, version in result.aliases.items())
        )
    r = spec.resource_requirements
    tree.add(
        f"resources: {r.memory_mb:,} MB memory, {r.gpu_memory_mb:,} MB GPU memory, "
        f"{r.cpu_cores:g} CPU cores, max batch {r.max_batch_size}, "
        f"{spec.declared_instances} instance(s)"
    )
    s = spec.sla_requirements
    tree.add(
        f"SLA: p99 {s.max_latency_p99_ms:g} ms, {s.min_throughput_rps:g} rps, "
        f"availability {s.availability:g}"
    )
    if spec.artifact:
        tree.add(f"artifact: {spec.artifact} (sha256 {spec.artifact_sha256})")
    deps = tree.add("dependencies" if result.dependencies else "dependencies: none")
    for constraint, resolved in result.dependencies.items():
        deps.add(f"{constraint} -> {resolved or 'UNRESOLVED'}")
    if result.dependents:
        needed = tree.add("needed by")
        for ref in result.dependents:
            needed.add(ref)
    tree.add(
        f"registered {result.registered_at:%Y-%m-%d %H:%M:%S} UTC"
        + (f" from {result.source}" if result.source else "")
    )
    console.print(tree)


def render_status_change(change: StatusChange) -> None:
    if not change.changed:
        console.print(f"{change.ref} is already {change.status.describe()}; nothing changed")
    else:
        console.print(f"{change.ref} is now {change.status.describe()}")
    if change.aliases:
        names = ", ".join(change.aliases)
        console.print(
            Text(
                f"alias {names} still points at it: selections through it fail until moved "
                "(`modelyard alias set`)",
                style="yellow",
            ),
            soft_wrap=True,
        )


def render_refs(title: str, refs: list[str]) -> None:
    console.print(Text(title, style="bold"))
    if not refs:
        console.print("  (none)")
    for ref in refs:
        console.print(f"  {ref}")


def render_aliases(records: list[AliasRecord]) -> None:
    if not records:
        console.print("no aliases")
    for a in records:
        console.print(f"{a.model_id}: {a.name} -> {a.version} (revision {a.revision})")


def render_compile(result: CompileResult) -> None:
    models = listed(list(result.plan.models.values()))
    for model in models:
        versions = ", ".join(f"{v} -> {n}" for v, n in model.versions.items())
        console.print(
            f"  {model.triton_name}  ({model.model_id}; versions {versions})", soft_wrap=True
        )
    print_more(len(models), len(result.plan.models), " model(s)")
    skipped = listed(list(result.plan.skipped.items()))
    for model_id, reason in skipped:
        console.print(Text(safe(f"  skipped {model_id}: {reason}"), style="yellow"), soft_wrap=True)
    print_more(len(skipped), len(result.plan.skipped), " skipped")
    diff = result.diff
    for label, paths, style in (
        ("+", diff.added, "green"),
        ("~", diff.changed, "yellow"),
        ("-", diff.removed, "red"),
    ):
        shown = listed(paths)
        for path in shown:
            console.print(Text(safe(f"{label} {path}"), style=style))
        print_more(len(shown), len(paths), f" file(s) {label}")
    if result.checked:
        console.print(
            "up to date"
            if result.up_to_date
            else f"out of date: {len(diff.added)} added, {len(diff.changed)} changed, "
            f"{len(diff.removed)} removed"
        )
    else:
        console.print(
            f"{len(result.plan.models)} model(s) compiled ({result.plan.profile}), "
            f"{len(result.plan.skipped)} skipped; "
            + ("nothing changed" if diff.is_empty else f"now serving {result.generation}")
        )


def render_fleet_compile(results: dict[str, CompileResult]) -> None:
    for server, result in results.items():
        console.print(Text(f"server {server}", style="bold"))
        render_compile(result)


def render_serving(serving: LocalServing) -> None:
    server = serving.server
    console.print(
        f"Triton is live at {server.url} (gRPC {server.grpc_port}, metrics "
        f"{server.metrics_port}); log: {server.log_file}",
        soft_wrap=True,
    )
    for name in serving.loaded:
        console.print(Text(safe(f"  READY {name}"), style="green"))
    for name, reason in serving.failed.items():
        console.print(Text(safe(f"  FAILED {name}: {reason}"), style="red"), soft_wrap=True)
    for model_id, reason in serving.compiled.plan.skipped.items():
        console.print(Text(safe(f"  skipped {model_id}: {reason}"), style="yellow"), soft_wrap=True)
    console.print("Ctrl-C stops the server.")


def render_tree(root: TreeNode) -> None:
    def add(branch: Tree, node: TreeNode) -> None:
        for child in node.children:
            label = Text(
                safe(child.name + ("/" if child.is_dir else "")),
                style="bold blue" if child.is_dir else "",
            )
            label.append(f"  {human_size(child.size_bytes)}", style="dim")
            add(branch.add(label), child)

    top = Tree(Text(safe(f"{root.name}/  {human_size(root.size_bytes)}"), style="bold"))
    add(top, root)
    console.print(top)


def render_rollout_plan(plan: RolloutPlan) -> None:
    table = Table(title=f"rollout to {plan.target}", title_justify="left")
    for column in ("model", "action", "versions", "live", "waits for"):
        table.add_column(column, overflow="fold")
    styles = {"load": "green", "reload": "yellow", "unload": "red", "keep": "dim"}
    for action in plan.actions:
        table.add_row(
            action.triton_name,
            Text(action.action, style=styles[action.action]),
            ",".join(map(str, action.versions)) or "-",
            ",".join(map(str, action.live_versions)) or "-",
            ", ".join(action.waits_for) or "-",
        )
    console.print(table)
    counts = {kind: len(plan.of(kind)) for kind in ("load", "reload", "unload", "keep")}
    console.print(", ".join(f"{n} to {kind}" for kind, n in counts.items()))
    if plan.targeted:
        console.print(
            "targeted: only the named models and what they need change; every other model "
            "is kept as it is",
            style="dim",
        )
    for blocked in plan.blocked:
        console.print(f"blocked, kept as served (a deploy fails for it): {blocked}", style="red")
    if plan.estimate is not None and plan.estimate.loads:
        render_estimate(plan.estimate)


def render_estimate(estimate: RolloutEstimate) -> None:
    table = Table(title="estimate", title_justify="left")
    for column in ("model", "seconds", "from", "starts", "ends"):
        table.add_column(column, overflow="fold")
    for load in estimate.loads:
        table.add_row(
            load.model,
            f"{load.seconds:.1f}",
            Text(load.how, style="green" if load.basis == "measured" else "yellow"),
            f"{load.start_s:.1f}",
            f"{load.finish_s:.1f}",
        )
    console.print(table)
    console.print(
        f"estimated {estimate.seconds:.1f} s for {len(estimate.loads)} load(s) on "
        f"{estimate.workers} at once (concurrency {estimate.concurrency}, Triton load threads "
        f"{estimate.load_threads}): {estimate.measured} measured, {estimate.guessed} guessed; "
        f"critical path {' -> '.join(estimate.critical_path)}"
    )
    if estimate.warning:
        console.print(f"warning: {estimate.warning}", style="yellow")


class DeployProgress:
    """A live table of each model's state during a deploy (updated from worker threads)."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._live = Live(self._table(), console=err_console, refresh_per_second=8, transient=False)

    def __enter__(self) -> DeployProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._table())
        self._live.__exit__(None, None, None)

    def update(self, model: str, state: str) -> None:
        with self._lock:
            self.states[model] = state
            self.started.setdefault(model, time.monotonic())
            self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(title="deploying", title_justify="left")
        table.add_column("model")
        table.add_column("state")
        table.add_column("seconds", justify="right")
        colours = {"ready": "green", "failed": "bold red", "unloaded": "dim"}
        for model, state in self.states.items():
            table.add_row(
                model,
                Text(state, style=colours.get(state, "yellow")),
                f"{time.monotonic() - self.started[model]:.1f}",
            )
        return table


def render_deploy(result: DeployResult) -> None:
    changed = [o for o in result.outcomes.values() if o.status == "done"]
    console.print(
        Text(
            f"deployment {result.deployment_id} to {result.target} succeeded in "
            f"{result.seconds:.1f} s: {len(changed)} model(s) changed",
            style="green",
        )
    )


def render_fleet_deploy(results: dict[str, DeployResult]) -> None:
    for result in results.values():
        render_deploy(result)


def render_region_deploy(result: RegionDeployResult) -> None:
    for deployed in result.deployments.values():
        render_deploy(deployed)
    console.print(
        Text(f"region {result.region}: {len(result.deployments)} target(s) deployed", style="green")
    )


def render_regions_status(status: RegionsStatus) -> None:
    """Per region and target, each model's digest served against the catalog's."""
    for region in status.regions:
        for target in region.targets:
            title = f"{region.region} / {target.target}" + (
                f" ({target.url})" if target.url else ""
            )
            if target.error is not None:
                console.print(Text(f"{title}: cannot be read: {target.error}", style="red"))
                continue
            table = Table(title=title, title_justify="left")
            for column in ("model", "catalog", "served", "live", "state"):
                table.add_column(column, overflow="fold")
            for m in target.models:
                table.add_row(
                    m.model,
                    (m.desired_digest or "-")[:12],
                    (m.served_digest or "-")[:12],
                    ",".join(map(str, m.live_versions)) or "-",
                    Text(m.state, style="green" if m.state == "serving" else "yellow"),
                )
            console.print(table)
        if region.in_sync:
            console.print(Text(f"region {region.region}: in sync", style="green"))
        for phrase in region.drift:
            console.print(Text(f"region {region.region} drift: {phrase}", style="yellow"))
    for phrase in status.differences:
        console.print(Text(f"regions differ: {phrase}", style="yellow"))
    console.print("all regions in sync" if status.in_sync else "regions drifted")


def render_history(records: list[DeploymentRecord]) -> None:
    table = Table(title="deployments", title_justify="left")
    for column in ("id", "target", "started", "seconds", "outcome", "by", "selection", "changed"):
        table.add_column(column, overflow="fold")
    for r in records:
        style = {"succeeded": "green", "failed": "red"}.get(r.outcome, "yellow")
        took = f"{r.seconds:.1f}" if r.seconds is not None else "-"
        estimated = f"est. {r.estimated_seconds:.1f}" if r.estimated_seconds is not None else ""
        table.add_row(
            str(r.id),
            r.target,
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            Text(took + (f"\n{estimated}" if estimated else "")),
            Text(r.outcome, style=style),
            r.actor,
            r.selection,
            str(len(r.actions)),
        )
    console.print(table)


def render_status(status: StatusResult) -> None:
    table = Table(title=f"{status.target} ({status.url})", title_justify="left")
    for column in ("model", "desired", "live", "state"):
        table.add_column(column, overflow="fold")
    for m in status.models:
        style = "green" if m.state == "serving" else "yellow"
        table.add_row(
            m.model,
            ",".join(map(str, m.desired_versions)) or "-",
            ",".join(map(str, m.live_versions)) or "-",
            Text(m.state, style=style),
        )
    console.print(table)
    console.print("in sync" if status.in_sync else f"{len(status.drift)} model(s) drifted")
    for e in status.experiments:
        weights = ", ".join(f"{arm.version}={arm.weight}%" for arm in e.arms)
        sticky = f", sticky by {e.sticky_header}" if e.sticky_header else ""
        shadow = f", shadow {e.shadow.version} copies {e.shadow.percent}%" if e.shadow else ""
        console.print(
            safe(f"experiment {e.id} ({e.kind}) on {e.model}: {weights}{sticky}{shadow}"),
            soft_wrap=True,
        )
    if status.failed_models:
        console.print(
            Text(
                safe("failed in the last deployment: " + ", ".join(status.failed_models)),
                style="red",
            )
        )


def render_placement(placement: Placement) -> None:
    for server in placement.servers:
        table = Table(
            title=f"{server.server}: {server.used_gpu_memory_mb:,} of "
            f"{server.gpu_memory_mb:,} MB GPU memory, "
            f"{server.used_memory_mb:,} of {server.memory_mb:,} MB memory, "
            f"{server.used_cpu_cores:g} of {server.cpu_cores:g} cores",
            title_justify="left",
        )
        table.add_column("GPU")
        table.add_column("used", justify="right")
        table.add_column("models")
        by_gpu: dict[int | None, list[str]] = {}
        for a in placement.on(server.server):
            by_gpu.setdefault(a.gpu_index, []).append(f"{a.ref} ×{a.instances}")
        for gpu in placement.gpus_of(server.server):
            table.add_row(
                str(gpu.index),
                f"{gpu.used_mb:,} / {gpu.memory_mb:,} MB ({gpu.utilisation:.0%})",
                "\n".join(by_gpu.get(gpu.index, [])) or "-",
            )
        if by_gpu.get(None):
            table.add_row("CPU", "", "\n".join(by_gpu[None]))
        console.print(table)
    console.print(f"{placement.gpus_used} GPU(s) used; lower bound {placement.lower_bound_gpus}")
    for shortfall in placement.unplaced:
        console.print(Text(safe(f"does not fit: {shortfall}"), style="bold red"), soft_wrap=True)


def render_problems(problems: list[Problem]) -> None:
    for problem in problems:
        label = Text(f"{problem.severity}: ", style=_SEVERITY_STYLE[problem.severity])
        console.print(label + Text(safe(problem)), soft_wrap=True)


def render_validation(report: ValidationReport) -> None:
    render_problems(report.problems)
    status = (
        "healthy"
        if report.ok and not report.warnings
        else ("needs attention" if report.ok else "invalid")
    )
    style = "green" if status == "healthy" else ("yellow" if report.ok else "bold red")
    console.print(
        Text(
            f"{report.models} model version(s): {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s) — {status}",
            style=style,
        )
    )


def render_plan(plan: DeploymentPlan) -> None:
    for number, wave in enumerate(plan.waves, 1):
        table = Table(title=f"wave {number}: {len(wave)} model(s)", title_justify="left")
        table.add_column("model", no_wrap=True)
        table.add_column("version")
        table.add_column("depends on", overflow="fold")
        shown = listed(wave)
        for model in shown:
            table.add_row(model.model_id, model.version, "\n".join(model.dependencies) or "-")
        console.print(table)
        print_more(len(shown), len(wave), f" in wave {number}")
    console.print(
        f"{plan.models} model version(s) in {len(plan.waves)} wave(s); critical path "
        f"({len(plan.critical_path)} loads): {' -> '.join(plan.critical_path)}"
    )


def render_report(report: CatalogReport) -> None:
    _structure(report)
    _lifecycle(report)
    _resources(report)
    _sla(report)


def _structure(report: CatalogReport) -> None:
    wide = console.width >= 110
    for domain, models in report.structure.items():
        table = Table(title=f"{domain} ({len(models)} model(s))", title_justify="left")
        marked = any(m["status"] != "active" for m in models)
        columns = [
            "model",
            "version",
            *(["status"] if marked else []),
            "framework",
            "GPU MB",
            "p99 ms",
            "deps",
            *(["team", "description"] if wide else []),
        ]
        for column in columns:
            table.add_column(
                column,
                no_wrap=True,
                overflow="ellipsis",
                ratio=1 if column == "description" else None,
            )
        for m in models:
            values = [
                m["name"],
                m["version"],
                *([m["status"]] if marked else []),
                m["framework"],
                f"{m['gpu_memory_mb']:,}",
                f"{m['max_latency_p99_ms']:g}",
                str(len(m["dependencies"])),
                m["owner_team"],
                m["description"][:80],
            ]
            table.add_row(*values[: len(columns)])
        console.print(table)


def _lifecycle(report: CatalogReport) -> None:
    if not report.lifecycle:
        return
    table = Table(title="yanked and deprecated versions", title_justify="left")
    for column in ("version", "status", "reason", "selected"):
        table.add_column(column, overflow="fold")
    for row in report.lifecycle:
        style = "red" if row["status"] == "yanked" else "yellow"
        table.add_row(
            row["ref"],
            Text(row["status"], style=style),
            row["reason"],
            "yes" if row["selected"] else "no",
        )
    console.print(table)


def _resources(report: CatalogReport) -> None:
    resources = report.resources
    total = resources["total"]
    capacity = resources["capacity"]

    def against(key: str, value: float, unit: str) -> str:
        text = f"{value / 1024:,.1f} GB" if unit == "MB" else f"{value:g}"
        cap = capacity[key] if capacity else 0
        if cap:
            text += f" of {cap / 1024:,.1f} GB" if unit == "MB" else f" of {cap:g}"
            text += f" ({value / cap:.0%})"
        return text

    console.print(Text("resource usage", style="bold"))
    console.print(
        f"  memory {against('memory_mb', total['memory_mb'], 'MB')}; "
        f"GPU memory {against('gpu_memory_mb', total['gpu_memory_mb'], 'MB')}; "
        f"CPU cores {against('cpu_cores', total['cpu_cores'], 'cores')}"
    )
    for group, title in (
        ("by_domain", "domain"),
        ("by_framework", "framework"),
        ("by_team", "team"),
    ):
        table = Table(title=f"by {title}", title_justify="left")
        for column in (title, "models", "share", "memory GB", "GPU memory GB", "CPU cores"):
            table.add_column(column, justify="left" if column == title else "right")
        for key, values in resources[group].items():
            table.add_row(
                key,
                str(values["models"]),
                f"{values['share']:.0%}",
                f"{values['memory_mb'] / 1024:,.1f}",
                f"{values['gpu_memory_mb'] / 1024:,.1f}",
                f"{values['cpu_cores']:g}",
            )
        console.print(table)


def _sla(report: CatalogReport) -> None:
    sla = report.sla
    table = Table(title="SLA", title_justify="left")
    for column in ("model", "p99 ms", "min rps", "availability"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in sla["models"]:
        table.add_row(
            row["ref"],
            f"{row['max_latency_p99_ms']:g}",
            f"{row['min_throughput_rps']:g}",
            f"{row['availability']:.4%}",
        )
    console.print(table)
    if sla["latency_p99_ms"]:
        lat, thr, ava = sla["latency_p99_ms"], sla["throughput_rps"], sla["availability"]
        console.print(
            f"  latency p99 ms: mean {lat['mean']:.1f}, min {lat['min']:g}, max {lat['max']:g}"
            f" (strictest: {sla['strictest_latency']})"
        )
        console.print(
            f"  throughput rps: mean {thr['mean']:.1f}, min {thr['min']:g}, max {thr['max']:g}"
            f" (highest: {sla['highest_throughput']})"
        )
        console.print(
            f"  availability: mean {ava['mean']:.3%}, min {ava['min']:.3%}, max {ava['max']:.3%}"
        )
