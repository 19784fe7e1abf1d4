"""What every command shares: the common options, running a call, the opened workspaces
(or, with a server configured, the client that stands for one).

Command modules import this (never `app.py`), so the command modules and the application
that gathers them import each other one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from modelyard.cli import render
from modelyard.errors import InputError, LocalOnly, ModelyardError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from modelyard.client import Client
    from modelyard.workspace import Workspace

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: the nearest "
        "modelyard.yaml at or above the current folder).",
        file_okay=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="MODELYARD_DB",
        help="Catalog database as a SQLAlchemy URL "
        "(default: the workspace's .modelyard/catalog.db).",
        show_envvar=True,
    ),
]
AliasOption = Annotated[
    str | None,
    typer.Option(
        "--alias",
        help="Select the versions this alias points to instead of the "
        "newest version of every model.",
    ),
]

RefsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="REF",
        help="Only these models change (ID, ID@VERSION or ID@ALIAS; a bare ID takes "
        "--alias's version, else the newest), with what they need; every other model on "
        "the target is kept as it is. Default: the whole selection (deploy unloads the rest).",
        show_default=False,
    ),
]


@dataclass
class CommandGroup:
    """Commands a module defines, added to the application by `register`."""

    commands: list[tuple[str | None, Callable[..., Any]]] = field(default_factory=list)
    groups: list[tuple[str, typer.Typer]] = field(default_factory=list)

    def command(self, name: str | None = None) -> Callable[[F], F]:
        def add(function: F) -> F:
            self.commands.append((name, function))
            return function

        return add

    def group(self, name: str, help: str) -> typer.Typer:
        """A sub-command group (`modelyard alias ...`)."""
        sub = named_group(typer.Typer(help=help, no_args_is_help=True))
        self.groups.append((name, sub))
        return sub

    def register(self, app: typer.Typer) -> None:
        for name, function in self.commands:
            app.command(name)(function)
        for name, sub in self.groups:
            app.add_typer(sub, name=name)


def model_json(result: BaseModel) -> Any:
    """What `--json` prints for a result: every use case returns a pydantic model."""
    return result.model_dump(mode="json")


def run(
    as_json: bool, action: Callable[[], T], show: Callable[[T], None], to_data: Callable[[T], Any]
) -> T:
    """Call the library, render the result, and turn our errors into exit codes."""
    try:
        result = action()
    except ModelyardError as error:
        render.render_error(error, as_json)
        raise typer.Exit(error.exit_code) from None
    if as_json:
        render.print_json(to_data(result))
    else:
        show(result)
    return result


@dataclass(frozen=True)
class Remote:
    """The `modelyard server` the running command talks to (`--server`, MODELYARD_SERVER)
    and the token it sends (MODELYARD_TOKEN)."""

    url: str
    token: str | None


# Set by the application's callback for each command it runs (None: the local catalog).
_remote: Remote | None = None


def set_remote(url: str | None, token: str | None) -> None:
    global _remote
    _remote = Remote(url.strip(), (token or "").strip() or None) if url and url.strip() else None


# Workspaces (and clients) opened by the running command; closed when it ends, whichever
# way it ends, so that no database connection or HTTP connection outlives the command.
_opened: list[Workspace | Client] = []


def close_opened() -> None:
    while _opened:
        _opened.pop().close()


def is_remote() -> bool:
    """Whether the running command talks to a server (`--server`, MODELYARD_SERVER)."""
    return _remote is not None


# The words of the running command (`modelyard alias set`), as the callbacks saw them.
_command_words: list[str] = ["modelyard"]


def note_command(name: str | None, *, first: bool = False) -> None:
    """Called by the application's and each group's callback with the sub-command run."""
    if first:
        _command_words[1:] = []
    if name:
        _command_words.append(name)


def named_group(sub: typer.Typer) -> typer.Typer:
    """`sub`, noting which of its commands runs (errors name `modelyard token list`)."""

    @sub.callback()
    def _named(context: typer.Context) -> None:
        note_command(context.invoked_subcommand)

    return sub


def _command() -> str:
    return " ".join(_command_words)


def local_only(what: str | None = None) -> LocalOnly:
    """The error of a command (or of one of its options, `what`) that works only beside
    the catalog, run with a server configured."""
    assert _remote is not None
    named = f"`{_command()}`" + (f" with {what}" if what else "")
    return LocalOnly(
        f"{named} runs only where the catalog is, not against the server {_remote.url}; "
        "unset MODELYARD_SERVER (and --server) to run it on a local workspace"
    )


def open_workspace(workspace: Path | None, db: str | None) -> Workspace:
    """The local workspace; with a server configured, LocalOnly (the commands that work
    remotely call `open_catalog`)."""
    if _remote is not None:
        raise local_only()
    from modelyard.workspace import Workspace  # not at import: `--help` does not need it

    opened = Workspace.open(workspace, db_url=db)
    _opened.append(opened)
    return opened


def open_catalog(workspace: Path | None, db: str | None) -> Workspace | Client:
    """The local workspace, or with a server configured the `Client` for it: the same
    operations under the same names, whose results and errors are the same types."""
    if _remote is None:
        return open_workspace(workspace, db)
    if workspace is not None or db is not None:
        option = "--workspace" if workspace is not None else "--db (MODELYARD_DB)"
        raise InputError(
            f"{option} and --server (MODELYARD_SERVER) name two catalogs; give one of them"
        )
    from modelyard.client import Client

    client = Client(_remote.url, _remote.token)
    _opened.append(client)
    return client
