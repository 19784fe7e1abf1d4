"""Fuzzed manifests: every input applies cleanly or fails with one modelyard error.

The properties, for YAML text built by `support.manifest_text`:

- parsing and applying raise nothing but a `ModelyardError` subclass;
- a failed (or dry-run) apply leaves the catalog exactly as it was;
- a successful apply stores what it said: each created version reads back with the
  content digest it was registered with, and applying the same text again changes nothing;
- through the CLI: an exit code from the documented set and never a traceback.

The examples share one catalog per test, so later ones meet the versions earlier ones
registered (immutable-version conflicts, dependencies that now resolve, cycles).
Crashes found by fuzzing are kept below as explicit examples.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelyard import Workspace
from modelyard.catalog.manifest import load_manifests, parse_manifest_text
from modelyard.catalog.naming import check_name, split_model_id
from modelyard.catalog.ref import ModelRef
from modelyard.catalog.spec import Dependency
from modelyard.catalog.version import Version, VersionConstraint
from modelyard.cli.app import app
from modelyard.errors import InputError, ModelsBlocked, ModelyardError
from modelyard.registry import apply_documents
from modelyard.store import CatalogStore
from tests.support.fuzz import (
    CONSTRAINTS,
    ESCAPING_NAMES,
    PYTHON_ARTIFACT,
    TRICKY_CONSTRAINTS,
    TRICKY_VERSIONS,
    catalog_state,
    manifest_text,
    with_artifacts,
)
from tests.support.workspaces import Cli

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# Exit codes the CLI documents (cli/app.py): 70 would be an internal error.
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8}

_HEAD = (
    'name: a\nversion: "1.0"\nmodel_type: embedding\nframework: python\ndomain: d\n'
    "owner_team: team\n"
)

# Inputs that crashed before their fix, each with the fix's message.
REGRESSIONS = {
    # !!binary inside the triton block / an example: UnicodeDecodeError when digesting.
    "binary-triton": (_HEAD + "triton: {x: !!binary /w==}\n", "triton: x: expected JSON data"),
    "binary-example": (
        _HEAD + "inputs: [{name: x, data_type: FP32, dims: [1], example: [!!binary /w==]}]\n",
        "binary data",
    ),
    # An anchor holding its own alias: ValueError "Circular reference detected".
    "self-alias": (_HEAD + "triton: &a {x: *a}\n", "triton: x.x: contains itself"),
    # 500 nested lists: pydantic's "Maximum serialization depth exceeded".
    "deep-nesting": (
        _HEAD + "triton: {x: " + "[" * 500 + "]" * 500 + "}\n",
        "nested more than 64 levels",
    ),
    # .nan/.inf were stored as null: the catalog silently changed what was written.
    "nan-in-triton": (_HEAD + "triton: {max_batch_size: .nan}\n", "not a finite number"),
    # Artifact paths that are no path: ValueError (NUL), RuntimeError (~nobody), OSError.
    "artifact-nul": (
        _HEAD + 'artifact: "model\\0.onnx"\n',
        "artifact: d/a@1.0: 'model\\\\x00\\.onnx' is not a usable path \\(embedded null byte\\)",
    ),
    "artifact-no-such-user": (
        _HEAD + "artifact: ~no-such-user-here/m.onnx\n",
        "is not a usable path \\(Could not determine home directory",
    ),
    "artifact-name-too-long": (
        _HEAD + f"artifact: {'x' * 5000}\n",
        "is not a usable path \\(File name too long\\)",
    ),
    # Python's own errors from PyYAML's constructors: ValueError (4300-digit limit on
    # int(), impossible dates), KeyError (!!bool), AttributeError (!!timestamp),
    # TypeError (!!map on a sequence, in the duplicate-key check).
    "huge-integer": (
        _HEAD + "resource_requirements: {memory_mb: 1" + "0" * 5000 + "}\n",
        "cannot be read as int \\(Exceeds the limit \\(4300 digits\\)",
    ),
    "impossible-date": (
        _HEAD + "triton: {x: 2024-02-30}\n",
        "'2024-02-30' cannot be read as timestamp \\(day is out of range",
    ),
    "bool-tag": (_HEAD + "triton: {x: !!bool maybe}\n", "'maybe' cannot be read as bool; quote"),
    "timestamp-tag": (
        _HEAD + "triton: {x: !!timestamp abc}\n",
        "'abc' cannot be read as timestamp; quote it",
    ),
    "map-tag-on-a-list": (
        _HEAD + "triton: {x: !!map [1]}\n",
        "expected a mapping node, but found sequence",
    ),
    "inf-in-example": (
        _HEAD + "inputs: [{name: x, data_type: FP32, dims: [1], example: [-.inf]}]\n",
        "inputs\\[0\\].example: \\[0\\]: -inf is not a finite number",
    ),
}


def _check_apply(store: CatalogStore, text: str, dry_run: bool, folder: Path) -> None:
    before = catalog_state(store)
    try:
        documents = parse_manifest_text(with_artifacts(text, folder), "fuzz.yaml")
        result = apply_documents(store, documents, dry_run=dry_run)
    except ModelyardError as error:
        event(f"refused: {type(error).__name__}")
        assert str(error), "an error without a message"
        assert catalog_state(store) == before, "a failed apply changed the catalog"
        return
    event("applied" if result.created else "applied, nothing new")
    if dry_run:
        assert catalog_state(store) == before, "a dry run changed the catalog"
        return
    for ref in result.created:
        model_id, version = ref.rsplit("@", 1)
        stored = store.get(model_id, version)
        assert stored.spec.content_digest() == stored.content_digest, f"{ref} reads back changed"
    after = catalog_state(store)
    again = apply_documents(store, documents)
    assert again.created == [] and catalog_state(store) == after


@pytest.mark.slow
@settings(FUZZ)
@given(text=manifest_text(), dry_run=st.booleans())
@example(text=_HEAD, dry_run=False)
@example(
    text=_HEAD + "---\n" + _HEAD.replace("name: a", "name: b") + "dependencies: ['d/a>=1.0,<2']\n",
    dry_run=False,
)
def test_fuzzed_manifests_apply_or_fail_cleanly(
    store: CatalogStore, tmp_path: Path, text: str, dry_run: bool
) -> None:
    _check_apply(store, text, dry_run, tmp_path)


_DOWNSTREAM = {
    "validate": lambda ws, out: ws.validate(),
    "plan": lambda ws, out: ws.plan(),
    "place": lambda ws, out: ws.place(),
    "report": lambda ws, out: ws.report(),
    "graph": lambda ws, out: ws.graph_view(),
    "compile": lambda ws, out: ws.compile(out),
    "compile-local": lambda ws, out: ws.compile(out, profile="local"),
    "compile-per-server": lambda ws, out: ws.compile_fleet(out),
}


@settings(FUZZ, max_examples=200)
@given(text=manifest_text())
# Found by fuzzing: dims beyond int64 crashed validate/compile (protobuf's ValueError), a
# cpu_cores of 1e-300 crashed place (HiGHS refused the coefficient).
@pytest.mark.slow
@example(text=_HEAD + "inputs: [{name: x, data_type: FP32, dims: [99999999999999999999999]}]\n")
@example(
    text=_HEAD + f"resource_requirements: {{cpu_cores: 1.0e-300}}\nartifact: {PYTHON_ARTIFACT}\n"
)
def test_what_applies_validates_places_and_compiles_or_fails_cleanly(
    netflix: Workspace, tmp_path: Path, text: str
) -> None:
    """Values a manifest may hold (huge memory, tiny CPU shares, long dims, odd labels)
    must not crash the commands that read them back."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(with_artifacts(text, tmp_path), encoding="utf-8")
    try:
        netflix.apply([path])
    except ModelyardError:
        return
    for command, run in _DOWNSTREAM.items():
        out = tmp_path / f"out-{next(_COUNTER)}"
        try:
            run(netflix, out)
        except ModelyardError as error:
            event(f"{command}: {type(error).__name__}")
            # Nothing half-written, except where the error says what was written on
            # purpose: ModelsBlocked (a changed artifact blocks only its model; compile
            # writes the others; seen when a fuzzed `artifact: .` named this folder, into
            # which the outputs go) and the per-server compile.
            assert (
                not out.exists()
                or command == "compile-per-server"
                or isinstance(error, ModelsBlocked)
            )
        else:
            event(f"{command}: ok")


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_crashes_found_by_fuzzing_are_input_errors(store: CatalogStore, case: str) -> None:
    text, message = REGRESSIONS[case]
    with pytest.raises(InputError, match=message) as raised:
        apply_documents(store, parse_manifest_text(text, "fuzz.yaml"))
    assert "fuzz.yaml:7" in str(raised.value)
    assert catalog_state(store) == ((), ())


