"""Targeted deploys (`deploy REF...`) through the use cases, on a fake Triton behind the
client's transport: only the named models (and what they need) change, every other model
keeps its files and stays loaded, and a broken model blocks only a deploy that names it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Conflict, InputError, NotFound, RolloutFailed, ValidationFailed, Workspace
from modelyard.deploy.plan import RolloutPlan
from modelyard.deploy.runner import candidate_name
from modelyard.triton.repository import RepositoryWriter
from tests.support.fake_triton import FakeTriton, fake_target_kind
from tests.support.rollout import FAST, GOOD_MODEL, python_model
from tests.support.workspaces import Cli, init_workspace

FAKE_KIND = "fake-triton"


@pytest.fixture
def dev(tmp_path: Path, catalog_url: str) -> Iterator[tuple[Workspace, FakeTriton]]:
    """A workspace with three python models and a target `dev` on a fake Triton."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  dev: {{kind: {FAKE_KIND}, url: 'http://fake-triton:8000', "
        "repository: repo, profile: local}\n"
    )
    workspace = init_workspace(root, catalog_url)
    fake = FakeTriton(root / "repo")
    models = tmp_path / "models"
    models.mkdir()
    workspace.apply(
        [
            python_model(models, "embed", "1.0", GOOD_MODEL),
            python_model(models, "ranker", "1.0", GOOD_MODEL, "dependencies: ['tools/embed>=1.0']"),
            python_model(models, "other", "1.0", GOOD_MODEL),
        ]
    )
    try:
        with fake_target_kind(fake, FAKE_KIND):
            yield workspace, fake
    finally:
        workspace.close()


def repository_digests(workspace: Workspace) -> dict[str, str]:
    return RepositoryWriter(Path(workspace.target("dev").repository)).current_digests()


def of_model(digests: dict[str, str], name: str) -> dict[str, str]:
    return {path: d for path, d in digests.items() if path.startswith(f"{name}/")}


def actions(plan: RolloutPlan) -> dict[str, str]:
    return {a.triton_name: a.action for a in plan.actions}


def test_a_targeted_deploy_changes_the_named_model_and_keeps_every_other(
    dev: tuple[Workspace, FakeTriton], tmp_path: Path
) -> None:
    workspace, fake = dev
    assert workspace.deploy("dev", options=FAST).ok
    assert fake.ready == {"tools.embed": [1], "tools.other": [1], "tools.ranker": [1]}
    before = repository_digests(workspace)
    # New versions of two models; only one of them is named.
    workspace.apply(
        [
            python_model(tmp_path, "other", "2.0", GOOD_MODEL),
            python_model(tmp_path, "ranker", "2.0", GOOD_MODEL, "dependencies: ['tools/embed']"),
        ]
    )
    whole = workspace.rollout_plan("dev")
    assert actions(whole) == {
        "tools.embed": "keep",
        "tools.other": "reload",
        "tools.ranker": "reload",
    }
    plan = workspace.rollout_plan("dev", refs=["tools/ranker"])
    assert plan.targeted is True
    assert actions(plan) == {"tools.embed": "keep", "tools.ranker": "reload", "tools.other": "keep"}
    kept = next(a for a in plan.actions if a.triton_name == "tools.other")
    assert (kept.versions, kept.live_versions, kept.model_id) == ([1], [1], None)

    fake.calls.clear()
    result = workspace.deploy("dev", refs=["tools/ranker"], options=FAST)
    assert result.ok and {m.model: m.action for m in result.models} == {"tools.ranker": "reload"}
    assert fake.ready == {"tools.embed": [1], "tools.other": [1], "tools.ranker": [2]}
    # The other models were neither loaded nor unloaded, and their files are the same.
    loaded = {model for action, model in fake.calls if action in ("load", "unload")}
    assert loaded == {"tools.ranker", candidate_name("tools.ranker")}
    after = repository_digests(workspace)
    for name in ("tools.other", "tools.embed"):
        assert of_model(after, name) == of_model(before, name) != {}
    assert of_model(after, "tools.ranker") != of_model(before, "tools.ranker")
    record = workspace.history("dev")[0]
    assert record.outcome == "succeeded" and "tools/ranker" in record.selection
    # The next whole-selection deploy still does what it always did.
    assert actions(workspace.rollout_plan("dev"))["tools.other"] == "reload"


def test_promoting_one_model_by_its_alias_leaves_the_rest(
    dev: tuple[Workspace, FakeTriton], tmp_path: Path
) -> None:
    workspace, fake = dev
    workspace.deploy("dev", options=FAST)
    workspace.apply([python_model(tmp_path, "other", "2.0", GOOD_MODEL)])
    workspace.set_alias("tools/other", "production", "2.0")
    # The whole `--alias production` selection would unload every model without the alias.
    whole = workspace.rollout_plan("dev", alias="production")
    assert actions(whole) == {
        "tools.other": "reload",
        "tools.embed": "unload",
        "tools.ranker": "unload",
    }
    plan = workspace.rollout_plan("dev", refs=["tools/other@production"])
    assert plan.summary == {"load": 0, "reload": 1, "unload": 0, "keep": 2}
    same = workspace.rollout_plan("dev", alias="production", refs=["tools/other"])
    assert same.digest == plan.digest
    assert workspace.deploy("dev", refs=["tools/other@production"], options=FAST).ok
    assert fake.ready == {"tools.embed": [1], "tools.other": [2], "tools.ranker": [1]}


