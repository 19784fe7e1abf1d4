"""Strategies and before/after snapshots shared by the fuzz tests.

Manifests are built as YAML *text*, line by line, so that hypothesis can write what a
person (or a broken generator) could: unknown and misspelt keys, duplicate keys, several
documents, raw YAML such as `!!binary`, `.nan`, anchors and aliases, dates, and values of
the wrong type anywhere. Most keys get a valid value most of the time, so that a good
share of the examples applies and the catalog fills up as the examples go on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from modelyard.store import CatalogStore

# Names that try to leave the repository, or look like a safe name but are not one.
ESCAPING_NAMES = [
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
    "a" * 65,
    "ａ",
    "\u0430",
    "café",
    "ǅ",
    "a b",
    " a",
    "a\n",
    "a\nb",
    "a\tb",
    "CON",
    "con",
    "nul",
    "aux",
    "com1",
    "lpt1",
    "prn.txt",
    "a:b",
    "a*b",
    "a?b",
    "<a>",
    "a|b",
    "~",
    "~root",
    "$HOME",
    "a;rm",
    "`id`",
    "-rf",
    "_x",
    "A",
    "a.b",
    "a..b",
    "\u202ea",
    "a\u200bb",
    "\ufeffa",
    "",
]
GOOD_NAMES = ["a", "b", "c", "emb", "ranker_2", "x-1", "9lives"]
DOMAINS = ["d", "e"]
VERSIONS = ["1.0", "1.1", "2.0", "1.0.1", "10.2.3"]
TRICKY_VERSIONS = [
    "1",
    "1.",
    ".1",
    "01.0",
    "1.00",
    "1.0.0.0",
    "v1.0",
    "1.0-rc1",
    "1.0a1",
    "1.10",
    "999999999.0",
    "9999999999.0",
    "-1.0",
    "1.-1",
    "١.٠",
    "1.0 ",
    " 1.0",
    "1.0\n",
    "1,0",
    "１.０",
    "1e3",
    "NaN",
    "inf",
    "",
]
CONSTRAINTS = [
    "",
    ">=1.0",
    ">=1.0,<2",
    "==1.0",
    "==1.*",
    "~=1.0",
    "!=2.0",
    "<1.0",
    ">0.1",
    "==2.0.0",
    ">=1.0, <2",
    "*",
]
TRICKY_CONSTRAINTS = [
    "=1.0",
    "==",
    ">=",
    "~=1",
    "==1.*.1",
    ">=1.0,,<2",
    ">=1.0;<2",
    "===1.0",
    "==١.٠",
    ">=1.0 <2",
    ">= 1.0",
    "<<1",
    "==1.0.0.0",
    "~=1.*",
    ">=99999999999999999999.0",
    ">=-1.0",
    "!=",
    ",",
    "==v1",
    "@1.0",
    "==1.0\0",
]

# Raw YAML that is no plain value: tags, special floats, anchors, dates, broken syntax.
RAW_YAML = [
    "!!binary AAEC",
    "!!binary /w==",
    ".nan",
    ".inf",
    "-.inf",
    "~",
    "null",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "0x1F",
    "0o17",
    "1_000",
    "!!set {a, b}",
    "!!str 1.0",
    "!!int '3'",
    "!!float '1e999'",
    "&a [*a]",
    "&b {k: *b}",
    "*undefined",
    "'unterminated",
    '"\\ud800"',
    '"\\0"',
    "!!python/object/apply:os.system ['true']",
    "!custom x",
    "{a: 1, a: 2}",
    "[1, 2",
    "{? [a]: 1}",
    "|\n  block\n  text",
    ">-\n  folded",
    "@x",
    "%YAML 1.1",
    "yes",
    "no",
    "on",
    "off",
    "Y",
    "1e400",
    "-0",
    "+1",
    "0.",
    "1e-400",
    "12345678901234567890123",
    "-99999999999999999999",
    "'  '",
    '"\\t"',
    "[" * 70 + "]" * 70,
    "{x: " * 70 + "1" + "}" * 70,
    "1" + "0" * 5000,
    "1_" + "0" * 4400,
    "2024-02-30",
    "2024-01-01T25:00:00",
    "!!timestamp abc",
    "!!bool maybe",
    "!!int -",
    "!!set [1]",
    "!!map [1]",
    "!!omap [{a: 1}]",
    "!!pairs [{a: 1}]",
    "{<<: {a: 1}, b: 2}",
]

# Placeholders for real artifacts; `with_artifacts` puts paths in their place.
ONNX_ARTIFACT = "@ONNX_ARTIFACT@"
PYTHON_ARTIFACT = "@PYTHON_ARTIFACT@"
_NETFLIX_ONNX = (
    Path(__file__).resolve().parents[2] / "examples/netflix/artifacts/user_embedding.onnx"
)


def with_artifacts(text: str, folder: Path) -> str:
    """`text` with the artifact placeholders replaced by real files (an ONNX model of the
    Netflix example, and a model.py written into `folder`)."""
    model_py = folder / "model.py"
    if not model_py.exists():
        model_py.write_text("# a python model\n")
    return text.replace(ONNX_ARTIFACT, json.dumps(str(_NETFLIX_ONNX))).replace(
        PYTHON_ARTIFACT, json.dumps(str(model_py))
    )


NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=70),
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64 + 1, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1e-300, 1e308, -0.0]),
)
PLAIN_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.text(max_size=12),
    st.sampled_from(ESCAPING_NAMES + TRICKY_VERSIONS),
)


def render(value: Any) -> str:
    """A Python value as one line of YAML (JSON is YAML; NaN/inf become YAML's spelling)."""
    if isinstance(value, float) and value != value:
        return ".nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {render(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)  # YAML has no JSON surrogate-pair escapes


def raw(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """YAML text for values drawn from `strategy`."""
    return strategy.map(render)


ANY_VALUE = st.one_of(
    raw(PLAIN_SCALARS),
    st.sampled_from(RAW_YAML),
    raw(st.lists(PLAIN_SCALARS, max_size=4)),
    raw(st.dictionaries(st.text(max_size=8), PLAIN_SCALARS, max_size=3)),
)


def mostly(
    good: st.SearchStrategy[str], *, bad: st.SearchStrategy[str] = ANY_VALUE
) -> st.SearchStrategy[str]:
    """A valid value (as YAML text) most of the time, anything else sometimes."""
    return st.one_of(good, good, good, bad)


def names() -> st.SearchStrategy[str]:
    return st.sampled_from(GOOD_NAMES + ESCAPING_NAMES).map(json.dumps)


@st.composite
def dependency(draw: st.DrawFn) -> str:
    domain = draw(st.sampled_from(DOMAINS + ["..", "/", "a/b", "X"]))
    name = draw(st.sampled_from(GOOD_NAMES + ["..", "", "x" * 70, "ａ"]))
    constraint = draw(
        st.one_of(
            st.sampled_from(CONSTRAINTS),
            st.sampled_from(CONSTRAINTS),
            st.sampled_from(TRICKY_CONSTRAINTS),
            st.text(max_size=8),
        )
    )
    return f"{domain}/{name}{constraint}"


def _tensor(name: str) -> st.SearchStrategy[str]:
    dims = st.one_of(
        st.just("[4]"),
        st.just("[-1, 8]"),
        raw(st.lists(NUMBERS, max_size=3)),
        st.sampled_from(RAW_YAML),
    )
    data_type = st.one_of(
        st.sampled_from(["FP32", "TYPE_INT64", "fp16", "STRING", "BOOL"]), ANY_VALUE
    )
    example = st.one_of(
        st.just(""),
        raw(st.lists(NUMBERS, max_size=4)).map(", example: {}".format),
        st.sampled_from(RAW_YAML).map(", example: [{}]".format),
    )
    return st.tuples(st.just(name), data_type, dims, example).map(
        lambda t: f"{{name: {t[0]}, data_type: {t[1]}, dims: {t[2]}{t[3]}}}"
    )


TRITON_BLOCKS = [
    "{max_batch_size: 4}",
    "{dynamic_batching: {max_queue_delay_microseconds: 100}}",
    "{name: '../x'}",
    "{name: x.y}",
    "{name: ''}",
    "{name: '..'}",
    "{name: 'a/b'}",
    "{default_model_filename: '../../x.onnx'}",
    "{default_model_filename: 'a/b'}",
    "{runtime: '/lib/x.so'}",
    "{instance_group: [{kind: KIND_GPU, gpus: [-1]}]}",
    "{max_batch_size: -1}",
    "{max_batch_size: 1e30}",
    "{max_batch_size: 'x'}",
    "{not_a_field: 1}",
    "{input: 3}",
    "{parameters: {k: {string_value: v}}}",
    "{version_policy: {latest: {num_versions: 99999999999999}}}",
    "{backend: python}",
    "{platform: ensemble}",
    "{ensemble_scheduling: {step: []}}",
]

TOP_KEYS = [
    "name",
    "version",
    "model_type",
    "framework",
    "domain",
    "owner_team",
    "description",
    "dependencies",
    "resource_requirements",
    "sla_requirements",
    "artifact",
    "artifact_sha256",
    "inputs",
    "outputs",
    "labels",
    "placement",
    "triton_version",
    "ensemble",
    "triton",
]


def _good_dependencies() -> st.SearchStrategy[str]:
    ids = st.tuples(
        st.sampled_from(DOMAINS), st.sampled_from(GOOD_NAMES), st.sampled_from(CONSTRAINTS)
    )
    return st.lists(ids, max_size=2, unique_by=lambda t: t[:2]).map(
        lambda deps: render([f"{d}/{n}{c}" for d, n, c in deps])
    )


# Per key: (valid values, anything else), both as YAML text.
_OPTIONAL: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]] = {
    "description": (raw(st.text(max_size=30)), st.just(json.dumps("x" * 4001))),
    "dependencies": (_good_dependencies(), raw(st.lists(dependency(), max_size=3))),
    "resource_requirements": (
        st.sampled_from(
            [
                "{gpu_memory_mb: 0}",
                "{max_batch_size: 8, instance_count: 2}",
                "{memory_mb: 1, cpu_cores: 0.5}",
            ]
        ),
        raw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "memory_mb",
                        "gpu_memory_mb",
                        "cpu_cores",
                        "max_batch_size",
                        "instance_count",
                        "gpu_mem",
                    ]
                ),
                PLAIN_SCALARS,
                max_size=3,
            )
        ),
    ),
    "sla_requirements": (
        st.sampled_from(["{max_latency_p99_ms: 5}", "{availability: 0.5, min_throughput_rps: 0}"]),
        raw(
            st.dictionaries(
                st.sampled_from(
                    ["max_latency_p99_ms", "min_throughput_rps", "availability", "latency"]
                ),
                PLAIN_SCALARS,
                max_size=3,
            )
        ),
    ),
    "artifact": (
        st.sampled_from(["~", ONNX_ARTIFACT, PYTHON_ARTIFACT]),
        st.sampled_from(["/nonexistent/model.onnx", "../x", "''", "/"]),
    ),
    "artifact_sha256": (st.just("~"), st.just(json.dumps("0" * 64))),
    "inputs": (
        st.just("[{name: x, data_type: FP32, dims: [4], example: [1, 2, 3, 4]}]"),
        st.lists(_tensor("x"), max_size=2).map(lambda ts: f"[{', '.join(ts)}]"),
    ),
    "outputs": (
        st.just("[{name: y, data_type: TYPE_INT64, dims: [-1]}]"),
        st.lists(_tensor("y"), max_size=1).map(lambda ts: f"[{', '.join(ts)}]"),
    ),
    "labels": (
        st.just("{tier: gold}"),
        raw(st.dictionaries(st.text(max_size=5), PLAIN_SCALARS, max_size=2)),
    ),
    "placement": (
        st.sampled_from(["{replicas: 2}", "{requires: {gpu: a100}}"]),
        st.sampled_from(["{replicas: 0}", "{replicas: 1e9}", "{requires: [a]}"]),
    ),
    "triton_version": (raw(st.integers(1, 5)), raw(NUMBERS)),
    "ensemble": (
        st.just("~"),
        st.sampled_from(
            [
                "{steps: [{model: d/a, input_map: {x: x}, output_map: {y: y}}]}",
                "{steps: []}",
                "{steps: [{model: '../a', input_map: {x: x}, output_map: {y: y}}]}",
            ]
        ),
    ),
    "triton": (st.sampled_from(TRITON_BLOCKS[:2]), st.sampled_from(TRITON_BLOCKS)),
}


