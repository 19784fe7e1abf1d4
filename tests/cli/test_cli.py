"""Every CLI command on the Netflix example, asserting on the --json output."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli.app import app
from tests.support.netflix import NETFLIX, NETFLIX_MODELS, NETFLIX_REFS
from tests.support.workspaces import Cli


def test_init_creates_config_and_catalog(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["init", str(tmp_path / "new"), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "modelyard.yaml").is_file()
    assert (tmp_path / "new" / ".modelyard" / "catalog.db").is_file()


def test_apply_then_reapply_is_a_no_op(cli: Cli) -> None:
    first = cli.json("apply", str(NETFLIX_MODELS))
    assert first["created"] == NETFLIX_REFS
    second = cli.json("apply", str(NETFLIX_MODELS))
    assert second == {
        "ok": True,
        "dry_run": False,
        "created": [],
        "unchanged": NETFLIX_REFS,
        "transferred": {},
    }


def test_apply_dry_run_writes_nothing(cli: Cli) -> None:
    dry = cli.json("apply", str(NETFLIX_MODELS), "--dry-run")
    assert dry["dry_run"] is True and dry["created"] == NETFLIX_REFS
    assert cli.json("list")["models"] == []


def test_list_with_filters(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    assert [m["ref"] for m in cli.json("list")["models"]] == NETFLIX_REFS
    search = cli.json("list", "--domain", "search")["models"]
    assert [m["name"] for m in search] == ["content_retrieval", "query_understanding"]
    team = cli.json("list", "--team", "recommendation_platform")["models"]
    assert {m["name"] for m in team} == {
        "user_embedding",
        "ranking_scorer",
        "recommendation_ranker",
    }
    ensembles = cli.json("list", "--framework", "ensemble")["models"]
    assert [m["id"] for m in ensembles] == ["recommendation/recommendation_ranker"]


def test_show_model_and_version(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    shown = cli.json("show", "recommendation/recommendation_ranker")
    assert shown["ref"] == "recommendation/recommendation_ranker@3.0"
    assert shown["dependencies"] == {
        "recommendation/user_embedding>=1.0,<2": "recommendation/user_embedding@1.0",
        "recommendation/content_embedding>=2.0": "recommendation/content_embedding@2.1",
        "recommendation/ranking_scorer~=3.0": "recommendation/ranking_scorer@3.0",
    }
    assert [step["model"] for step in shown["spec"]["ensemble"]["steps"]] == [
        "recommendation/user_embedding",
        "recommendation/content_embedding",
        "recommendation/ranking_scorer",
    ]
    exact = cli.json("show", "search/query_understanding@1.5")
    assert exact["versions"] == ["1.5"]
    missing = cli.json("show", "search/query_understanding@9.9", expect=3)
    assert missing["error"] == "not_found" and "9.9" in missing["message"]


def test_deps_and_impact(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    deps = cli.json("deps", "recommendation/recommendation_ranker")["dependencies"]
    assert sorted(deps) == [
        "recommendation/content_embedding@2.1",
        "recommendation/ranking_scorer@3.0",
        "recommendation/user_embedding@1.0",
    ]
    impact = cli.json("impact", "search/query_understanding")["dependents"]
    assert impact == ["search/content_retrieval@2.0"]
    assert cli.json("impact", "recommendation/recommendation_ranker")["dependents"] == []


def test_alias_compare_and_set(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    created = cli.json(
        "alias", "set", "search/query_understanding", "production", "1.5", "--expect", "none"
    )
    assert created["revision"] == 1
    stale = cli.json(
        "alias",
        "set",
        "search/query_understanding",
        "production",
        "1.5",
        "--expect",
        "1.4",
        expect=4,
    )
    assert stale["error"] == "alias_conflict"
    listed = cli.json("alias", "list")["aliases"]
    assert [(a["model"], a["alias"], a["version"]) for a in listed] == [
        ("search/query_understanding", "production", "1.5")
    ]
    qu = "search/query_understanding"
    stale_revision = cli.json(
        "alias", "set", qu, "production", "1.5", "--expect-revision", "2", expect=4
    )
    assert "is at revision 1" in stale_revision["message"]
    moved = cli.json("alias", "set", qu, "production", "1.5", "--expect-revision", "1")
    assert moved["revision"] == 2
    zero = cli.json("alias", "set", qu, "production", "1.5", "--expect-revision", "0", expect=2)
    assert "revisions start at 1" in zero["message"]


def test_validate_reports_the_seed_catalogs_sla_warnings(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    report = cli.json("validate")
    assert report["ok"] is True and report["errors"] == 0
    codes = {(p["code"], p["model"]) for p in report["problems"]}
    assert ("sla-latency-chain", "search/content_retrieval@2.0") in codes
    assert ("sla-availability-chain", "recommendation/recommendation_ranker@3.0") in codes
    strict = cli.json("validate", "--strict", expect=1)
    assert strict["ok"] is False and strict["errors"] == report["warnings"]


def test_plan_waves_and_critical_path(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    plan = cli.json("plan")
    waves = [[m["ref"] for m in wave] for wave in plan["waves"]]
    assert waves == [
        [
            "recommendation/content_embedding@2.1",
            "recommendation/ranking_scorer@3.0",
            "recommendation/user_embedding@1.0",
            "search/query_understanding@1.5",
        ],
        ["recommendation/recommendation_ranker@3.0", "search/content_retrieval@2.0"],
    ]
    assert plan["critical_path_length"] == 2
    assert plan["critical_path"][-1] in {
        "recommendation/recommendation_ranker@3.0",
        "search/content_retrieval@2.0",
    }


def test_report_json_has_the_seeds_three_analyses(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    report = cli.json("report")
    assert set(report["structure"]) == {"recommendation", "search"}
    assert report["resources"]["total"]["gpu_memory_mb"] == 6144 + 8192 + 12288 + 4096 + 3072
    assert report["resources"]["by_framework"]["onnx"]["models"] == 5
    assert report["resources"]["capacity"]["gpu_memory_mb"] == 4 * 24576
    assert report["sla"]["latency_p99_ms"] == {"mean": 385 / 6, "min": 20, "max": 100}
    assert report["sla"]["strictest_latency"] == "recommendation/ranking_scorer@3.0"


def test_human_output_renders(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    for command in (
        ["list"],
        ["show", "recommendation/recommendation_ranker"],
        ["plan"],
        ["report"],
        ["validate"],
        ["deps", "recommendation/recommendation_ranker"],
    ):
        output = cli(*command).stdout
        assert "recommendation" in output, command


def test_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["list", "--workspace", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 3
    assert "not a modelyard workspace" in result.stderr


def test_db_option_works_without_a_workspace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    runner = CliRunner()
    init = runner.invoke(app, ["init", str(tmp_path / "ws"), "--db", url], catch_exceptions=False)
    assert init.exit_code == 0, init.output
    result = runner.invoke(
        app, ["apply", str(NETFLIX_MODELS), "--db", url, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    env_result = runner.invoke(
        app, ["list", "--json"], env={"MODELYARD_DB": url}, catch_exceptions=False
    )
    assert env_result.exit_code == 0, env_result.output
    assert '"search/content_retrieval@2.0"' in env_result.stdout


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for command in (
        ["init"],
        ["apply"],
        ["list"],
        ["show"],
        ["deps"],
        ["impact"],
        ["alias", "set"],
        ["alias", "list"],
        ["yank"],
        ["unyank"],
        ["deprecate"],
        ["undeprecate"],
        ["validate"],
        ["plan"],
        ["report"],
    ):
        result = runner.invoke(app, [*command, "--help"], catch_exceptions=False)
        assert result.exit_code == 0
        assert "--json" in result.stdout, command
        assert "--workspace" in result.stdout, command


def test_example_config_is_the_demo_fleet() -> None:
    assert "inference-a" in (NETFLIX / "modelyard.yaml").read_text()


def test_impact_counts_older_versions_still_in_use(cli: Cli, tmp_path: Path) -> None:
    cli("apply", str(NETFLIX_MODELS))
    newer = tmp_path / "newer.yaml"
    artifacts = NETFLIX_MODELS.parent / "artifacts"
    newer.write_text(f"""\
