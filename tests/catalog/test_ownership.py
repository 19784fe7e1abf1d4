"""Teams cannot take each other's models: owners and Triton names are claimed once, inside
the registering transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import Conflict, InputError, Workspace
from tests.support.concurrency import owners_by_model, two_teams_register
from tests.support.netflix import NETFLIX_MODELS
from tests.support.workspaces import Cli, init_workspace


def manifest(name: str, team: str, *, version: str = "1.0", extra: str = "") -> str:
    return f"""name: {name}
version: "{version}"
model_type: regression
framework: onnx
domain: shared
owner_team: {team}
{extra}"""


def test_a_triton_name_another_model_has_is_refused_naming_its_owner(
    netflix: Workspace, tmp_path: Path
) -> None:
    squatter = manifest(
        "squatter", "team_x", extra="triton: {name: search.query_understanding}\n"
    ).replace("domain: shared", "domain: recommendation")
    with pytest.raises(Conflict) as refused:
        netflix.apply_text(squatter)
    message = refused.value.message
    assert "'search.query_understanding'" in message
    assert "search/query_understanding (team 'search_experience')" in message
    # The first claimant keeps it the other way round too.
    netflix.apply_text(manifest("early", "team_x", extra="triton: {name: shared.late}\n"))
    with pytest.raises(Conflict, match="which shared/early .team 'team_x'. already compiles"):
        netflix.apply_text(manifest("late", "team_y"))
    # Two claimants in one batch.
    batch = manifest("a", "t", extra="triton: {name: shared.same}\n") + "---\n"
    batch += manifest("b", "t", extra="triton: {name: shared.same}\n")
    with pytest.raises(Conflict, match="in the same batch"):
        netflix.apply_text(batch)
    assert netflix.validate().ok


def test_import_triton_of_a_folder_named_like_another_teams_model(
    netflix: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "repo" / "search.query_understanding"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text("class TritonPythonModel:\n    pass\n")
    (folder / "config.pbtxt").write_text(
        'backend: "python"\nmax_batch_size: 0\n'
        'input [{ name: "X" data_type: TYPE_FP32 dims: [1] }]\n'
        'output [{ name: "Y" data_type: TYPE_FP32 dims: [1] }]\n'
    )
    with pytest.raises(Conflict, match="search/query_understanding .team 'search_experience'."):
        netflix.import_triton(tmp_path / "repo", domain="imported", owner_team="team_x")


def test_a_new_version_for_another_team_needs_an_explicit_transfer(
    workspace: Workspace, cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "v1.yaml").write_text(manifest("ranker", "team_a"))
    (tmp_path / "v2.yaml").write_text(manifest("ranker", "team_b", version="2.0"))
    cli("apply", str(tmp_path / "v1.yaml"))
    refused = cli.json("apply", str(tmp_path / "v2.yaml"), expect=4)
    assert "owned by 'team_a'" in refused["message"] and "--transfer-owner" in refused["message"]
    moved = cli.json("apply", str(tmp_path / "v2.yaml"), "--transfer-owner")
    assert moved["transferred"] == {"shared/ranker": {"from": "team_a", "to": "team_b"}}
    [entry] = workspace.access.entries(action="model.transfer_owner")
    assert (entry.object, entry.before, entry.after) == (
        "shared/ranker",
        {"owner_team": "team_a"},
        {"owner_team": "team_b"},
    )


def test_two_teams_racing_for_new_models_never_both_win(tmp_path: Path, catalog_url: str) -> None:
    """15 pairs of registrations of one new model by two teams, each pair at once: every
    model ends with one owner and the loser is refused (the check was outside the
    transaction, and all 30 succeeded)."""
    root = tmp_path / "ws"
    init_workspace(root, catalog_url).close()
    pairs = 15
    outcomes = two_teams_register(root, pairs)
    owners = owners_by_model(root)
    for index in range(pairs):
        won = [t for t in ("team_a", "team_b") if outcomes[index, t] == "registered"]
        assert len(won) == 1, outcomes
        assert outcomes[index, "team_b" if won == ["team_a"] else "team_a"] == "Forbidden"
        assert owners[f"shared/r{index}"] == set(won)


def test_netflix_models_keep_their_names(netflix: Workspace) -> None:
    assert netflix.apply([NETFLIX_MODELS]).unchanged


def test_an_artifact_inside_modelyards_own_folders_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    """`artifact: .modelyard/catalog.db` changed with the next write and then failed every
    compile; what modelyard writes is never an artifact."""
    assert workspace.root is not None
    (workspace.root / ".modelyard").mkdir(exist_ok=True)
    (workspace.root / ".modelyard" / "state.json").write_text("{}")
    url = workspace.store.engine.url
    catalog = url.database if url.get_backend_name() == "sqlite" else None
    for artifact in filter(None, [".modelyard/state.json", ".modelyard", catalog]):
        text = manifest("sneaky", "team_x", extra=f"artifact: {artifact}\n")
        with pytest.raises(InputError, match="which modelyard itself writes") as refused:
            workspace.apply_text(text, base_dir=workspace.root)
        assert refused.value.problems[0].field == "artifact"
    (workspace.root / "modelyard.yaml").write_text(
        (workspace.root / "modelyard.yaml").read_text()
        + "targets:\n  dev: {url: 'http://127.0.0.1:1', repository: repo}\n"
    )
    reopened = Workspace.open(workspace.root, db_url=workspace.db_url)
    try:
        (workspace.root / ".repo.generations" / "000001").mkdir(parents=True)
        (workspace.root / ".repo.generations" / "000001" / "m.onnx").write_bytes(b"x")
        text = manifest("sneaky", "team_x", extra="artifact: .repo.generations/000001/m.onnx\n")
        with pytest.raises(InputError, match="a target's repository"):
            reopened.apply_text(text, base_dir=workspace.root)
        assert reopened.store.summaries() == []
    finally:
        reopened.close()
