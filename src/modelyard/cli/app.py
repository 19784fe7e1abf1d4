"""The `modelyard` command: parse, call the library, render, map errors to exit codes.

Exit codes: 0 ok; 1 validation errors; 2 bad input (manifest, flag, file); 3 not
found; 4 conflict (immutable version, stale alias); 5 capacity; 6 catalog database
unusable; 7 Triton refused; 8 rollout failed and rolled back; 9 not authorized; 10 gateway
(HAProxy) error; 11 model registry (MLflow) error; 12 object storage (S3) error; 13 the
modelyard server (--server, MODELYARD_SERVER) cannot be reached; 14 a local-only command
run against a server; 70 internal error.

Each command group lives in its own module (`*_cmd.py`); this one gathers them.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
import typer.core

from modelyard.cli import (
    build_cmd,
    canary_cmd,
    catalog_cmd,
    doctor_cmd,
    export_cmd,
    perf_cmd,
    render,
    rollout_cmd,
    server_cmd,
    storage_cmd,
    traffic_cmd,
)
from modelyard.cli.options import close_opened, note_command, set_remote
from modelyard.errors import ModelyardError

app = typer.Typer(
    name="modelyard",
    help="The system of record and rollout engine for models on NVIDIA Triton.\n\n"
    "Exit codes: 0 ok, 1 validation errors, 2 bad input, 3 not found, 4 conflict, "
    "5 capacity, 6 catalog database unusable, 7 Triton error, 8 rollout failed, "
    "9 not authorized, 10 gateway error, 11 model registry (MLflow) error, 12 object "
    "storage error, 13 server unreachable, 14 local-only command run against a server.\n\n"
    "With --server URL (or MODELYARD_SERVER) and MODELYARD_TOKEN, the catalog commands "
    "(apply, list, show, deps, impact, alias, yank, unyank, deprecate, undeprecate, validate, "
    "plan, report, history, status) run on that modelyard server.",
    no_args_is_help=True,
    # `--install-completion` / `--show-completion` for bash, zsh, fish and PowerShell.
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Typer prints a type after every option, flags included (`--json <bool>`), though a flag
# takes no value: its help shows the flag alone.
_display_type_rich = typer.core.TyperOption.display_type_rich


def _flag_without_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    return None if self.is_flag else _display_type_rich(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"modelyard {version('modelyard')}")
        raise typer.Exit()


@app.callback()
def _command_lifetime(
    context: typer.Context,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            envvar="MODELYARD_SERVER",
            show_envvar=True,
            help="Run the catalog commands on this modelyard server (e.g. "
            "http://127.0.0.1:8080), as the bearer of MODELYARD_TOKEN.",
        ),
    ] = None,
) -> None:
    # The edge reads the environment: the token stays out of the command line (and `ps`).
    set_remote(server, os.environ.get("MODELYARD_TOKEN"))
    note_command(context.invoked_subcommand, first=True)
    context.call_on_close(close_opened)


catalog_cmd.commands.register(app)
build_cmd.commands.register(app)
rollout_cmd.commands.register(app)
app.command("perf")(perf_cmd.perf)
app.command("measurements")(perf_cmd.measurements)
server_cmd.register(app)
traffic_cmd.commands.register(app)
canary_cmd.commands.register(app)
export_cmd.commands.register(app)
app.command("doctor")(doctor_cmd.doctor)
app.command("push")(storage_cmd.push)


def main() -> None:
    """Console entry point: unexpected errors become one line and exit code 70."""
    try:
        app()
    except ModelyardError as error:  # raised outside _run, e.g. while opening
        render.render_error(error, "--json" in sys.argv)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        render.err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the outermost edge: one line, not a traceback
        if os.environ.get("MODELYARD_DEBUG"):
            raise
        internal = ModelyardError(
            f"internal error: {type(exc).__name__}: {exc} (set "
            "MODELYARD_DEBUG=1 for the traceback and report it)"
        )
        render.render_error(internal, "--json" in sys.argv)
        sys.exit(internal.exit_code)
