"""Artifacts: a truncated ONNX file is refused at apply, a replaced one at compile.

The SHA-256 of every artifact (a file, or a folder's names and contents) is recorded at
registration; compile recomputes it and blocks a model whose artifact changed: that model
keeps what the repository had for it (nothing at all in a fresh one), every other model is
compiled, and the compile fails naming the blocked model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelyard import Workspace
from modelyard.errors import InputError, ModelsBlocked
from tests.support.fuzz import catalog_state, tree_snapshot
from tests.support.netflix import NETFLIX
from tests.support.workspaces import Cli

ARTIFACTS = NETFLIX / "artifacts"
ONNX_FILES = sorted(p.name for p in ARTIFACTS.glob("*.onnx"))
FIXTURES = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def manifest(name: str, artifact: Path, version: str = "1.0", framework: str = "onnx") -> str:
    return (
        f'name: {name}\nversion: "{version}"\nmodel_type: embedding\n'
        f"framework: {framework}\ndomain: shop\nowner_team: shop_ml\nartifact: {artifact}\n"
        "resource_requirements: {max_batch_size: 8}\n"
    )


def apply_text(workspace: Workspace, folder: Path, text: str) -> None:
    path = folder / "m.yaml"
    path.write_text(text)
    workspace.apply([path])


@pytest.mark.slow
@settings(FIXTURES, max_examples=60)
@given(file_name=st.sampled_from(ONNX_FILES), data=st.data())
# Cut at a field boundary: protobuf parsed what was left, only opset_import was missing,
# and the version was registered (found by trying every length).
@example(file_name="user_embedding.onnx", data=None)
def test_a_truncated_onnx_artifact_is_refused_at_apply(
    workspace: Workspace, tmp_path: Path, file_name: str, data: st.DataObject | None
) -> None:
    whole = (ARTIFACTS / file_name).read_bytes()
    length = len(whole) - 6 if data is None else data.draw(st.integers(0, len(whole) - 1))
    truncated = tmp_path / f"cut-{length}.onnx"
    truncated.write_bytes(whole[:length])
    before = catalog_state(workspace.store)
    with pytest.raises(
        InputError,
        match=r"m.yaml:1: artifact: .*(is not a readable ONNX model|"
        r"declares no (operator sets|graph outputs)|probably "
        r"truncated|is a scalar)",
    ):
        apply_text(workspace, tmp_path, manifest("emb", truncated))
    assert catalog_state(workspace.store) == before


def test_every_truncation_of_the_example_artifacts_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    from modelyard.triton.onnx_io import ArtifactError, read_onnx_io

    accepted = []
    for file_name in ONNX_FILES:
        whole = (ARTIFACTS / file_name).read_bytes()
        cut = tmp_path / "cut.onnx"
        for length in range(len(whole)):
            cut.write_bytes(whole[:length])
            try:
                read_onnx_io(cut, 8)
            except ArtifactError:
                continue
            accepted.append((file_name, length))
    assert accepted == []


@pytest.fixture
def registered(workspace: Workspace, tmp_path: Path) -> tuple[Workspace, Path, Path, Path]:
    """A file artifact and a folder artifact, registered and compiled once."""
    file_artifact = tmp_path / "emb.onnx"
    shutil.copyfile(ARTIFACTS / "user_embedding.onnx", file_artifact)
    folder_artifact = tmp_path / "tool"
    folder_artifact.mkdir()
    (folder_artifact / "model.py").write_text("# the model\n")
    (folder_artifact / "helpers").mkdir()
    (folder_artifact / "helpers" / "util.py").write_text("# a helper\n")
    apply_text(
        workspace,
        tmp_path,
        manifest("emb", file_artifact)
        + "---\n"
        + manifest("tool", folder_artifact, framework="python"),
    )
    out = tmp_path / "repo"
    workspace.compile(out)
    return workspace, file_artifact, folder_artifact, out


def _assert_compile_refused(workspace: Workspace, out: Path, tmp_path: Path, match: str) -> None:
    """The changed model is blocked and named; the other one compiles, in `out` (which
    then changes not at all: the blocked model keeps its files) and in a fresh folder
    (which then holds the other model only)."""
    blocked = "emb" if "emb@" in match else "tool"
    before = tree_snapshot(out.parent / f".{out.name}.generations"), tree_snapshot(out)
    with pytest.raises(ModelsBlocked, match=match) as raised:
        workspace.compile(out)
    assert set(raised.value.result.blocked) == {f"shop/{blocked}@1.0"}
    assert (tree_snapshot(out.parent / f".{out.name}.generations"), tree_snapshot(out)) == before
    with pytest.raises(ModelsBlocked, match=match):
        workspace.compile(tmp_path / "fresh")
    served = {p.name for p in (tmp_path / "fresh").iterdir()}
    assert served == {"shop.emb", "shop.tool"} - {f"shop.{blocked}"}


@pytest.mark.slow
@settings(FIXTURES, max_examples=25)
@given(data=st.data())
def test_a_file_artifact_changed_after_registration_is_refused_at_compile(
    registered: tuple[Workspace, Path, Path, Path], tmp_path: Path, data: st.DataObject
) -> None:
    workspace, file_artifact, _, out = registered
    original = file_artifact.read_bytes()
    change = data.draw(st.sampled_from(["flip", "append", "truncate", "replace"]))
    if change == "flip":
        at = data.draw(st.integers(0, len(original) - 1))
        changed = original[:at] + bytes([original[at] ^ 0x01]) + original[at + 1 :]
    elif change == "append":
        changed = original + data.draw(st.binary(min_size=1, max_size=8))
    elif change == "truncate":
        changed = original[: data.draw(st.integers(0, len(original) - 1))]
    else:  # another valid model under the same name
        changed = (ARTIFACTS / "content_embedding.onnx").read_bytes()
    try:
        file_artifact.write_bytes(changed)
        _assert_compile_refused(
            workspace, out, tmp_path, "shop/emb@1.0: artifact .*emb.onnx changed after registration"
        )
    finally:
        file_artifact.write_bytes(original)
    workspace.compile(out)  # the same bytes again: compiles (nothing changed)


@pytest.mark.parametrize("change", ["edit", "add", "remove", "rename"])
def test_a_folder_artifact_changed_after_registration_is_refused_at_compile(
    registered: tuple[Workspace, Path, Path, Path], tmp_path: Path, change: str
) -> None:
    workspace, _, folder, out = registered
    if change == "edit":
        (folder / "helpers" / "util.py").write_text("# a changed helper\n")
    elif change == "add":
        (folder / "extra.bin").write_bytes(b"\0")
    elif change == "remove":
        (folder / "helpers" / "util.py").unlink()
    else:
        (folder / "helpers" / "util.py").rename(folder / "helpers" / "other.py")
    _assert_compile_refused(
        workspace, out, tmp_path, "shop/tool@1.0: artifact .*tool changed after registration"
    )


def test_a_missing_artifact_is_refused_at_compile(
    registered: tuple[Workspace, Path, Path, Path], tmp_path: Path
) -> None:
    workspace, file_artifact, _, out = registered
    file_artifact.unlink()
    _assert_compile_refused(
        workspace,
        out,
        tmp_path,
        "shop/emb@1.0: artifact .*emb.onnx is missing; restore it or register a new version",
    )


def test_a_pinned_digest_that_does_not_match_is_refused_at_apply(
    workspace: Workspace, tmp_path: Path
) -> None:
    text = manifest("emb", ARTIFACTS / "user_embedding.onnx") + f'artifact_sha256: "{"0" * 64}"\n'
    with pytest.raises(
        InputError,
        match="artifact_sha256: shop/emb@1.0: .* has SHA-256 [0-9a-f]{64}, the manifest pins 0{64}",
    ):
        apply_text(workspace, tmp_path, text)
    assert workspace.list_models() == []


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "fifo"])
def test_an_artifact_that_is_no_file_or_folder_is_refused_at_apply(
    workspace: Workspace, tmp_path: Path, special: str
) -> None:
    """`/dev/zero` was taken for an empty folder (then compile would copy it forever); a
    pipe would block the digest."""
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    with pytest.raises(InputError, match="is neither a regular file nor a folder"):
        apply_text(workspace, tmp_path, manifest("emb", path, framework="python"))
    assert workspace.list_models() == []


def test_a_pipe_inside_a_folder_artifact_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "tool"
    folder.mkdir()
    (folder / "model.py").write_text("# the model\n")
    os.mkfifo(folder / "pipe")
    with pytest.raises(
        InputError, match="tool/pipe in the artifact folder is neither a regular file nor a folder"
    ):
        apply_text(workspace, tmp_path, manifest("tool", folder, framework="python"))


def test_an_artifact_replaced_by_a_pipe_is_refused_at_compile(
    registered: tuple[Workspace, Path, Path, Path], tmp_path: Path
) -> None:
    workspace, file_artifact, _, out = registered
    file_artifact.unlink()
    os.mkfifo(file_artifact)
    _assert_compile_refused(
        workspace, out, tmp_path, "shop/emb@1.0: .*emb.onnx is neither a regular file nor a folder"
    )


def test_cli_compile_names_the_blocked_model_and_writes_the_rest(
    registered: tuple[Workspace, Path, Path, Path], tmp_path: Path
) -> None:
    workspace, file_artifact, _, _ = registered
    file_artifact.write_bytes(file_artifact.read_bytes() + b"\0")
    cli = Cli(workspace.root)
    out = tmp_path / "cli-repo"
    report = cli.json("compile", "--out", str(out), expect=1)
    assert report["error"] == "models_blocked"
    assert [e["model"] for e in report["errors"]] == ["shop/emb@1.0"]
    assert "changed after registration" in report["errors"][0]["message"]
    assert [m["model"] for m in report["compiled"]["models"]] == ["shop/tool"]
    assert {p.name for p in out.iterdir()} == {"shop.tool"}
    said = cli("compile", "--out", str(out), expect=1).output
    assert "compiled 1 model(s)" in said and "1 blocked" in said and "shop/emb@1.0" in said