name: user_embedding
version: "2.0"
model_type: embedding
framework: onnx
artifact: {artifacts / "user_embedding.onnx"}
domain: recommendation
owner_team: recommendation_platform
""")
    cli("apply", str(newer))
    # The ranker 3.0 (constraint <2) still needs 1.0, though 2.0 is now the newest version.
    assert cli.json("impact", "recommendation/user_embedding@1.0")["dependents"] == [
        "recommendation/recommendation_ranker@3.0"
    ]
    assert cli.json("impact", "recommendation/user_embedding@2.0")["dependents"] == []
    shown = cli.json("show", "recommendation/user_embedding@1.0")
    assert shown["dependents"] == ["recommendation/recommendation_ranker@3.0"]


def test_unusable_inputs_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = [
        (["list", "--db", "notaurl"], 6, "is not a database URL"),
        (["list", "--db", "nosuchdialect://x"], 6, "no SQLAlchemy dialect"),
        (["init", str(a_file / "ws")], 2, "cannot create the workspace"),
    ]
    for args, code, message in cases:
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == code, (args, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_compile_into_an_impossible_place(cli: Cli, tmp_path: Path) -> None:
    cli("apply", str(NETFLIX_MODELS))
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    error = cli.json("compile", "--out", str(a_file / "repo"), expect=2)
    assert (
        error["error"] == "invalid_input" and "previous repository is unchanged" in error["message"]
    )


def test_place_the_netflix_example_on_its_fleet(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    placement = cli.json("place")
    assert placement["ok"] is True and placement["feasible"] is True
    assert placement["gpus_used"] <= placement["lower_bound_gpus"] + 1
    # Availability 0.999+ asks for two replicas, on different servers.
    servers = {}
    for a in placement["assignments"]:
        servers.setdefault(a["ref"], set()).add(a["server"])
    assert servers["recommendation/ranking_scorer@3.0"] == {"inference-a", "inference-b"}
    # The ensemble's steps sit on every server that has the ensemble.
    for server in servers["recommendation/recommendation_ranker@3.0"]:
        for step in ("user_embedding@1.0", "content_embedding@2.1", "ranking_scorer@3.0"):
            assert server in servers[f"recommendation/{step}"]
    groups = placement["servers"][0]["instance_groups"]
    assert any(group[0]["kind"] == "KIND_GPU" and group[0]["gpus"] for group in groups.values())


def test_place_and_validate_name_what_does_not_fit(cli: Cli, tmp_path: Path) -> None:
    cli("apply", str(NETFLIX_MODELS))
    big = tmp_path / "big.yaml"
    big.write_text(
        'name: giant\nversion: "1.0"\nmodel_type: generation\nframework: pytorch\n'
        "domain: llm\nowner_team: llm_team\n"
        "resource_requirements: {gpu_memory_mb: 40000}\n"
    )
    cli("apply", str(big))
    placement = cli.json("place", expect=5)
    [unfit] = {(u["ref"], u["resource"]) for u in placement["unplaced"]}
    assert unfit == ("llm/giant@1.0", "gpu_memory_mb")
    assert placement["unplaced"][0]["gap"] == 40000 - 24576
    report = cli.json("validate", expect=1)
    codes = {(p["code"], p["model"]) for p in report["problems"]}
    assert ("placement", "llm/giant@1.0") in codes


def test_list_by_label(cli: Cli, tmp_path: Path) -> None:
    manifests = tmp_path / "labelled.yaml"
    manifests.write_text(
        "".join(
            f"""---
