"""Traffic commands: `gateway start|stop|restart|status`, `experiment start|set|status|stop`,
`experiment feedback|report` and `switch`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from modelyard.cli import render
from modelyard.cli.options import (
    AliasOption,
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
    from modelyard.ops.outcomes import ExperimentReport, FeedbackResult
    from modelyard.ops.traffic import (
        ExperimentList,
        ExperimentResult,
        ExperimentStatus,
        GatewayStatus,
    )

commands = CommandGroup()
gateway = commands.group(
    "gateway", "The gateway (HAProxy) in front of a target's Triton: weighted and sticky routes."
)
experiment = commands.group(
    "experiment", "Split a model's requests between its versions (A/B tests, canaries)."
)

TargetOption = Annotated[
    str, typer.Option("--target", help="A target in modelyard.yaml, or local.")
]
ArmsOption = Annotated[
    list[str],
    typer.Option("--arm", help="VERSION=PERCENT, once per arm; the first is the baseline."),
]
ShadowOption = Annotated[
    str | None,
    typer.Option(
        "--shadow",
        help="VERSION=PERCENT: copy that share of requests to VERSION; its answers go nowhere.",
    ),
]


# --------------------------------------------------------------------------- rendering


def _show_gateway(status: GatewayStatus) -> None:
    if not status.running:
        render.console.print(
            f"gateway for {status.target}: not running ({status.folder})", soft_wrap=True
        )
        return
    sync = "routes as recorded" if status.in_sync else "differs from the catalog (restart it)"
    render.console.print(
        f"gateway for {status.target}: {status.url} -> {status.upstream} "
        f"(pid {', '.join(map(str, status.pids))}); {sync}",
        soft_wrap=True,
    )
    if status.grpc_url:
        render.console.print(f"  gRPC: {status.grpc_url} -> {status.grpc_upstream}")
    for model, weights in sorted(status.routes.items()):
        shown = ", ".join(f"{v}={w}" for v, w in weights.items())
        shown += "".join(
            f"; shadow {v} copies {p}%" for v, p in status.shadows.get(model, {}).items()
        )
        render.console.print(f"  {model}: {shown}")


def _experiment_table(experiments: list[ExperimentStatus]) -> Table:
    table = Table(title="experiments", title_justify="left")
    columns = ("id", "model", "target", "kind", "state", "arm", "weight", "requests", "5xx")
    for column in columns:
        table.add_column(column, overflow="fold")
    for e in experiments:
        style = "green" if e.state == "running" else "dim"
        for i, arm in enumerate(e.arms):
            first = i == 0
            table.add_row(
                str(e.id) if first else "",
                e.model if first else "",
                e.target if first else "",
                (e.kind + (f" ({e.sticky_header})" if e.sticky_header else "")) if first else "",
                Text(e.state, style=style) if first else "",
                arm.version + (" (kept)" if arm.version == e.kept else ""),
                f"{arm.weight}%",
                str(arm.requests),
                f"{arm.errors} ({arm.error_rate:.1%})" if arm.requests else "0",
            )
        if e.shadow is not None:
            copies = e.shadow
            table.add_row(
                *([""] * 5),
                f"{copies.version} (shadow)",
                f"{copies.percent}% copy",
                str(copies.copies_sent),
                str(copies.copies_failed),
            )
    return table


def _show_experiments(result: ExperimentList) -> None:
    if not result.experiments:
        render.console.print("no experiment runs")
        return
    render.console.print(_experiment_table(result.experiments))
    for e in result.experiments:
        if e.shadow is not None:
            copies = e.shadow
            render.console.print(
                f"shadow {copies.version} of experiment {e.id} ({e.model}): copies of "
                f"{copies.percent}% of requests; {copies.copies_sent} sent, "
                f"{copies.copies_answered} answered, {copies.copies_failed} failed",
                soft_wrap=True,
            )


def _show_change(result: ExperimentResult) -> None:
    e = result.experiment
    before = ", ".join(f"{v}={w}" for v, w in (result.before or {}).items()) or "unrouted"
    after = ", ".join(f"{a.version}={a.weight}" for a in e.arms)
    if e.shadow is not None and e.state == "running":
        after += f"; shadow {e.shadow.version} gets copies of {e.shadow.percent}%"
    render.console.print(
        f"experiment {e.id} on {e.model} ({e.target}): {before} -> {after}", soft_wrap=True
    )
    if result.promoted:
        render.console.print(
            f"alias {result.promoted['alias']} of {e.model} -> {result.promoted['version']}"
        )


# --------------------------------------------------------------------------- the gateway


@gateway.command("start")
def gateway_start(
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port on 127.0.0.1 (default: the last one, 9000)."),
    ] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Also proxy gRPC on this port, to the target's grpc_url (default: HTTP only).",
        ),
    ] = None,
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start HAProxy on loopback in front of the target's Triton; clients call it as they
    call Triton, and it routes as the catalog's experiments say. Over gRPC, an unversioned
    call of a routed model is refused (HAProxy cannot split a gRPC body)."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).start_gateway(target, port=port, grpc_port=grpc_port),
        _show_gateway,
        model_json,
    )


@gateway.command("stop")
def gateway_stop(
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the target's gateway (requests in flight finish first)."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).stop_gateway(target),
        _show_gateway,
        model_json,
    )


@gateway.command("restart")
def gateway_restart(
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rewrite the gateway's files from the catalog and hand its sockets to a new HAProxy
    (no request is refused)."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).restart_gateway(target),
        _show_gateway,
        model_json,
    )


@gateway.command("status")
def gateway_status(
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Whether the gateway runs, where, and whether it routes as the catalog says."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).gateway_status(target),
        _show_gateway,
        model_json,
    )


# --------------------------------------------------------------------------- experiments


@experiment.command("start")
def experiment_start(
    reference: Annotated[str, typer.Argument(help="The model: domain/name.")],
    arms: ArmsOption,
    sticky_header: Annotated[
        str | None,
        typer.Option("--sticky-header", help="Assign by a hash of this header (e.g. x-user-id)."),
    ] = None,
    shadow: ShadowOption = None,
    target: TargetOption = "local",
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load and verify every arm (and the shadow) on the target, then split the model's
    requests (and copy a share of them to the shadow)."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).start_experiment(
            reference,
            arms,
            sticky_header=sticky_header,
            shadow=shadow,
            target=target,
            alias=alias,
        ),
        _show_change,
        model_json,
    )


@experiment.command("set")
def experiment_set(
    reference: Annotated[str, typer.Argument(help="The model: domain/name.")],
    arms: Annotated[
        list[str] | None,
        typer.Option("--arm", help="VERSION=PERCENT, once per arm; an arm not named gets 0."),
    ] = None,
    shadow: ShadowOption = None,
    no_shadow: Annotated[
        bool, typer.Option("--no-shadow", help="End the shadow's copies (the arms go on).")
    ] = False,
    target: TargetOption = "local",
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """New weights for the running experiment (an arm not named gets 0), or a new shadow;
    no reload."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).set_weights(
            reference,
            arms or [],
            target=target,
            shadow=shadow,
            no_shadow=no_shadow,
            alias=alias,
        ),
        _show_change,
        model_json,
    )


