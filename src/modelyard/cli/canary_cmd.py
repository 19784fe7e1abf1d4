"""Progressive delivery commands: `metrics start|stop|status` (a local Prometheus) and
`rollout REF --to VERSION` (a stepwise canary), `rollout status`, `rollout abort`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from modelyard.cli import render
from modelyard.cli.options import (
    CommandGroup,
    DbOption,
    JsonOption,
    WorkspaceOption,
    model_json,
    open_catalog,
    open_workspace,
    run,
)

if TYPE_CHECKING:
    from modelyard.ops.canary import MetricsStatus, RolloutList, RolloutResult, RolloutStatus


class _RolloutGroup(TyperGroup):
    """`rollout REF --to V` runs `rollout start REF --to V`: a first argument that is no
    sub-command is the model to roll out."""

    # Typer vendors its own Click: its types are the supertype's, whatever they are.
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().resolve_command(ctx, args)


commands = CommandGroup()
metrics = commands.group(
    "metrics", "The Prometheus a rollout reads: started here on loopback, or one by URL."
)
rollout = typer.Typer(
    cls=_RolloutGroup,
    no_args_is_help=True,
    help="Stepwise canary rollouts analysed on live metrics: `rollout REF --to VERSION`.",
)
commands.groups.append(("rollout", rollout))

TargetOption = Annotated[
    str, typer.Option("--target", help="A target in modelyard.yaml, or local.")
]


# --------------------------------------------------------------------------- rendering


def _show_metrics(status: MetricsStatus) -> None:
    if not status.running:
        where = f" ({status.url})" if status.url else ""
        render.console.print(f"metrics for {status.target}: not running{where}", soft_wrap=True)
        return
    pid = f" (pid {status.pid})" if status.pid else ""
    scrapes = ", ".join(f"{job} {'up' if up else 'down'}" for job, up in status.scrapes.items())
    render.console.print(
        f"metrics for {status.target}: {status.kind} Prometheus {status.url}{pid}; "
        f"scrapes: {scrapes or 'none yet'}",
        soft_wrap=True,
    )


def _show_rollout(status: RolloutStatus) -> None:
    r = status.rollout
    state = "interrupted" if status.interrupted else r.state
    style = {"succeeded": "green", "failed": "red", "interrupted": "red"}.get(state, "yellow")
    render.console.print(
        Text.assemble(
            f"rollout {r.id} of {r.model} on {r.target}: {r.baseline} -> {r.candidate}, "
            f"steps {','.join(map(str, r.steps))} every {r.interval_s:g} s: ",
            (state, style),
            f" at step {r.step} ({r.weight} %)",
        ),
        soft_wrap=True,
    )
    if status.interrupted:
        render.console.print(
            f"  its driver ({r.holder}) is gone: `modelyard rollout abort {r.model} "
            f"--target {r.target}` sends everything back to {r.baseline}",
            soft_wrap=True,
        )
    if r.reason:
        render.console.print(f"  {r.reason}", soft_wrap=True)
    table = Table(show_header=True, box=None, pad_edge=False)
    for column in ("at", "step", "weight", "event", "outcome", "reason"):
        table.add_column(column, overflow="fold")
    for e in status.events:
        table.add_row(
            f"{e.at:%H:%M:%S}",
            str(e.step),
            f"{e.weight}%",
            e.kind,
            e.outcome or "",
            e.reason or "",
        )
    if status.events:
        render.console.print(table)


def _show_list(result: RolloutList) -> None:
    if not result.rollouts:
        render.console.print("no rollout recorded")
    for status in result.rollouts:
        _show_rollout(status)


def _show_result(result: RolloutResult) -> None:
    from modelyard.ops.canary import RolloutStatus

    _show_rollout(RolloutStatus(rollout=result.rollout, interrupted=False, events=result.events))
    if result.promoted:
        render.console.print(
            f"alias {result.promoted['alias']} of {result.rollout.model} -> "
            f"{result.promoted['version']}"
        )


# --------------------------------------------------------------------------- metrics


@metrics.command("start")
def metrics_start(
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port on 127.0.0.1 (default 9090).")
    ] = None,
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start Prometheus on loopback scraping the target's Triton metrics and its gateway
    every second (files under .modelyard/metrics/<target>/)."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).start_metrics(target, port=port),
        _show_metrics,
        model_json,
    )


@metrics.command("stop")
def metrics_stop(
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the target's local Prometheus."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).stop_metrics(target),
        _show_metrics,
        model_json,
    )


@metrics.command("status")
def metrics_status(
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Whether the target's Prometheus runs, and whether its scrapes succeed."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).metrics_status(target),
        _show_metrics,
        model_json,
    )


# --------------------------------------------------------------------------- rollouts


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@rollout.command("start")
def rollout_start(
    reference: Annotated[str, typer.Argument(metavar="REF", help="The model (domain/name).")],
    to: Annotated[str, typer.Option("--to", help="The candidate version.")],
    steps: Annotated[
        str, typer.Option("--steps", help="The candidate's percents, increasing, ending in 100.")
    ] = "5,25,50,100",
    interval: Annotated[
        str, typer.Option("--interval", help="How long each step holds: 60s, 2m, 500ms.")
    ] = "60s",
    max_error_rate: Annotated[
        float,
        typer.Option("--max-error-rate", help="The candidate's 5xx share it must stay under."),
    ] = 0.01,
    min_requests: Annotated[
        int, typer.Option("--min-requests", help="Candidate requests a step needs to conclude.")
    ] = 500,
    max_extensions: Annotated[
        int, typer.Option("--max-extensions", help="Extra intervals a short step may hold.")
    ] = 3,
    max_latency_increase: Annotated[
        float,
        typer.Option(
            "--max-latency-increase", help="Mean latency allowed over the baseline's (0.2: 20 %)."
        ),
    ] = 0.2,
    max_throughput_drop: Annotated[
        float,
        typer.Option(
            "--max-throughput-drop",
            help="How far the candidate's completed requests per unit of weight may fall "
            "below the baseline's (0.5: half).",
        ),
    ] = 0.5,
    max_memory_drift: Annotated[
        float,
        typer.Option(
            "--max-memory-drift",
            help="Measured memory allowed over the manifest's resource_requirements (0.1: 10 %).",
        ),
    ] = 0.1,
    check_latency: Annotated[
        bool,
        typer.Option(
            "--check-latency/--no-check-latency",
            help="Compare p99 with the SLA and the mean latency with the baseline's.",
        ),
    ] = True,
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll VERSION out step by step; each step holds its weight for the interval, then is
    analysed (error rate from the gateway; p99, throughput per unit of weight and memory
    against the manifest from Triton and Prometheus): passed, failed (every request back
    to the baseline at once) or inconclusive (held once more)."""

    def action() -> RolloutResult:
        return open_catalog(workspace, db).rollout_canary(
            reference,
            to,
            steps=steps,
            interval=interval,
            max_error_rate=max_error_rate,
            min_requests=min_requests,
            max_extensions=max_extensions,
            max_latency_increase=max_latency_increase,
            max_throughput_drop=max_throughput_drop,
            max_memory_drift=max_memory_drift,
            check_latency=check_latency,
            target=target,
            progress=None if as_json else _progress,
        )

    result = run(as_json, action, _show_result, model_json)
    if not result.ok:
        raise typer.Exit(8)


@rollout.command("status")
def rollout_status(
    reference: Annotated[str | None, typer.Argument(metavar="[REF]")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rollouts, newest first: step, weight, each analysis with its figures, and whether
    one was interrupted."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).rollout_status(reference, target=target, limit=limit),
        _show_list,
        model_json,
    )


@rollout.command("abort")
def rollout_abort(
    reference: Annotated[str, typer.Argument(metavar="REF")],
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send every request of the model's rollout back to its baseline at once (the alias
    stays)."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).abort_rollout(reference, target=target),
        _show_rollout,
        model_json,
    )
