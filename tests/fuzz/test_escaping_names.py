"""Names that try to leave the repository are refused before anything touches the disk.

`../x`, `..`, absolute paths, NUL, `a/b`, 300 characters, look-alike letters, spaces and
newlines, in every place a name becomes a folder or file name: a manifest's domain, name,
dependency references, ensemble steps, `triton.name` and `triton.default_model_filename`,
an alias, an imported model folder or its config's `name:`. After each refusal the whole
workspace folder (catalog database included) and the compile output are byte for byte as
before. Windows' reserved names (CON, NUL, ...) are accepted on purpose: repositories are
written for Triton on Linux, where they are ordinary names.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard import Workspace
from modelyard.catalog.manifest import parse_manifest_text
from modelyard.catalog.naming import NAME_PATTERN
from modelyard.cli.app import app
from modelyard.errors import InputError, ModelyardError, ValidationFailed
from modelyard.registry import apply_documents
from modelyard.store import CatalogStore
from modelyard.triton.naming import check_triton_name
from tests.support.fuzz import ESCAPING_NAMES, tree_snapshot
from tests.support.workspaces import Cli

# Every one of these must be refused wherever a name goes.
ALWAYS_REFUSED = [
    "../x",
    "..",
    ".",
    "../../etc/passwd",
    "/abs",
    "/",
    "a/b",
    "a\\b",
    "a\0b",
    "\0",
    "x" * 300,
    "ａ",
    "\u0430",
    "café",
    "a b",
    " a",
    "a\n",
    "a\nb",
    "a\tb",
    "a\u200bb",
    "\ufeffa",
    "\u202ea",
    "",
]
WINDOWS_RESERVED = ["CON", "con", "nul", "aux", "com1", "lpt1", "prn.txt"]

_MODEL = """name: {name}
version: "{version}"
model_type: embedding
framework: python
domain: {domain}
owner_team: team
"""
_ENSEMBLE = """name: pipe
version: "{version}"
model_type: ensemble
framework: ensemble
domain: d
owner_team: team
dependencies: [{dependency}]
ensemble: {{steps: [{{model: {step}, input_map: {{x: x}}, output_map: {{y: y}}}}]}}
"""


def _q(value: str) -> str:
    return json.dumps(value)  # a YAML string that keeps NUL, newlines and quotes


def manifests(bad: str, version: str = "1.0") -> dict[str, str]:
    """One manifest per place a name can go, with `bad` in that place."""
    good = _MODEL.format(name="a", domain="d", version=version)
    other = _MODEL.format(name="b", domain="d", version=version)
    return {
        "domain": _MODEL.format(name="a", domain=_q(bad), version=version),
        "name": _MODEL.format(name=_q(bad), domain="d", version=version),
        "dependency domain": f"{good}---\n{other}dependencies: [{_q(bad + '/a')}]\n",
        "dependency name": f"{good}---\n{other}dependencies: [{_q('d/' + bad)}]\n",
        "ensemble step": good
        + "---\n"
        + _ENSEMBLE.format(dependency="d/a", step=_q("d/" + bad), version=version),
        "triton.name": f"{good}triton: {{name: {_q(bad)}}}\n",
        "triton.default_model_filename": f"{good}triton: {{default_model_filename: {_q(bad)}}}\n",
        "triton.backend": f"{good}triton: {{backend: {_q(bad)}}}\n",
    }


PLACES = list(manifests("x"))


def _is_safe_component(name: str) -> bool:
    """A name that is one plain folder name on Linux (and reads as what it is)."""
    return (
        0 < len(name.encode()) <= 255
        and name not in (".", "..")
        and name.isascii()
        and name.isprintable()
        and not re.search(r"[/\\\s]", name)
    )


def _is_file_name(name: str) -> bool:
    """One file name inside a folder (`default_model_filename` may be any such name)."""
    return (
        0 < len(name.encode()) <= 255
        and name not in (".", "..")
        and not any(c in "/\\" or ord(c) < 0x20 for c in name)
    )


def _acceptable(place: str, name: str) -> bool:
    if place.startswith("triton.") and name == "":
        return True  # protobuf's "unset": the generated name is used
    if place == "triton.default_model_filename":
        return _is_file_name(name)
    if place == "triton.backend":  # a folder Triton looks up, never one modelyard writes
        return _is_file_name(name[:255])
    if place.startswith("dependency"):
        name = name.strip()  # `d/a\n` is the dependency d/a: spaces around are trimmed
    return name not in ALWAYS_REFUSED and _is_safe_component(name)


@pytest.fixture
def folders(netflix: Workspace, tmp_path: Path) -> tuple[Workspace, Path]:
    """The Netflix workspace compiled once to `tmp_path/repo` (so there is a repository
    that a refused operation could damage)."""
    netflix.compile(tmp_path / "repo")
    return netflix, tmp_path


@pytest.mark.slow
def test_escaping_names_in_manifests_are_refused_before_anything_is_written(
    folders: tuple[Workspace, Path],
) -> None:
    workspace, tmp_path = folders
    manifest = tmp_path / "incoming" / "m.yaml"
    manifest.parent.mkdir()
    refused = 0
    for number, bad in enumerate(ALWAYS_REFUSED + ESCAPING_NAMES, start=1):
        for place in PLACES:
            # A new version each time: names accepted earlier must not cause conflicts.
            text = manifests(bad, f"{number}.{PLACES.index(place)}")[place]
            manifest.write_text(text, encoding="utf-8")
            before = tree_snapshot(tmp_path)
            try:
                workspace.apply([manifest])
            except InputError:
                refused += 1
            except ValidationFailed as error:
                # Spaces around a dependency are trimmed (` a/a` is a/a), which is not yet
                # registered: refused too, with nothing written.
                assert place.startswith("dependency") and _is_safe_component(bad.strip()), error
            except ModelyardError as error:
                raise AssertionError(f"{place} {bad!r}: {type(error).__name__}: {error}") from None
            else:
                assert _acceptable(place, bad), f"{place} {bad!r} was accepted"
                continue
            assert tree_snapshot(tmp_path) == before, f"{place} {bad!r} changed files"
    assert refused >= len(ALWAYS_REFUSED) * 6


@pytest.mark.parametrize("bad", ["../x", "/abs", "a\0b", "x" * 300, "ａ", "a b\nc"])
def test_escaping_names_through_the_cli(cli: Cli, tmp_path: Path, bad: str) -> None:
    manifest = tmp_path / "m.yaml"
    for number, place in enumerate(PLACES, start=1):
        manifest.write_text(manifests(bad, f"{number}.0")[place], encoding="utf-8")
        before = tree_snapshot(cli.root)
        result = cli.runner.invoke(
            app, ["apply", str(manifest), "--workspace", str(cli.root)], catch_exceptions=False
        )
        assert "Traceback" not in result.output
        if _acceptable(place, bad):  # e.g. a look-alike letter in a file name
            assert result.exit_code == 0, (place, result.output)
            continue
        assert result.exit_code == 2, (place, result.output)
        assert tree_snapshot(cli.root) == before, place


@pytest.mark.parametrize("bad", ALWAYS_REFUSED + ["-rf", "_x", "A", "a.b", "~"])
def test_escaping_alias_names_are_refused(folders: tuple[Workspace, Path], bad: str) -> None:
    workspace, tmp_path = folders
    before = tree_snapshot(tmp_path)
    with pytest.raises(InputError, match="alias"):
        workspace.set_alias("recommendation/user_embedding", bad, "1.0")
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("name", WINDOWS_RESERVED)
def test_windows_reserved_names_are_ordinary_names(
    workspace: Workspace, tmp_path: Path, name: str
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(_MODEL.format(name=_q(name), domain="d", version="1.0"), encoding="utf-8")
    if NAME_PATTERN.fullmatch(name):
        assert workspace.apply([manifest]).created == [f"d/{name}@1.0"]
    else:
        with pytest.raises(InputError, match="is not allowed"):
            workspace.apply([manifest])


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bad=st.one_of(st.text(max_size=70), st.sampled_from(ESCAPING_NAMES)))
def test_any_accepted_name_is_one_safe_folder_name(store: CatalogStore, bad: str) -> None:
    """Every place: accepted means a single plain path component; else refused."""
    for place, text in manifests(bad).items():
        try:
            apply_documents(store, parse_manifest_text(text, "m.yaml"), dry_run=True)
        except (InputError, ValidationFailed):
            continue
        assert _acceptable(place, bad), (place, bad)


# import-triton ------------------------------------------------------------------------


def _triton_repository(root: Path, folder: str, config_name: str | None) -> Path:
    model = root / folder
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.py").write_text("# identity\n")
    name = f"name: {json.dumps(config_name)}\n" if config_name is not None else ""
    (model / "config.pbtxt").write_text(name + 'backend: "python"\nmax_batch_size: 0\n')
    return root


# Folder names a file system accepts (no '/', no NUL, at most 255 bytes).
_FOLDERS = ["a b", "a\nb", "ａ", "café", "x" * 200, "-rf", "$HOME", "a\tb", "\u202ea", " "]
# `name:` values in config.pbtxt; the folder is then `m`.
_CONFIG_NAMES = ["../x", "..", "/abs", "a/b", "a\0b", "x" * 300, "ａ", "a b", "a\nb", "../m"]


@pytest.mark.parametrize("folder", _FOLDERS)
def test_import_refuses_model_folders_that_are_no_triton_name(
    folders: tuple[Workspace, Path], folder: str
) -> None:
    workspace, tmp_path = folders
    repository = _triton_repository(tmp_path / "incoming", folder, None)
    before = tree_snapshot(tmp_path)
    with pytest.raises(InputError, match="rename the folder to import it"):
        workspace.import_triton(repository, domain="imported", owner_team="team")
    assert tree_snapshot(tmp_path) == before
    assert check_triton_name(folder) is not None


@pytest.mark.parametrize("config_name", _CONFIG_NAMES)
def test_import_refuses_config_names_other_than_the_folder(
    folders: tuple[Workspace, Path], config_name: str
) -> None:
    workspace, tmp_path = folders
    repository = _triton_repository(tmp_path / "incoming", "m", config_name)
    before = tree_snapshot(tmp_path)
    with pytest.raises(InputError, match="config.pbtxt"):
        workspace.import_triton(repository, domain="imported", owner_team="team")
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("domain", ["../x", "/abs", "a\0b", "ａ", "a b"])
def test_import_refuses_escaping_domains_and_teams(
    folders: tuple[Workspace, Path], domain: str
) -> None:
    workspace, tmp_path = folders
    repository = _triton_repository(tmp_path / "incoming", "m", None)
    before = tree_snapshot(tmp_path)
    with pytest.raises(InputError, match="--domain"):
        workspace.import_triton(repository, domain=domain, owner_team="team")
    with pytest.raises(InputError, match="--owner-team"):
        workspace.import_triton(repository, domain="imported", owner_team=domain)
    assert tree_snapshot(tmp_path) == before


# compile ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "..", "/abs", "a/b", "a\0b"])
def test_compile_refuses_escaping_names_the_catalog_already_holds(
    folders: tuple[Workspace, Path], bad: str
) -> None:
    """A catalog written before apply checked `triton` blocks (or by hand): compile still
    refuses the name before writing, and the previous repository stays as it was."""
    workspace, tmp_path = folders
    artifact = tmp_path / "model.py"
    artifact.write_text("# model\n")
    for number, key in enumerate(("name", "default_model_filename", "backend"), start=1):
        text = (
            _MODEL.format(name="a", domain="d", version=f"1.{number}")
            + f"artifact: {artifact}\ntriton: {{{key}: {_q(bad)}}}\n"
        )
        escaping = parse_manifest_text(text, "m.yaml")[0].spec  # what apply now refuses
        with workspace.store.transaction() as tx:
            tx.insert([(escaping, "hand-written")])
        before = tree_snapshot(tmp_path)
        with pytest.raises(ValidationFailed, match=f"triton.{key}|{key}"):
            workspace.compile(tmp_path / "repo")
        with pytest.raises(ValidationFailed):
            workspace.compile(tmp_path / "fresh")
        assert tree_snapshot(tmp_path) == before


# Names that are no text ---------------------------------------------------------------


def _bytes_path(folder: Path, name: bytes) -> Path:
    """A path whose last part is `name` (bytes that are not UTF-8 reach Python as lone
    surrogates)."""
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + name))


def test_a_manifest_file_name_that_is_not_utf8_is_refused(cli: Cli, tmp_path: Path) -> None:
    """Crashed with UnicodeEncodeError when the catalog recorded the source file."""
    folder = tmp_path / "models"
    folder.mkdir()
    _bytes_path(folder, b"m\xff.yaml").write_text(
        _MODEL.format(name="a", domain="d", version="1.0")
    )
    before = tree_snapshot(cli.root)
    result = cli.runner.invoke(
        app, ["apply", str(folder), "--workspace", str(cli.root)], catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    assert "m\\udcff.yaml: the file name is not UTF-8" in result.output
    assert tree_snapshot(cli.root) == before


def test_an_artifact_path_that_is_not_utf8_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    """Crashed with UnicodeEncodeError: in the digest (a file name inside a folder
    artifact) or when the catalog recorded the artifact's path."""
    folder = _bytes_path(tmp_path, b"art\xff")
    folder.mkdir()
    (folder / "model.py").write_text("# model\n")
    text = _MODEL.format(name="a", domain="d", version="1.0") + "artifact: model.py\n"
    with pytest.raises(InputError, match="is not a usable path \\(the path is not UTF-8"):
        parse_manifest_text(text, "m.yaml", base_dir=folder)
    tool = tmp_path / "tool"
    tool.mkdir()
    _bytes_path(tool, b"helper\xff.py").write_text("# helper\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(_MODEL.format(name="a", domain="d", version="1.0") + "artifact: tool\n")
    with pytest.raises(InputError, match=r"tool/helper\\udcff.py: the file name is not UTF-8"):
        workspace.apply([manifest])
    assert workspace.list_models() == []


def test_a_triton_repository_path_that_is_not_utf8_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    repository = _triton_repository(_bytes_path(tmp_path, b"repo\xff"), "m", None)
    with pytest.raises(InputError, match="the path is not UTF-8"):
        workspace.import_triton(repository, domain="imported", owner_team="team")
    assert workspace.list_models() == []


# compile --out --------------------------------------------------------------------------


def _out_cases(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("keep me")
    (tmp_path / "a-file").write_text("keep me")
    os.symlink(tmp_path / "mine", tmp_path / "link-to-mine")
    os.symlink("/nonexistent/elsewhere", tmp_path / "dangling-link")
    return {
        "a folder that is not a repository": tmp_path / "mine",
        "a file": tmp_path / "a-file",
        "a link modelyard did not make": tmp_path / "link-to-mine",
        "a dangling link": tmp_path / "dangling-link",
        "a name too long for its generations folder": tmp_path / "deep" / ("y" * 250),
        "the root folder": Path("/"),
    }


def test_compile_refuses_an_out_that_is_not_its_own_before_creating_anything(
    netflix: Workspace, tmp_path: Path
) -> None:
    """Refused, but `.mine.generations/.lock` beside the folder (and `/..generations` for
    `--out /`) was created first; links it did not make were replaced."""
    for case, out in _out_cases(tmp_path).items():
        before = tree_snapshot(tmp_path)
        root_before = sorted(p.name for p in Path("/").iterdir())
        with pytest.raises(InputError, match="choose another --out"):
            netflix.compile(out)
        assert tree_snapshot(tmp_path) == before, case
        assert sorted(p.name for p in Path("/").iterdir()) == root_before, case
    assert (tmp_path / "mine" / "keep.txt").read_text() == "keep me"


def test_compile_out_through_the_cli_is_refused_without_a_traceback(
    cli: Cli, tmp_path: Path
) -> None:
    for case, out in _out_cases(tmp_path).items():
        before = tree_snapshot(tmp_path)
        result = cli.runner.invoke(
            app,
            ["compile", "--out", str(out), "--workspace", str(cli.root)],
            catch_exceptions=False,
        )
        assert result.exit_code == 2, (case, result.output)
        assert "Traceback" not in result.output
        assert tree_snapshot(tmp_path) == before, case