@pytest.mark.skipif(not os.path.ismount("/proc"), reason="needs /proc mounted")
def test_an_artifact_folder_spanning_file_systems_is_refused(store: CatalogStore) -> None:
    """`artifact: /` walked the whole machine and died on /proc (PermissionError)."""
    with pytest.raises(
        InputError,
        match="artifact: d/a@1.0: the artifact folder / holds the "
        "mount point /[a-z]+ of another file system",
    ):
        parse_manifest_text(_HEAD + "artifact: /\n", "fuzz.yaml")


_SEED = (
    '{"name": "a", "version": "1.0", "model_type": "embedding", "framework": "python", '
    '"domain": "d", "owner_team": "team"'
)
JSON_REGRESSIONS = {
    # RecursionError from json.loads
    "deep-nesting": (
        '{"d/a": ' + '{"x": ' * 100_000 + "1" + "}" * 100_001,
        "JSON error: nested too deeply to read",
    ),
    # ValueError: int() of more than 4300 digits
    "huge-integer": (
        _SEED + ', "triton_version": 1' + "0" * 5000 + "}",
        "JSON error: Exceeds the limit \\(4300 digits\\)",
    ),
    # Not a crash: json.loads kept the last of two keys silently, where YAML refuses.
    "duplicate-key": (_SEED + ', "name": "b"}', "duplicate key 'name'; keep one"),
}


