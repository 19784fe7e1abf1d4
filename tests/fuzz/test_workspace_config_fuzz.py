"""Fuzzed modelyard.yaml: a workspace opens or fails with one modelyard error.

modelyard.yaml is read on every command, so a bad one must say what is wrong (file,
line, field) through every command, never show a traceback.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelyard import Workspace
from modelyard.cli.app import app
from modelyard.errors import InputError, ModelyardError
from tests.support.fuzz import ANY_VALUE, RAW_YAML
from tests.support.netflix import NETFLIX

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8}
_COUNTER = itertools.count()

_GOOD = (NETFLIX / "modelyard.yaml").read_text(encoding="utf-8")
_KEYS = ["catalog", "fleet", "targets", "api", "catalog.url", "fleet.servers", "x"]


@st.composite
def config_text(draw: st.DrawFn) -> str:
    """The Netflix example's modelyard.yaml with a key replaced or added, or a mapping
    of odd values, or random text."""
    kind = draw(st.sampled_from(["edit", "edit", "edit", "mapping", "text"]))
    if kind == "text":
        return draw(st.text(max_size=80))
    if kind == "mapping":
        keys = draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3, unique=True))
        return "".join(f"{key}: {draw(ANY_VALUE)}\n" for key in keys)
    lines = _GOOD.splitlines()
    at = draw(st.integers(0, len(lines) - 1))
    line = lines[at]
    if ":" in line and not line.lstrip().startswith("#"):
        key, _, _ = line.partition(":")
        lines[at] = f"{key}: {draw(ANY_VALUE)}"
    else:
        lines.insert(at, f"{draw(st.sampled_from(_KEYS))}: {draw(ANY_VALUE)}")
    return "\n".join(lines) + "\n"


# Each crashed `modelyard` (through Workspace.open) before it was read with the
# manifest loader: ReaderError, ValueError (4300 digits, 2024-02-30), KeyError (!!bool),
# UnicodeDecodeError.
REGRESSIONS = {
    "control-character": ("catalog: {url: \x01}\n", "YAML error: unacceptable character"),
    "huge-integer": (
        "fleet: {servers: [{name: a, memory_mb: 1" + "0" * 5000 + "}]}\n",
        r"modelyard.yaml:1: '1000.*cannot be read as int",
    ),
    "impossible-date": (
        "catalog: {url: 2024-02-30}\n",
        "modelyard.yaml:1: '2024-02-30' cannot be read as timestamp",
    ),
    "bool-tag": ("!!bool x: 1\n", "modelyard.yaml:1: 'x' cannot be read as bool"),
    # Not a crash on SQLite, but a lease row PostgreSQL refuses (VARCHAR(64)) at deploy.
    "long-target-name": (
        "targets: {" + "t" * 70 + ": {url: 'http://x', repository: r}}\n",
        "targets: target name 'tttt.* is longer than 64 characters",
    ),
    "escaping-target-name": (
        "targets: {'../x': {url: 'http://x', repository: r}}\n",
        "targets: target name '../x' is not allowed",
    ),
    "duplicate-key": (
        "catalog: {}\ncatalog: {}\n",
        "modelyard.yaml:2: duplicate key 'catalog' \\(first on line 1\\); keep one",
    ),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_config_that_crashed_is_an_input_error(tmp_path: Path, case: str) -> None:
    text, message = REGRESSIONS[case]
    (tmp_path / "modelyard.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        Workspace.open(tmp_path)


def test_config_that_is_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "modelyard.yaml").write_bytes(b"catalog: \xff\n")
    with pytest.raises(InputError, match="modelyard.yaml: not UTF-8 text"):
        Workspace.open(tmp_path)


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=config_text())
@example(text=REGRESSIONS["huge-integer"][0])
@example(text="fleet: {servers: [{name: a, url: 'http://x', cpu_cores: .nan, memory_mb: 1}]}\n")
@example(text="fleet: &a {servers: [*a]}\n")
@example(text="targets: {local: {url: 1, repository: [1]}}\n")
def test_fuzzed_configs_open_or_fail_cleanly(tmp_path: Path, text: str) -> None:
    root = tmp_path / f"ws-{next(_COUNTER)}"
    root.mkdir()
    (root / "modelyard.yaml").write_text(text, encoding="utf-8")
    try:
        Workspace.open(root)
    except ModelyardError as error:
        assert str(error)


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=config_text(),
    command=st.sampled_from([["list"], ["validate"], ["plan"], ["alias", "list"]]),
)
def test_fuzzed_configs_through_the_cli(tmp_path: Path, text: str, command: list[str]) -> None:
    root = tmp_path / f"ws-{next(_COUNTER)}"
    root.mkdir()
    (root / "modelyard.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, [*command, "--workspace", str(root)], catch_exceptions=False)
    assert result.exit_code in DOCUMENTED_EXIT_CODES, (result.exit_code, result.output)
    assert "Traceback" not in result.output


def test_raw_yaml_snippets_in_every_config_key(tmp_path: Path) -> None:
    for number, snippet in enumerate(RAW_YAML):
        for key in ("catalog", "fleet", "targets", "api"):
            root = tmp_path / f"ws-{number}-{key}"
            root.mkdir()
            (root / "modelyard.yaml").write_text(f"{key}: {snippet}\n", encoding="utf-8")
            with contextlib.suppress(ModelyardError):
                Workspace.open(root)
