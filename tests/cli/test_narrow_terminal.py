"""Every table readable at 80 columns: no line wider, no word broken, no column lost.

A table that does not fit even with each cell wrapped at its spaces is printed as one
record per row (cli/render.py, SafeConsole._fitted). Checked on the Netflix example for
the commands that draw tables from the catalog: no line is wider than 80 columns, and no
model id is broken over two lines.
"""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from modelyard.cli.app import app
from tests.support.netflix import NETFLIX, NETFLIX_MODELS, NETFLIX_REFS
from tests.support.workspaces import Cli

COMMANDS = [
    ["list"],
    ["list", "--all-versions"],
    ["show", "recommendation/recommendation_ranker"],
    ["deps", "recommendation/recommendation_ranker"],
    ["impact", "recommendation/user_embedding"],
    ["alias", "list"],
    ["validate"],
    ["plan"],
    ["report"],
    ["place"],
    ["audit"],
]
# Commands whose human output names every model of the example.
LISTS_EVERY_MODEL = {"list", "plan", "place"}
IDS = sorted({ref.split("@")[0] for ref in NETFLIX_REFS})


@pytest.fixture
def narrow(cli: Cli) -> Cli:
    config = cli.root / "modelyard.yaml"
    merged = {
        **yaml.safe_load((NETFLIX / "modelyard.yaml").read_text()),
        **yaml.safe_load(config.read_text()),
    }
    config.write_text(yaml.safe_dump(merged))  # the example's fleet, the test's catalog
    cli("apply", str(NETFLIX_MODELS))
    cli("alias", "set", "recommendation/recommendation_ranker", "production", "3.0")
    return cli


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_tables_at_80_columns(narrow: Cli, command: list[str]) -> None:
    runner = CliRunner()
    args = [*command, "--workspace", str(narrow.root)]
    human = runner.invoke(app, args, env={"COLUMNS": "80"}, catch_exceptions=False)
    assert human.exit_code in (0, 1), human.output  # validate exits 1 on the seed's errors
    shown = human.output
    # A finding is one line whatever its length (so that grep finds it whole); the
    # terminal wraps it. Tables and records fit.
    lines = [line for line in shown.splitlines() if not line.startswith(("warning: ", "error: "))]
    assert max(len(line) for line in lines) <= 80, shown
    # A model id broken over two lines reads whole once the line breaks are taken out.
    joined = re.sub(r"\n[ │┃]*", "", shown)
    broken = [i for i in IDS if joined.count(i) > shown.count(i)]
    assert broken == [], shown
    if command[0] in LISTS_EVERY_MODEL:  # a cut cell (`recommendation/recommendation_r…`)
        assert [i for i in IDS if i not in shown] == [], shown
