"""`modelyard doctor`: what is wrong with this setup, and what to do about it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from modelyard.cli import render
from modelyard.cli.options import DbOption, JsonOption, WorkspaceOption, is_remote, local_only

if TYPE_CHECKING:
    from modelyard.ops.doctor import DoctorReport

_MARKS = {
    "ok": Text("ok", style="green"),
    "warn": Text("warn", style="yellow"),
    "fail": Text("FAIL", style="bold red"),
}


def doctor(
    workspace: WorkspaceOption = None, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Check the workspace, the catalog database (integrity, schema, stored specs), the
    registered artifacts (present, SHA-256 as registered), each target's compiled
    repository (every file as written) and server (live, serving the catalog), and
    interrupted deployments. Every finding says what to do.

    Exit codes: 0 healthy (warnings allowed), 1 a check failed, 6 the workspace or the
    catalog database is unusable.
    """
    from modelyard.ops.doctor import diagnose

    if is_remote():
        refused = local_only()
        render.render_error(refused, as_json)
        raise typer.Exit(refused.exit_code)
    report = diagnose(workspace, db)
    if as_json:
        render.print_json(report.model_dump(mode="json"))
    else:
        _show(report)
    raise typer.Exit(report.exit_code)


def _show(report: DoctorReport) -> None:
    table = Table(show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("finding")
    table.add_column("what to do")
    for check in report.checks:
        table.add_row(check.area, _MARKS[check.status], check.detail, check.fix or "")
    render.console.print(table)
    failed = sum(1 for c in report.checks if c.status == "fail")
    warned = sum(1 for c in report.checks if c.status == "warn")
    render.console.print(
        f"{failed} failed, {warned} warning(s), {len(report.checks) - failed - warned} ok"
    )
