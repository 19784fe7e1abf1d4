"""Workspaces for tests, and `modelyard` run in-process against one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from modelyard import Workspace
from modelyard.cli.app import app


def init_workspace(root: Path, catalog_url: str) -> Workspace:
    """A workspace at `root` whose modelyard.yaml points at `catalog_url` (so that the
    CLI and subprocesses use the same catalog)."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else None
    config = config or {}
    config["catalog"] = {"url": catalog_url}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Workspace.init(root)


class Cli:
    """Runs `modelyard` in-process against one workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int = 0) -> Any:
        result = self.runner.invoke(
            app, [*args, "--workspace", str(self.root)], catch_exceptions=False
        )
        assert result.exit_code == expect, (result.exit_code, _why(result.output), result.output)
        return result

    def json(self, *args: str, expect: int = 0) -> Any:
        result = self(*args, "--json", expect=expect)
        return json.loads(result.stdout)


def _why(output: str) -> str:
    """What a failed `--json` command said in one line, ahead of its whole output (which
    CI's log may cut): its error's message, or its rollout's reason."""
    try:
        said = json.loads(output)
    except ValueError:
        return output.strip().splitlines()[-1] if output.strip() else ""
    if not isinstance(said, dict):
        return ""
    rollout = said.get("rollout")
    reason = rollout.get("reason") if isinstance(rollout, dict) else None
    return str(said.get("message") or reason or "")