@experiment.command("status")
def experiment_status(
    reference: Annotated[
        str | None, typer.Argument(help="One model: all of its experiments.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Arms, weights, and requests and errors per arm, as the gateway counted them."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).experiment_status(reference, target=target),
        _show_experiments,
        model_json,
    )


@experiment.command("stop")
def experiment_stop(
    reference: Annotated[str, typer.Argument(help="The model: domain/name.")],
    keep: Annotated[str, typer.Option("--keep", help="The arm that gets all requests.")],
    promote: Annotated[
        str,
        typer.Option("--promote", help="The alias that moves to the kept version ('' for none)."),
    ] = "production",
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """End the experiment: all requests to one arm, and the alias moves to it."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).stop_experiment(
            reference, keep, target=target, promote=promote or None
        ),
        _show_change,
        model_json,
    )


@commands.command("switch")
def switch(
    reference: Annotated[str, typer.Argument(help="The model: domain/name.")],
    to: Annotated[str, typer.Option("--to", help="The version that gets every request.")],
    target: TargetOption = "local",
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Blue-green: every request to one version at once; the other stays loaded, so
    switching back is as fast."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).switch(reference, to, target=target, alias=alias),
        _show_change,
        model_json,
    )


# --------------------------------------------------------------------------- outcomes


def _show_feedback(result: FeedbackResult) -> None:
    replaced = f" (replaced {result.replaced:g})" if result.replaced is not None else ""
    render.console.print(
        f"request {result.request_id}: {result.value:g}{replaced} for arm {result.arm} of "
        f"experiment {result.experiment} ({result.model} on {result.target})",
        soft_wrap=True,
    )


def _show_report(report: ExperimentReport, page: Path | None) -> None:
    render.console.print(
        f"experiment {report.experiment} on {report.model} ({report.target}, {report.state}): "
        f"{report.metric}, alpha {report.alpha:g}, power {report.power:g}, MDE {report.mde:g}",
        soft_wrap=True,
    )
    table = Table(title="arms", title_justify="left")
    for column in ("arm", "weight", "requests", "outcomes", "n", report.metric, "95% interval"):
        table.add_column(column, overflow="fold")
    for i, arm in enumerate(report.arms):
        table.add_row(
            arm.version + (" (baseline)" if i == 0 else ""),
            f"{arm.weight}%",
            str(arm.requests),
            str(arm.outcomes),
            str(arm.n),
            f"{arm.value:.4f}",
            f"{arm.low:.4f} - {arm.high:.4f}",
        )
    render.console.print(table)
    for c in report.comparisons:
        verdict = (
            f"significant (crossed at look {c.crossed_at_look})"
            if c.significant
            else "not significant"
        )
        needed = (
            f", p needed at look {report.look}: {c.nominal_alpha:.3g}"
            if c.nominal_alpha is not None
            else ", no new look (no more information than the last)"
        )
        render.console.print(
            f"{c.version} vs {c.baseline}: effect {c.effect:+.4f} ({c.low:+.4f} to "
            f"{c.high:+.4f}), {c.test} p={c.p_value:.4g}{needed}; {verdict}",
            soft_wrap=True,
        )
    fraction = (
        f"{report.information_fraction:.0%}" if report.information_fraction is not None else "-"
    )
    render.console.print(
        f"needed per arm for the MDE: before the test {report.required_before or '-'}, "
        f"during it {report.required_during or '-'}; information {fraction}, "
        f"{len(report.looks)} looks",
        soft_wrap=True,
    )
    if page is not None:
        render.console.print(f"wrote {page}")


@experiment.command("feedback")
def experiment_feedback(
    request_id: Annotated[
        str, typer.Argument(help="The request's x-request-id, as the gateway answered it.")
    ],
    value: Annotated[
        float, typer.Option("--value", help="The outcome: 1 converted, 0 not, or a reward.")
    ],
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store the outcome of a request the gateway routed to an experiment's arm (a second
    one for the same request replaces the first)."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).record_feedback(request_id, value, target=target),
        _show_feedback,
        model_json,
    )


@experiment.command("report")
def experiment_report(
    reference: Annotated[
        str, typer.Argument(help="An experiment id, or a model (its latest experiment).")
    ],
    html: Annotated[Path | None, typer.Option("--html", help="Also write DIR/index.html.")] = None,
    mde: Annotated[
        float, typer.Option("--mde", help="Minimum detectable effect (absolute, 0.02 = 2 points).")
    ] = 0.02,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Power for the sample size.")] = 0.8,
    baseline_rate: Annotated[
        float | None,
        typer.Option("--baseline-rate", help="Expected baseline conversion, for the size before."),
    ] = None,
    target: TargetOption = "local",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Arms compared on their outcomes: per-arm n and rate (or mean) with intervals, the
    effect, p-value and verdict corrected for repeated looks, and the sample size needed."""
    from modelyard.ops.outcomes import write_experiment_html

    written: list[Path] = []

    def report() -> ExperimentReport:
        result = open_workspace(workspace, db).experiment_report(
            reference,
            target=target,
            mde=mde,
            alpha=alpha,
            power=power,
            baseline_rate=baseline_rate,
        )
        if html is not None:
            written.append(write_experiment_html(result, html))
        return result

    run(
        as_json,
        report,
        lambda result: _show_report(result, written[0] if written else None),
        model_json,
    )