@pytest.mark.parametrize("case", sorted(JSON_REGRESSIONS))
def test_seed_json_that_crashed_is_an_input_error(
    store: CatalogStore, tmp_path: Path, case: str
) -> None:
    text, message = JSON_REGRESSIONS[case]
    path = tmp_path / "seed.json"
    path.write_text(text)
    with pytest.raises(InputError, match=f"seed.json: {message}"):
        load_manifests([path])


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(ESCAPING_NAMES + TRICKY_VERSIONS),
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_SEED_ENTRY = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b", "../x"]),
        "version": st.sampled_from(["1.0", "2.0", "x"]),
        "model_type": st.just("embedding"),
        "framework": st.sampled_from(["python", "onnx"]),
        "domain": st.sampled_from(["d", "e"]),
        "owner_team": st.just("team"),
    },
    optional={
        "dependencies": _JSON_VALUES,
        "resource_requirements": _JSON_VALUES,
        "sla_requirements": _JSON_VALUES,
        "created_at": _JSON_VALUES,
        "triton": _JSON_VALUES,
        "description": _JSON_VALUES,
        "labels": _JSON_VALUES,
    },
)


@pytest.mark.slow
@settings(FUZZ, max_examples=200)
@given(
    data=st.one_of(
        _JSON_VALUES.map(json.dumps),
        st.lists(_SEED_ENTRY, max_size=3).map(json.dumps),
        st.dictionaries(
            st.sampled_from(["d/a", "d/b", "e/a", "../x", "d"]), _SEED_ENTRY, max_size=3
        ).map(json.dumps),
        st.text(max_size=50),
    )
)
def test_fuzzed_seed_json_loads_or_fails_cleanly(
    store: CatalogStore, tmp_path: Path, data: str
) -> None:
    path = tmp_path / "seed.json"
    path.write_text(data, encoding="utf-8")
    before = catalog_state(store)
    try:
        apply_documents(store, load_manifests([path]), dry_run=True)
    except ModelyardError as error:
        assert str(error)
    assert catalog_state(store) == before


def test_seed_json_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text("\ufeff" + _SEED + "}", encoding="utf-8")
    assert [d.spec.ref for d in load_manifests([path])] == ["d/a@1.0"]


def test_text_longer_than_the_catalog_columns_is_refused_on_every_backend(
    store: CatalogStore,
) -> None:
    """A 100-character model_type applied on SQLite (which ignores VARCHAR lengths) but
    failed on PostgreSQL with "value too long" (a StorageError, exit 6)."""
    with pytest.raises(InputError, match="model_type 'aaa.*at most 64 characters"):
        apply_documents(
            store, parse_manifest_text(_HEAD.replace("embedding", "a" * 100), "fuzz.yaml")
        )
    assert catalog_state(store) == ((), ())