name: m{index}
version: "1.0"
model_type: regression
framework: pytorch
domain: tools
owner_team: platform
labels: {labels}
"""
            for index, labels in enumerate(
                ["{tier: gold, region: eu}", "{tier: silver}", "{}", "{tier: gold}"]
            )
        )
    )
    cli("apply", str(manifests))

    def listed(*selectors: str) -> list[str]:
        args = [arg for selector in selectors for arg in ("--label", selector)]
        return [m["name"] for m in cli.json("list", *args)["models"]]

    assert listed("tier=gold") == ["m0", "m3"]
    assert listed("tier") == ["m0", "m1", "m3"]
    assert listed("tier=gold", "region=eu") == ["m0"]
    assert listed("tier=bronze") == []
    refused = cli("list", "--label", "=gold", expect=2).output
    assert "--label '=gold': expected KEY=VALUE or KEY" in refused


def test_many_alias_moves_from_a_file_all_or_none(cli: Cli, tmp_path: Path) -> None:
    cli("apply", str(NETFLIX_MODELS))
    moves = tmp_path / "moves.yaml"
    moves.write_text(
        "production:\n"
        '  recommendation/user_embedding: "1.0"\n'
        '  search/query_understanding: {version: "1.5", expect: none}\n'
        "canary:\n"
        '  recommendation/user_embedding: "1.0"\n'
    )
    moved = cli.json("alias", "set", "--from", str(moves))["moved"]
    assert [(m["model"], m["alias"], m["version"]) for m in moved] == [
        ("recommendation/user_embedding", "production", "1.0"),
        ("search/query_understanding", "production", "1.5"),
        ("recommendation/user_embedding", "canary", "1.0"),
    ]
    before = cli.json("alias", "list")
    # The second move's compare-and-set fails: the first is not made either.
    moves.write_text(
        "production:\n"
        '  recommendation/user_embedding: {version: "1.0", expect: "1.0"}\n'
        '  search/query_understanding: {version: "1.5", expect: "1.4"}\n'
    )
    cli("alias", "set", "--from", str(moves), expect=4)
    assert cli.json("alias", "list") == before
    moves.write_text("production:\n  recommendation/user_embedding: 1.10\n")
    said = cli("alias", "set", "--from", str(moves), expect=2).output
    assert "production.recommendation/user_embedding: quote the versions" in said
    said = cli("alias", "set", "recommendation/user_embedding", expect=2).output
    assert "give ID NAME VERSION, or --from FILE" in said
