"""`modelyard perf`: measure a live model against its declared SLA."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from modelyard.cli import render
from modelyard.cli.options import (
    DbOption,
    JsonOption,
    WorkspaceOption,
    model_json,
    open_workspace,
    run,
)
from modelyard.errors import InputError, ModelyardError

if TYPE_CHECKING:
    from modelyard.perf.measure import PerfReport
    from modelyard.store.measurements import Measurement

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, None: 1.0}


def parse_duration_s(text: str) -> float:
    """`10s`, `500ms`, `2m` or a plain number of seconds -> seconds."""
    match = _DURATION.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise InputError(
            f"--duration: expected a positive duration such as 10s, 500ms or 2m, got {text!r}"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_concurrency(text: str) -> tuple[int, ...]:
    """`1,2,4,8` -> (1, 2, 4, 8)."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(
            f"--concurrency: expected comma-separated whole numbers such as 1,2,4,8, got {text!r}"
        ) from None
    if not levels:
        raise InputError("--concurrency: give at least one level, e.g. 1,2,4,8")
    return levels


def perf(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="domain/name (the newest version the target serves) or domain/name@version.",
        ),
    ],
    target: Annotated[
        str, typer.Option("--target", help="A target in modelyard.yaml, or local.")
    ] = "local",
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency", help="Concurrency levels: requests in flight at once, comma-separated."
        ),
    ] = "1,2,4,8",
    duration: Annotated[
        str,
        typer.Option(
            "--duration",
            help="Longest time per level (10s, 500ms, 2m); a level also ends at --requests.",
        ),
    ] = "10s",
    requests: Annotated[
        int, typer.Option("--requests", min=1, help="Most measured requests per level.")
    ] = 1000,
    warmup: Annotated[
        int,
        typer.Option(
            "--warmup", min=0, help="Requests sent before each level and left out of its figures."
        ),
    ] = 20,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure a deployed model's latency (p50/p90/p99) and throughput per concurrency level,
    with Triton's own queue and compute times, and compare them with its declared SLA.

    Warm-up requests are sent first and reported apart; the client's own overhead is the
    round trip of an empty request (GET v2/health/ready). For an ensemble, each step's
    share of the time comes from Triton's statistics. The memory of the model's instances
    is compared with the declared memory_mb / gpu_memory_mb. Results are kept in the
    catalog (see `modelyard validate --live`, `place --calibrated`, `report --html`).

    Exit code 0 when every SLA target passes, 1 when one fails; 2 bad input, 3 unknown
    model or target, 7 Triton did not answer or does not serve the model.
    """
    from modelyard.perf.measure import PerfOptions

    try:
        options = PerfOptions(
            concurrency=parse_concurrency(concurrency),
            duration_s=parse_duration_s(duration),
            max_requests=requests,
            warmup_requests=warmup,
        )
    except ModelyardError as error:
        render.render_error(error, as_json)
        raise typer.Exit(error.exit_code) from None

    def action() -> PerfReport:
        ws = open_workspace(workspace, db)
        if as_json:
            return ws.perf(reference, target, options=options)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=render.err_console,
            transient=True,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, planned: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=planned)
                bar.update(tasks[phase], completed=done)

            return ws.perf(reference, target, options=options, progress=progress)

    report = run(as_json, action, render_perf, model_json)
    if not report.passed:
        raise typer.Exit(1)


def render_perf(report: PerfReport) -> None:
    """Levels, Triton's own times, ensemble steps, memory, then the verdicts."""
    console = render.console
    subject = report.subject
    console.print(
        f"[bold]{render.safe_markup(subject.model_id)}@{render.safe_markup(subject.version)}[/]"
        f" on {render.safe_markup(subject.target)} ({render.safe_markup(subject.url)}, Triton "
        f"model {render.safe_markup(subject.triton_name)} version {subject.triton_version})",
        markup=True,
    )
    table = Table(title="client-side latency (warm-up excluded)", title_justify="left")
    for column in (
        "concurrency",
        "requests",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "rps",
        "Triton ms",
        "queue ms",
        "compute ms",
        "warm-up",
        "ended by",
    ):
        table.add_column(column, justify="left" if column == "ended by" else "right")
    for level in report.levels:
        latency = level.latency
        server = level.server
        table.add_row(
            str(level.concurrency),
            f"{latency.requests if latency else 0}"
            + (f" ({level.errors} failed)" if level.errors else ""),
            *(
                f"{v:,.2f}"
                for v in (
                    (latency.p50_ms, latency.p90_ms, latency.p99_ms) if latency else (0.0, 0.0, 0.0)
                )
            ),
            f"{level.throughput_rps:,.1f}",
            *(
                f"{v:,.2f}"
                for v in (
                    (server.request_ms, server.queue_ms, server.compute_ms)
                    if server
                    else (0.0, 0.0, 0.0)
                )
            ),
            f"{level.warmup_requests}"
            + (f" ({level.warmup_mean_ms:,.1f} ms)" if level.warmup_mean_ms is not None else ""),
            level.stopped_by,
        )
    console.print(table)
    console.print(
        f"client overhead (empty round trip, median): {report.client_overhead_ms:,.3f} ms"
    )
    metrics = [lv for lv in report.levels if lv.metrics is not None]
    for level in metrics:
        assert level.metrics is not None
        console.print(
            f"metrics endpoint, concurrency {level.concurrency}: queue "
            f"{level.metrics.queue_ms:,.2f} ms, compute {level.metrics.compute_infer_ms:,.2f}"
            f" ms per request ({level.metrics.requests} requests)"
        )
    if report.steps and report.levels:
        steps = Table(
            title="ensemble steps (Triton statistics, per ensemble request)", title_justify="left"
        )
        for column in ("concurrency", "step", "ms", "queue ms", "compute ms", "share"):
            steps.add_column(column, justify="left" if column == "step" else "right")
        for level in report.levels:
            for share in level.steps:
                steps.add_row(
                    str(level.concurrency),
                    share.model,
                    f"{share.request_ms:,.2f}",
                    f"{share.queue_ms:,.2f}",
                    f"{share.compute_ms:,.2f}",
                    f"{share.share:.0%}",
                )
        console.print(steps)
    if report.memory is not None:
        memory = report.memory
        parts = []
        for label, measured, declared in (
            ("memory", memory.memory_mb, memory.declared_memory_mb),
            ("GPU memory", memory.gpu_memory_mb, memory.declared_gpu_memory_mb),
        ):
            if measured is None:
                parts.append(f"{label}: not measured (declared {declared:,} MB)")
            else:
                style = "red" if measured > declared else "green"
                parts.append(
                    f"{label}: [{style}]{measured:,.0f} MB[/] measured, {declared:,} MB "
                    f"declared (drift {measured - declared:+,.0f} MB)"
                )
        console.print(
            f"per instance ({memory.instances} instance(s)): " + "; ".join(parts), markup=True
        )
    for note in report.notes:
        console.print(f"[cyan]note[/] {render.safe_markup(note)}", markup=True)
    for check in report.checks:
        mark = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
        console.print(f"{mark} {render.safe_markup(check.describe())}", markup=True)
    console.print(
        "SLA met" if report.passed else "[bold red]SLA not met[/] (exit code 1)", markup=True
    )


