"""`modelyard push`: local artifacts into S3-compatible storage, content-addressed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli import render
from modelyard.cli.options import (
    DbOption,
    JsonOption,
    WorkspaceOption,
    model_json,
    open_workspace,
    run,
)

if TYPE_CHECKING:
    from modelyard.ops.storage import PushResult


def push(
    paths: Annotated[list[Path], typer.Argument(help="Model files or folders to upload.")],
    to: Annotated[
        str,
        typer.Option(
            "--to", metavar="S3_URL", help="s3://bucket/prefix; objects go to <prefix>/sha256/..."
        ),
    ],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload artifacts to `<prefix>/sha256/<digest>/<name>` and print the URL of each to
    write as `artifact:` in its manifest (nothing you wrote is changed). Endpoint from
    `s3:` in modelyard.yaml; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""
    run(as_json, lambda: open_workspace(workspace, db).push(paths, to), _show, model_json)


def _show(result: PushResult) -> None:
    for artifact in result.artifacts:
        state = f"{artifact.uploaded} of {artifact.objects} object(s) uploaded"
        render.print_text(f"{artifact.path}: {artifact.url} ({state}; sha256 {artifact.sha256})\n")
