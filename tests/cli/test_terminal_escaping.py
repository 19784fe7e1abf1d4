"""No catalog string is interpreted by the terminal or by Rich: markup, emoji codes,
escape sequences and other control characters from a manifest print as written (control
characters as visible escapes), and never crash a command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.text import Text
from rich.tree import Tree

from modelyard import Workspace
from modelyard.cli import render
from modelyard.cli.render import SafeConsole, safe, safe_markup
from tests.support.workspaces import Cli

HOSTILE = (
    "[link=https://evil.example]click[/link] \x1b]0;pwned\x07 [/] [bold]b[/bold] :smile: "
    "\x9b31m \u202eevil\r"
)


def hostile_manifest(path: Path) -> None:
    data = {
        "name": "m",
        "version": "1.0",
        "model_type": "classification",
        "framework": "python",
        "domain": "d",
        "owner_team": "t",
        "description": HOSTILE,
        "labels": {"note": HOSTILE},
    }
    path.write_text(json.dumps(data))


def assert_inert(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    assert "\u202e" not in output and "\r" not in output
    assert "]8;" not in output, "no OSC 8 hyperlink"
    assert "internal error" not in output


@pytest.fixture
def hostile(workspace: Workspace, tmp_path: Path) -> Cli:
    hostile_manifest(tmp_path / "m.json")
    assert workspace.root is not None
    cli = Cli(workspace.root)
    cli("apply", str(tmp_path / "m.json"))
    return cli


def test_show_prints_a_hostile_description_as_written(hostile: Cli) -> None:
    output = hostile("show", "d/m").output
    assert_inert(output)
    assert "[link=https://evil.example]click[/link]" in output and "[/]" in output
    assert "\\x1b]0;pwned\\x07" in output and ":smile:" in output and "\\u202eevil" in output


def test_list_report_and_validate_stay_inert(hostile: Cli) -> None:
    for command in (("list",), ("report",), ("validate",), ("show", "d/m@1.0")):
        result = hostile(*command, expect=0)
        assert_inert(result.output)
    # JSON is for machines and escapes what it holds, C1 and bidi controls included.
    raw = hostile("show", "d/m", "--json").stdout
    assert_inert(raw)
    assert json.loads(raw)["spec"]["description"] == HOSTILE


def test_an_error_quoting_catalog_data_stays_inert(hostile: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('name: "x\\e]0;t\\a[/]"\nversion: "1.0"\n')
    result = hostile("apply", str(bad), expect=2)
    assert_inert(result.output)
    assert "[/]" in result.output


def console_output(*renderables: object, **options: object) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, width=200, force_terminal=False)
    console.print(*renderables, **options)  # type: ignore[arg-type]
    return out.getvalue()


def test_the_safe_console_cleans_strings_texts_tables_and_trees() -> None:
    tree = Tree(HOSTILE)
    tree.add(Text(HOSTILE))
    output = console_output(HOSTILE, Text(HOSTILE), tree)
    assert_inert(output)
    assert output.count("[link=https://evil.example]") == 4
    # A terminal gets Rich's own styles, never the catalog's sequences.
    out = io.StringIO()
    SafeConsole(file=out, force_terminal=True, width=200).print(Text(HOSTILE, style="red"))
    assert "\x1b[31m" in out.getvalue() and "\x1b]0;" not in out.getvalue()


def test_markup_written_by_modelyard_still_works_with_escaped_values() -> None:
    out = io.StringIO()
    SafeConsole(file=out, force_terminal=True, width=200).print(
        f"[bold]{safe_markup(HOSTILE)}[/]", markup=True
    )
    text = out.getvalue()
    assert "\x1b[1m" in text and "[link=https://evil.example]" in text and "\x1b]0;" not in text


def test_safe_keeps_newlines_and_tabs_and_marks_everything_else() -> None:
    assert safe("a\tb\nc") == "a\tb\nc"
    assert safe("\x1b[2J\x00\x7f\x85") == "\\x1b[2J\\x00\\x7f\\x85"
    assert safe("\u2066x\u2069") == "\\u2066x\\u2069"
    assert safe("ünïcode ✓") == "ünïcode ✓"


def test_print_text_and_print_json_never_emit_raw_controls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render.print_text('digraph { a [label="\x1b]0;t\x07"] }\n')
    render.print_json({"description": "\x9b31m \u202e \x1b"})
    output = capsys.readouterr().out
    assert_inert(output)
    assert json.loads(output.split("\n", 1)[1]) == {"description": "\x9b31m \u202e \x1b"}