@st.composite
def manifest_document(draw: st.DrawFn) -> str:
    """One YAML document for a model: a valid one, then zero to three mutations (a value
    replaced by a wrong one, a key dropped, an unknown key, a duplicate key, noise)."""
    fields: dict[str, str] = {
        "name": draw(st.sampled_from(GOOD_NAMES)),
        "version": json.dumps(draw(st.sampled_from(VERSIONS))),
        "model_type": draw(st.sampled_from(["embedding", "ensemble", "imported"])),
        "framework": draw(st.sampled_from(["python", "pytorch", "tensorflow"])),
        "domain": draw(st.sampled_from(DOMAINS)),
        "owner_team": draw(st.sampled_from(["team", "ml.platform", "t-1"])),
    }
    for key in draw(st.lists(st.sampled_from(sorted(_OPTIONAL)), max_size=3, unique=True)):
        fields[key] = draw(_OPTIONAL[key][0])
    bad: dict[str, st.SearchStrategy[str]] = {
        "name": names(),
        "domain": names(),
        "owner_team": names(),
        "version": st.one_of(
            st.sampled_from(TRICKY_VERSIONS).map(json.dumps),
            st.sampled_from(["1.0", "1.10", "2", "1.0.0"]),
        ),
        "model_type": st.sampled_from(["Embedding", "", "a b", "a" * 65]),
        "framework": st.sampled_from(["onnx", "ensemble", "jax", "ONNX"]),
        **{key: strategies[1] for key, strategies in _OPTIONAL.items()},
    }
    lines = [[key, value] for key, value in fields.items()]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        kind = draw(
            st.sampled_from(["value", "value", "any", "drop", "unknown", "duplicate", "noise"])
        )
        if kind in ("value", "any"):
            key = draw(st.sampled_from(sorted(bad)))
            value = draw(bad[key] if kind == "value" else ANY_VALUE)
            for line in lines:
                if line[0] == key:
                    line[1] = value
                    break
            else:
                lines.append([key, value])
        elif kind == "drop" and lines:
            lines.pop(draw(st.integers(0, len(lines) - 1)))
        elif kind == "unknown":
            lines.append(
                [draw(st.sampled_from(["nme", "versoin", "x", "", "resources"])), draw(ANY_VALUE)]
            )
        elif kind == "duplicate" and lines:
            lines.append(list(draw(st.sampled_from(lines))))
        elif kind == "noise":
            lines.insert(draw(st.integers(0, len(lines))), [draw(st.text(max_size=20)), ""])
    return "".join(f"{key}: {value}\n" if value else f"{key}\n" for key, value in lines)


