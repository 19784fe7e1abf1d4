"""Fuzzed config.pbtxt: `import-triton` registers it or fails with one modelyard error.

Inputs are real files of the conformance corpus (shared/corpus/triton-configs), mutated
(lines dropped, doubled or cut, numbers made huge, negative or fractional, strings
replaced by escaping names, enum values misspelt, brackets thrown in), and random text.
Each example is a fresh repository `<model>/config.pbtxt` + `<model>/1/` (with a real
ONNX file and a model.py) next to stub models for the ensemble steps it names, imported
into a fresh catalog. Properties:

- import raises nothing but a `ModelyardError`; when it fails the catalog is unchanged;
- what it registered compiles, or compile fails with a `ModelyardError` and writes nothing;
- parsing a text and checking it with triton/rules.py never raises anything else either;
- through the CLI: a documented exit code and no traceback.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from modelyard import Workspace
from modelyard.cli.app import app
from modelyard.errors import ModelyardError
from modelyard.triton.config import ConfigBuildError, parse_pbtxt
from modelyard.triton.naming import check_triton_name
from modelyard.triton.rules import check_model_config
from tests.support.fuzz import ESCAPING_NAMES, catalog_state, tree_snapshot
from tests.support.netflix import NETFLIX
from tests.support.workspaces import Cli, init_workspace

ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    ROOT / "shared" / "corpus" / "triton-configs",
    ROOT.parent / "shared" / "corpus" / "triton-configs",
]
CORPUS = next((p for p in _CANDIDATES if (p / "SOURCES.md").is_file()), None)
CORPUS_FILES = sorted(CORPUS.glob("*.pbtxt")) if CORPUS else []
ONNX = NETFLIX / "artifacts" / "user_embedding.onnx"
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8}

pytestmark = pytest.mark.skipif(CORPUS is None, reason="the Triton config corpus is not here")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ENUM = re.compile(r"\b(TYPE|KIND|FORMAT)_[A-Z0-9_]+\b")
_NUMBERS = [
    "0",
    "-1",
    "-2",
    "1.5",
    "99999999999999999999",
    "2147483648",
    "-9223372036854775809",
    "1e400",
    "nan",
    "inf",
    "0x10",
    "007",
]
_STRINGS = ESCAPING_NAMES + [
    "",
    "model.onnx",
    "onnxruntime",
    "ensemble",
    "python",
    "tensorrt_plan",
    "\\x00",
    "\\u0000",
    "\\\\",
    "\\",
]


def _corpus_text(index: int) -> str:
    return CORPUS_FILES[index % len(CORPUS_FILES)].read_text(encoding="utf-8")


@st.composite
def pbtxt_text(draw: st.DrawFn) -> str:
    """A corpus config with zero to four mutations, or (now and then) random text."""
    if draw(st.sampled_from([False] * 9 + [True])):
        return draw(st.text(max_size=200))
    text = _corpus_text(draw(st.integers(0, max(len(CORPUS_FILES) - 1, 0))))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 2, 3, 4]))):
        lines = text.splitlines()
        kind = draw(
            st.sampled_from(
                [
                    "drop",
                    "double",
                    "cut",
                    "number",
                    "number",
                    "string",
                    "string",
                    "enum",
                    "bracket",
                    "swap",
                ]
            )
        )
        if kind in ("drop", "double", "swap"):
            if not lines:
                continue
            at = draw(st.integers(0, len(lines) - 1))
            if kind == "drop":
                del lines[at]
            elif kind == "double":
                lines.insert(at, lines[at])
            else:
                other = draw(st.integers(0, len(lines) - 1))
                lines[at], lines[other] = lines[other], lines[at]
            text = "\n".join(lines) + "\n"
        elif kind == "cut":
            text = text[: draw(st.integers(0, len(text)))]
        elif kind == "bracket":
            at = draw(st.integers(0, len(text)))
            text = (
                text[:at]
                + draw(st.sampled_from(["{", "}", "[", "]", ":", ",", '"', "#"]))
                + text[at:]
            )
        else:
            pattern = {"number": _NUMBER, "string": _STRING, "enum": _ENUM}[kind]
            matches = list(pattern.finditer(text))
            if not matches:
                continue
            match = draw(st.sampled_from(matches))
            if kind == "number":
                new = draw(st.sampled_from(_NUMBERS))
            elif kind == "string":
                new = json.dumps(draw(st.sampled_from(_STRINGS)))
            else:
                new = draw(
                    st.sampled_from(
                        [
                            "TYPE_FOO",
                            "KIND_GPU",
                            "KIND_MODEL",
                            "TYPE_BF16",
                            "TYPE_STRING",
                            "FORMAT_NCHW",
                            "type_fp32",
                        ]
                    )
                )
            text = text[: match.start()] + new + text[match.end() :]
    return text


_counter = itertools.count()


def _folder_name(text: str) -> str:
    """The model folder: the config's own `name:` when that can be a folder name."""
    match = re.search(r'^\s*name\s*:\s*"([^"\n]*)"', text, re.M)
    name = match.group(1) if match else "model"
    return name if check_triton_name(name) is None else "model"