__all__ = ["parse_concurrency", "parse_duration_s", "perf", "render_perf"]


def measurements(
    reference: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="domain/name; default: every model.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most entries shown.")] = 50,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recorded measurements (`modelyard perf` runs and memory readings), newest first."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).measurements(reference, target=target, limit=limit),
        _show_measurements,
        lambda found: {"ok": True, "measurements": [m.model_dump(mode="json") for m in found]},
    )


def _show_measurements(found: list[Measurement]) -> None:
    table = Table(title=f"{len(found)} measurement(s)")
    for column in ("measured (UTC)", "model", "target", "kind", "result"):
        table.add_column(column)
    for entry in found:
        table.add_row(
            f"{entry.measured_at:%Y-%m-%d %H:%M:%S}",
            entry.ref,
            entry.target,
            entry.kind,
            _measurement_result(entry),
        )
    render.console.print(table)


def _measurement_result(entry: Measurement) -> str:
    summary = entry.summary
    if entry.kind == "perf":
        checks = "; ".join(
            f"{c['target']} {c['measured']:g} {c['unit']} ({'pass' if c['passed'] else 'FAIL'})"
            for c in summary.get("checks", [])
        )
        return checks or ("pass" if summary.get("passed") else "no SLA target")
    drift = summary.get("drift", {})
    parts = [f"{key} {value:+,.0f} MB" for key, value in drift.items() if value is not None]
    return "drift " + ", ".join(parts) if parts else "no reading"