@st.composite
def manifest_text(draw: st.DrawFn) -> str:
    """One to three documents, now and then with odd separators or a non-mapping."""
    documents = draw(st.lists(manifest_document(), min_size=1, max_size=3))
    tail = draw(
        st.sampled_from(
            [None] * 12 + ["- a\n- b\n", "42\n", "'text'\n", "", "~\n", "[1, 2\n", "{}\n"]
        )
    )
    if tail is not None:
        documents.append(tail)
    separator = draw(st.sampled_from(["---\n", "---\n", "--- \n", "...\n---\n"]))
    return separator.join(documents)


# Snapshots --------------------------------------------------------------------------


def catalog_state(store: CatalogStore) -> tuple[Any, ...]:
    """Everything apply may change: each version with its digest, Triton folder and
    source, and every alias."""
    versions = sorted(
        (v.spec.ref, v.content_digest, v.triton_version, v.source) for v in store.versions()
    )
    aliases = sorted((a.model_id, a.name, a.version, a.revision) for a in store.aliases())
    return tuple(versions), tuple(aliases)


def tree_snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every path under `root` (links not followed) with its kind and content or target."""
    found: dict[str, tuple[str, bytes | str]] = {}
    if not root.exists() and not root.is_symlink():
        return found
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                found[relative] = ("dir", b"")
            else:
                found[relative] = ("file", path.read_bytes())
    return found