def test_a_named_model_brings_what_it_needs(
    dev: tuple[Workspace, FakeTriton], tmp_path: Path
) -> None:
    workspace, fake = dev
    workspace.deploy("dev", refs=["tools/other"], options=FAST)
    assert fake.ready == {"tools.other": [1]}
    plan = workspace.rollout_plan("dev", refs=["tools/ranker@1.0"])
    assert [(a.triton_name, a.action) for a in plan.actions] == [
        ("tools.embed", "load"),
        ("tools.ranker", "load"),
        ("tools.other", "keep"),
    ]
    assert workspace.deploy("dev", refs=["tools/ranker@1.0"], options=FAST).ok
    assert set(fake.ready) == {"tools.embed", "tools.ranker", "tools.other"}


def test_a_broken_model_blocks_only_the_deploys_that_name_it(
    dev: tuple[Workspace, FakeTriton], tmp_path: Path
) -> None:
    workspace, fake = dev
    workspace.deploy("dev", options=FAST)
    broken = python_model(tmp_path, "broken", "1.0", GOOD_MODEL)
    workspace.apply([broken, python_model(tmp_path, "embed", "2.0", GOOD_MODEL)])
    (broken.parent / "model.py").unlink()  # its artifact is gone: it cannot be compiled
    # The whole selection holds the broken one: the rest is deployed, and the deploy
    # fails naming it.
    with pytest.raises(RolloutFailed, match="tools/broken@1.0: artifact .* is missing"):
        workspace.deploy("dev", options=FAST)
    assert fake.ready["tools.embed"] == [2] and "tools.broken" not in fake.ready
    # Neither named nor needed: it does not block.
    assert workspace.deploy("dev", refs=["tools/embed"], options=FAST).ok
    # Named: nothing is deployed, and the message names the model and what to do.
    fake.calls.clear()
    with pytest.raises(ValidationFailed) as failed:
        workspace.deploy("dev", refs=["tools/other", "tools/broken"], options=FAST)
    message = failed.value.message
    assert message.startswith("tools/broken@1.0: ") and "model.py" in message
    assert "\n" not in message
    assert "nothing was deployed to dev" in message and "name only the other models" in message
    assert [c for c in fake.calls if c[0] in ("load", "unload")] == []


def test_a_named_model_the_profile_skips_is_refused_by_name(
    dev: tuple[Workspace, FakeTriton], tmp_path: Path
) -> None:
    workspace, fake = dev
    manifest = python_model(tmp_path, "bare", "1.0", GOOD_MODEL)
    manifest.write_text(manifest.read_text().replace("artifact: model.py\n", ""))
    workspace.apply([manifest])
    with pytest.raises(ValidationFailed) as failed:
        workspace.deploy("dev", refs=["tools/bare", "tools/other"], options=FAST)
    assert failed.value.message == (
        "tools/bare: is not compiled for the local profile of target 'dev': no artifact "
        "registered (add `artifact:` to its manifest to serve it); nothing was deployed"
    )
    assert fake.ready == {}


def test_references_that_name_nothing(dev: tuple[Workspace, FakeTriton]) -> None:
    workspace, _ = dev
    with pytest.raises(NotFound, match=r"tools/ranker@3\.0: tools/ranker has no version 3\.0"):
        workspace.rollout_plan("dev", refs=["tools/ranker@3.0"])
    with pytest.raises(NotFound, match="tools/ranker@canary: tools/ranker has no alias 'canary'"):
        workspace.rollout_plan("dev", refs=["tools/ranker@canary"])
    with pytest.raises(NotFound, match="tools/ranker: tools/ranker has no alias 'production'"):
        workspace.rollout_plan("dev", alias="production", refs=["tools/ranker"])
    with pytest.raises(NotFound, match="no model tools/nothing in the catalog"):
        workspace.rollout_plan("dev", refs=["tools/nothing"])
    with pytest.raises(InputError, match="ranker@"):
        workspace.rollout_plan("dev", refs=["ranker@"])


def test_a_confirmed_plan_runs_only_while_it_holds(
    dev: tuple[Workspace, FakeTriton], tmp_path: Path
) -> None:
    workspace, fake = dev
    shown = workspace.rollout_plan("dev", refs=["tools/other"])
    workspace.apply([python_model(tmp_path, "other", "2.0", GOOD_MODEL)])
    with pytest.raises(Conflict, match="changed since it was shown.*load tools.other"):
        workspace.deploy("dev", refs=["tools/other"], expect_digest=shown.digest, options=FAST)
    assert fake.ready == {}
    again = workspace.rollout_plan("dev", refs=["tools/other"])
    assert again.digest != shown.digest
    assert workspace.deploy("dev", refs=["tools/other"], expect_digest=again.digest).ok


def test_cli_deploy_and_plan_take_references(dev: tuple[Workspace, FakeTriton]) -> None:
    workspace, fake = dev
    assert workspace.root is not None
    cli = Cli(workspace.root)
    plan = cli.json("plan", "--target", "dev", "tools/other@1.0")
    assert plan["targeted"] is True and plan["summary"]["load"] == 1 and plan["digest"]
    deployed = cli.json("deploy", "tools/other", "--target", "dev", "--yes")
    assert [m["model"] for m in deployed["models"]] == ["tools.other"]
    assert fake.ready == {"tools.other": [1]}
    text = cli("plan", "--target", "dev", "tools/ranker").stdout
    assert "keep" in text and "every other model is" in text
    refused = cli.json("plan", "tools/ranker", expect=2)
    assert refused["message"] == "REF needs --target (the server to deploy to)"
    fleet = cli.json("deploy", "tools/ranker", "--fleet", expect=2)
    assert "give no REF" in fleet["message"]
    assert "deploy [OPTIONS] [REF]..." in cli("deploy", "--help").stdout