def make_repository(parent: Path, text: str) -> Path:
    """`<model>/config.pbtxt` holding `text`, version folder 1/ with model.onnx and
    model.py, and a python stub for every other model its ensemble steps name."""
    repository = parent / f"repo-{next(_counter)}"
    model = repository / _folder_name(text)
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(text, encoding="utf-8")
    shutil.copyfile(ONNX, model / "1" / "model.onnx")
    (model / "1" / "model.py").write_text("# stub\n")
    for step in sorted(set(re.findall(r'model_name\s*:\s*"([^"\n]*)"', text))):
        stub = repository / step
        if check_triton_name(step) is None and not stub.exists():
            (stub / "1").mkdir(parents=True)
            (stub / "config.pbtxt").write_text('backend: "python"\n')
            (stub / "1" / "model.py").write_text("# stub\n")
    return repository


def _check_import(workspace: Workspace, repository: Path, out: Path) -> None:
    before = catalog_state(workspace.store)
    source_before = tree_snapshot(repository)
    try:
        result = workspace.import_triton(repository, domain="imported", owner_team="team")
    except ModelyardError as error:
        event(f"import refused: {type(error).__name__}")
        assert str(error)
        assert catalog_state(workspace.store) == before, "a failed import changed the catalog"
        assert tree_snapshot(repository) == source_before
        return
    event("imported")
    assert result.created
    assert tree_snapshot(repository) == source_before, "import changed the repository it read"
    try:
        workspace.compile(out)
    except ModelyardError as error:
        event(f"compile refused: {type(error).__name__}")
        assert not out.exists() and not out.is_symlink(), "a refused compile wrote something"
        return
    event("compiled")


@FUZZ
@given(text=pbtxt_text())
@example(text="")
@example(text='name: "../x"\nbackend: "python"\n')
@example(text='backend: "python"\ndefault_model_filename: "../../outside.py"\n')
@example(text='backend: "python"\nruntime: "/usr/lib/libevil.so"\n')
# Imported and compiled before rules.py checked it: Triton would load
# <backends>/../../../tmp/evil/libtriton_....so, a library outside its backend folder.
@pytest.mark.slow
@example(text='backend: "../../../tmp/evil"\n')
def test_fuzzed_configs_import_or_fail_cleanly(
    new_catalog_url: Callable[[], str], tmp_path: Path, text: str
) -> None:
    number = next(_counter)
    workspace = init_workspace(tmp_path / f"ws-{number}", new_catalog_url())
    try:
        _check_import(workspace, make_repository(tmp_path, text), tmp_path / f"out-{number}")
    finally:
        workspace.close()


@pytest.mark.slow
@settings(FUZZ, max_examples=1000)
@given(text=pbtxt_text())
def test_rules_check_any_parsable_config_without_raising(text: str) -> None:
    try:
        config = parse_pbtxt(text)
    except ConfigBuildError:
        return
    for issue in check_model_config(config, model_name=_folder_name(text)):
        assert issue.field is not None and issue.message


@pytest.mark.slow
@settings(FUZZ, max_examples=60)
@given(text=pbtxt_text())
def test_fuzzed_configs_through_the_cli(cli: Cli, tmp_path: Path, text: str) -> None:
    repository = make_repository(tmp_path, text)
    domain = f"d{next(_counter)}"  # one catalog for all examples: no conflicts between them
    result = cli.runner.invoke(
        app,
        [
            "import-triton",
            str(repository),
            "--domain",
            domain,
            "--owner-team",
            "team",
            "--workspace",
            str(cli.root),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code in DOCUMENTED_EXIT_CODES, (result.exit_code, result.output)
    assert "Traceback" not in result.output