def test_aliases_expanding_without_end_are_refused(store: CatalogStore) -> None:
    """A "billion laughs": nine levels of ten aliases each would be 10^10 values."""
    levels = ["    l0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"    l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    text = _HEAD + "triton:\n  parameters:\n" + "\n".join(levels) + "\n"
    with pytest.raises(InputError, match="triton: holds more than 2000000 values"):
        parse_manifest_text(text, "fuzz.yaml")


@pytest.mark.slow
@settings(FUZZ, max_examples=60)
@given(text=manifest_text(), dry_run=st.booleans())
@example(text=REGRESSIONS["binary-triton"][0], dry_run=False)
@example(text=REGRESSIONS["self-alias"][0], dry_run=False)
def test_fuzzed_manifests_through_the_cli(
    cli: Cli, tmp_path: Path, text: str, dry_run: bool
) -> None:
    manifest = tmp_path / "fuzz.yaml"
    manifest.write_text(with_artifacts(text, tmp_path), encoding="utf-8")
    args = ["apply", str(manifest), "--workspace", str(cli.root), "--json"]
    before = cli.runner.invoke(
        app,
        ["list", "--all-versions", "--json", "--workspace", str(cli.root)],
        catch_exceptions=False,
    ).stdout
    result = cli.runner.invoke(
        app, args + (["--dry-run"] if dry_run else []), catch_exceptions=False
    )
    assert result.exit_code in DOCUMENTED_EXIT_CODES, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code != 0 or dry_run:
        after = cli.runner.invoke(
            app,
            ["list", "--all-versions", "--json", "--workspace", str(cli.root)],
            catch_exceptions=False,
        ).stdout
        assert after == before


_COUNTER = itertools.count()
_REFERENCES = st.one_of(
    st.sampled_from(
        [
            "recommendation/user_embedding",
            "recommendation/user_embedding@1.0",
            "search/query_understanding@1.5.0",
            "search/nope",
            "a/b@9.9",
        ]
    ),
    st.tuples(
        st.sampled_from(["recommendation", "search", "..", ""] + ESCAPING_NAMES[:8]),
        st.sampled_from(["user_embedding", "x", "../y"] + ESCAPING_NAMES[8:16]),
        st.sampled_from(["", "@1.0", "@x", "@1.0.0.0"] + TRICKY_VERSIONS[:6]),
    ).map(lambda t: f"{t[0]}/{t[1]}{t[2] if not t[2] or t[2][0] == '@' else '@' + t[2]}"),
    st.text(max_size=20).filter(lambda t: not t.startswith("-")),
)
_WORDS = st.one_of(
    st.sampled_from(
        ["production", "canary", "1.0", "none", "2.1"] + ESCAPING_NAMES + TRICKY_VERSIONS
    ),
    st.text(max_size=12),
).filter(lambda t: not t.startswith("-"))


@pytest.mark.slow
@settings(FUZZ, max_examples=120)
@given(
    command=st.sampled_from(
        ["show", "deps", "impact", "graph", "alias-set", "alias-list", "list", "compile-profile"]
    ),
    reference=_REFERENCES,
    word=_WORDS,
    version=_WORDS,
    expect=st.none() | _WORDS,
)
def test_fuzzed_references_and_words_through_the_cli(
    netflix: Workspace,
    tmp_path: Path,
    command: str,
    reference: str,
    word: str,
    version: str,
    expect: str | None,
) -> None:
    out = tmp_path / f"repo-{next(_COUNTER)}"  # examples share tmp_path
    args = {
        "show": ["show", reference],
        "deps": ["deps", reference],
        "impact": ["impact", reference],
        "graph": ["graph", reference],
        "alias-list": ["alias", "list", reference],
        "alias-set": ["alias", "set", reference, word, version]
        + (["--expect", expect] if expect is not None else []),
        "list": ["list", "--domain", word, "--team", version],
        "compile-profile": ["compile", "--out", str(out), "--profile", word],
    }[command]
    assert netflix.root is not None
    before = catalog_state(netflix.store)
    result = CliRunner().invoke(
        app, [*args, "--workspace", str(netflix.root), "--json"], catch_exceptions=False
    )
    assert result.exit_code in DOCUMENTED_EXIT_CODES, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert catalog_state(netflix.store) == before
        if command == "compile-profile":
            assert not out.exists()


# Names, versions and constraints on their own: ValueError (which the manifest loader
# turns into InputError) or a value, nothing else.

TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ESCAPING_NAMES + TRICKY_VERSIONS + TRICKY_CONSTRAINTS + CONSTRAINTS),
)


@settings(max_examples=300, deadline=None)
@given(value=TEXT)
def test_names_are_safe_folder_names_or_refused(value: str) -> None:
    try:
        checked = check_name(value)
    except ValueError:
        return
    assert checked == value and 0 < len(value) <= 64
    assert value.isascii() and value.isprintable() and "/" not in value and value[0] not in ".-_"


@settings(max_examples=300, deadline=None)
@given(value=TEXT)
def test_versions_parse_or_refuse(value: str) -> None:
    try:
        parsed = Version.parse(value)
    except ValueError:
        return
    assert value.isascii() and Version.parse(parsed.canonical) == parsed


@settings(max_examples=300, deadline=None)
@given(value=TEXT, version=st.sampled_from(["1.0", "1.5.2", "2.0", "0.1"]))
def test_constraints_parse_or_refuse(value: str, version: str) -> None:
    try:
        constraint = VersionConstraint.parse(value)
    except ValueError:
        return
    assert isinstance(constraint.allows(Version.parse(version)), bool)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(TEXT, st.tuples(TEXT, TEXT, TEXT).map(lambda t: f"{t[0]}/{t[1]}{t[2]}")))
def test_dependencies_and_references_parse_or_refuse(value: str) -> None:
    try:
        dependency = Dependency.parse(value)
    except ValueError:
        pass
    else:
        split_model_id(dependency.model_id)
    try:
        model_id = ModelRef.parse(value).model_id
    except InputError:
        return
    split_model_id(model_id)
