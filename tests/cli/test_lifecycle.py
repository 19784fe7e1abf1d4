"""Yanked and deprecated versions, and the alias rule, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import Workspace
from tests.support.netflix import register_query_understanding
from tests.support.workspaces import Cli

QU = "search/query_understanding"
CR = "search/content_retrieval"


@pytest.fixture
def production(netflix: Workspace, cli: Cli) -> Cli:
    """The Netflix example plus a newer query_understanding@1.6, and alias `production` on
    query_understanding@1.5 and content_retrieval@2.0 (which needs query_understanding>=1.0)."""
    register_query_understanding(netflix, "1.6")
    cli("alias", "set", QU, "production", "1.5")
    cli("alias", "set", CR, "production", "2.0")
    return cli


def planned(cli: Cli, *args: str) -> list[str]:
    plan = cli.json("plan", *args)
    return sorted(m["ref"] for wave in plan["waves"] for m in wave)


def test_plan_and_compile_of_an_alias_take_the_aliased_dependency(
    production: Cli, tmp_path: Path
) -> None:
    assert planned(production, "--alias", "production") == [f"{CR}@2.0", f"{QU}@1.5"]
    compiled = production.json("compile", "--alias", "production", "--out", str(tmp_path / "r"))
    by_model = {m["model"]: m["versions"] for m in compiled["models"]}
    assert by_model == {CR: {"2.0": 1}, QU: {"1.5": 1}}
    assert not (tmp_path / "r" / "search.query_understanding" / "2").exists()
    validated = production.json("validate", "--alias", "production")
    assert validated["models"] == 2
    # deps and show through the alias follow the same rule.
    assert production.json("deps", f"{CR}@production")["dependencies"] == [f"{QU}@1.5"]
    assert production.json("show", f"{CR}@production")["dependencies"] == {
        f"{QU}>=1.0": f"{QU}@1.5"
    }
    assert production.json("show", CR)["dependencies"] == {f"{QU}>=1.0": f"{QU}@1.6"}


def test_yank_withdraws_a_version_everywhere(production: Cli, workspace: Workspace) -> None:
    yanked = production.json("yank", f"{QU}@1.6", "--reason", "wrong tokenizer")
    assert yanked["ref"] == f"{QU}@1.6" and yanked["changed"] is True
    assert yanked["status"]["status"] == "yanked"
    assert yanked["status"]["yanked_reason"] == "wrong tokenizer"
    # The default selection is the newest version not yanked; dependencies skip it too.
    assert planned(production) == sorted(
        [f"{QU}@1.5", f"{CR}@2.0"]
        + [
            "recommendation/content_embedding@2.1",
            "recommendation/ranking_scorer@3.0",
            "recommendation/recommendation_ranker@3.0",
            "recommendation/user_embedding@1.0",
        ]
    )
    # It stays in the catalog, marked.
    listed = {m["ref"]: m for m in production.json("list", "--all-versions")["models"]}
    assert (listed[f"{QU}@1.6"]["status"], listed[f"{QU}@1.6"]["status_reason"]) == (
        "yanked",
        "wrong tokenizer",
    )
    assert listed[f"{QU}@1.5"]["status"] == "active"
    newest = {m["id"]: m["version"] for m in production.json("list")["models"]}
    assert newest[QU] == "1.5"
    shown = production.json("show", f"{QU}@1.6")
    assert shown["lifecycle"]["status"] == "yanked"
    assert shown["marked_versions"]["1.6"]["yanked_reason"] == "wrong tokenizer"
    assert production.json("show", QU)["ref"] == f"{QU}@1.5"
    table = production("list", "--all-versions").stdout
    assert "yanked" in table
    assert "YANKED: wrong tokenizer" in production("show", f"{QU}@1.6").stdout
    assert "1.6 (yanked)" in production("show", QU).stdout
    report = production.json("report")
    assert report["lifecycle"] == [
        {"ref": f"{QU}@1.6", "status": "yanked", "reason": "wrong tokenizer", "selected": False}
    ]
    assert "yanked and deprecated versions" in production("report").stdout
    # No alias may point at it.
    refused = production.json("alias", "set", QU, "canary", "1.6", expect=4)
    assert refused["error"] == "version_yanked"
    assert f"{QU}@1.6 is yanked (wrong tokenizer)" in refused["message"]
    assert f"modelyard unyank {QU}@1.6" in refused["message"]
    # Yanking again with the same reason changes nothing; unyank brings it back.
    assert production.json("yank", f"{QU}@1.6", "--reason", "wrong tokenizer")["changed"] is False
    unyanked = production.json("unyank", f"{QU}@1.6")
    assert unyanked["status"]["status"] == "active" and unyanked["changed"] is True
    assert production.json("show", QU)["ref"] == f"{QU}@1.6"
    assert production.json("alias", "set", QU, "canary", "1.6")["version"] == "1.6"
    entries = workspace.access.entries(action="version.")
    assert [(e.action, e.object) for e in entries] == [
        ("version.unyank", f"{QU}@1.6"),
        ("version.yank", f"{QU}@1.6"),
    ]
    assert entries[1].after["yanked_reason"] == "wrong tokenizer"
    assert entries[1].before["status"] == "active" and entries[0].after["status"] == "active"


def test_yanking_an_aliased_version_needs_force_and_then_the_alias_selection_fails(
    production: Cli, tmp_path: Path
) -> None:
    refused = production.json("yank", f"{QU}@1.5", "--reason", "leaks memory", expect=4)
    assert refused["error"] == "conflict"
    assert "alias 'production' points at it" in refused["message"]
    assert "--force" in refused["message"]
    assert production.json("show", f"{QU}@1.5")["lifecycle"]["status"] == "active"
    forced = production.json("yank", f"{QU}@1.5", "--reason", "leaks memory", "--force")
    assert forced["aliases"] == ["production"]
    assert "alias production still points at it" in (
        production("yank", f"{QU}@1.5", "--reason", "leaks memory!", "--force").stdout
    )
    invalid = production.json("validate", "--alias", "production", expect=1)
    [problem] = [p for p in invalid["problems"] if p["code"] == "alias-yanked"]
    assert f"alias 'production' points at {QU}@1.5, which is yanked" in problem["message"]
    failed = production("compile", "--alias", "production", "--out", str(tmp_path / "r"), expect=1)
    assert "yanked" in failed.stderr and not (tmp_path / "r").exists()
    # Moving the alias mends the selection.
    production("alias", "set", QU, "production", "1.6")
    assert planned(production, "--alias", "production") == [f"{CR}@2.0", f"{QU}@1.6"]


def test_deprecated_versions_stay_chosen_and_validate_warns(production: Cli) -> None:
    changed = production.json("deprecate", f"{QU}@1.5", "--reason", "use 1.6: better recall")
    assert changed["status"]["status"] == "deprecated"
    assert planned(production, "--alias", "production") == [f"{CR}@2.0", f"{QU}@1.5"]
    report = production.json("validate", "--alias", "production")
    [warning] = [p for p in report["problems"] if p["code"] == "deprecated"]
    assert warning["severity"] == "warning" and warning["model"] == f"{QU}@1.5"
    assert (
        f"{QU}@1.5 is deprecated (use 1.6: better recall); needed by {CR}@2.0"
        in (warning["message"])
    )
    strict = production.json("validate", "--alias", "production", "--strict", expect=1)
    assert any(p["code"] == "deprecated" for p in strict["problems"])
    assert not any(p["code"] == "deprecated" for p in production.json("validate")["problems"])
    # Deprecation and yank are independent: unyank leaves the deprecation.
    production("yank", f"{QU}@1.5", "--reason", "leaks memory", "--force")
    production("unyank", f"{QU}@1.5")
    assert production.json("show", f"{QU}@1.5")["lifecycle"]["status"] == "deprecated"
    assert production.json("undeprecate", f"{QU}@1.5")["status"]["status"] == "active"
    assert production.json("undeprecate", f"{QU}@1.5")["changed"] is False


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["yank", QU, "--reason", "x"], 2, f"{QU}: name the version, e.g. {QU}@1.0"),
        (["yank", f"{QU}@production", "--reason", "x"], 2, f"expected {QU}@VERSION"),
        (["yank", f"{QU}@9.0", "--reason", "x"], 3, f"{QU} has no version 9.0"),
        (["yank", "search/nothing@1.0", "--reason", "x"], 3, "no model search/nothing"),
        (["yank", f"{QU}@1.6", "--reason", "  "], 2, "--reason: say why"),
        (["deprecate", f"{QU}@1.6", "--reason", "a" * 501], 2, "at most 500"),
        (["unyank", "search"], 2, "search"),
    ],
)
def test_bad_requests_are_one_line_errors(
    production: Cli, args: list[str], code: int, message: str
) -> None:
    result = production(*args, expect=code)
    assert message in result.stderr and result.stderr.count("\n") == 1
