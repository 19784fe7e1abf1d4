"""Catalog benchmark: the CLI as users run it (whole processes) at 1k, 10k and 50k models.

    .venv/bin/python bench/catalog.py [--sizes 1000,10000] [--with-50k] [--runs 5]
                                      [--big-runs 3] [--postgres auto|skip]
                                      [--json-out FILE] [--library] [--shape layered|deep]

For each size N a deterministic synthetic catalog is generated (fixed seed): N models over
5 domains, each depending on 0-3 earlier models of lower layers (a layered graph, like a
real catalog), every dependency with a version constraint such as `>=1.0,<2`, written as
multi-document YAML manifests (100 models per file). The catalog is one that compiles:

* every non-ensemble model has its own real artifact of about 1 KiB: a python-backend
  `model.py` (70 %) or a tiny ONNX graph (30 %, whose inputs and outputs compile reads
  from the file), all with one tensor contract (`input_ids` INT64 [-1], `features` FP32
  [128] in; `embedding` FP32 [128], `scores` FP32/FP16 [k] out);
* every ensemble is a chain Triton accepts: each step reads the ensemble's `input_ids`
  and the previous step's `embedding`, the last step writes the ensemble's outputs, the
  ensemble's batch size is at most its steps'.

The bench checks, and prints, that `validate --json` reports 0 errors and that `compile`
wrote a config for every model (none skipped as "no artifact").

Then it times `.venv/bin/modelyard` subprocesses (wall time, CPU and peak RSS from
`wait4`), the median of several runs with the min-max range: `apply` into a fresh SQLite
catalog, re-`apply` unchanged, `validate`, `plan`, `validate` then `plan`, `compile --out`
(into a fresh folder, then unchanged), `report --html`, `list` on an empty catalog,
`show`, `--help`; and `apply` on PostgreSQL when `MODELYARD_TEST_DB` or
`scripts/postgres.sh` gives one. In the same run it times a floor: a Python process that
parses the same documents dumped as JSON and inserts the rows into a fresh SQLite with one
`executemany`; every figure is also printed as a ratio to that floor. Last, each target of
issue 19 with met / not met, and the growth exponent from 10k to 50k.

`--library` also runs the in-process measurements of the public Python API (one fresh
process per N, `Workspace.apply/validate/plan`), which the README quoted before.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELYARD = ROOT / ".venv" / "bin" / "modelyard"
SEED = 20240601
DOMAINS = ("recommendation", "search", "ads", "fraud", "content")
TEAMS_PER_DOMAIN = 6
MODELS_PER_FILE = 100
WINDOW = 150  # most dependencies come from the last WINDOW earlier models
FAR_DEPENDENCY = 0.1  # ... the rest from anywhere earlier
DEPENDENCY_COUNTS = (0, 1, 2, 3)  # --shape deep only
DEPENDENCY_WEIGHTS = (0.25, 0.35, 0.25, 0.15)
LAYER_WEIGHTS = (0.35, 0.25, 0.15, 0.10, 0.07, 0.05, 0.03)  # 0 = leaf models
AVAILABILITY_BY_LAYER = (0.9999, 0.9995, 0.999, 0.998, 0.995, 0.99, 0.99)
RPS_BY_LAYER = (
    (2000, 5000, 10000),
    (500, 1000, 2000),
    (200, 500),
    (100, 200),
    (50, 100),
    (25, 50),
    (10, 25),
)
MODEL_TYPES = ("embedding", "classification", "ranking", "generation", "detection", "regression")
ONNX_SHARE = 0.3  # the rest of the non-ensemble models are python-backend models
FEATURES = 128
SCORE_WIDTHS = (1, 16, 64, 128)
ARTIFACT_BYTES = 1024

# Issue 19's targets, judged on medians (seconds unless the name says otherwise).
TARGETS: tuple[tuple[str, str, int, float], ...] = (
    # (label, figure, N, limit)
    ("apply 10k <= 2.5 s", "apply", 10_000, 2.5),
    ("apply 50k <= 12 s", "apply", 50_000, 12.0),
    ("re-apply unchanged 10k <= 1 s", "reapply", 10_000, 1.0),
    ("validate + plan 10k <= 1 s", "validate_plan", 10_000, 1.0),
    ("validate + plan 50k <= 5 s", "validate_plan", 50_000, 5.0),
    ("list (empty catalog) <= 0.3 s", "list_empty", 0, 0.3),
    ("show <= 0.3 s", "show", 0, 0.3),
    ("--help <= 0.3 s", "help", 0, 0.3),
    ("compile 10k unchanged <= 2 s", "compile_unchanged", 10_000, 2.0),
    ("report --html 10k <= 3 s", "report_html", 10_000, 3.0),
)
RSS_TARGET_MB = 300.0  # validate and plan at 50k
POSTGRES_RATIO_TARGET = 1.3  # apply 10k, PostgreSQL / SQLite
GROWTH_FROM, GROWTH_TO = 10_000, 50_000


# Generation -----------------------------------------------------------------------


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text)


def _flow(mapping: dict[str, Any]) -> str:
    """A YAML flow mapping of plain scalars and lists: `{name: x, dims: [-1]}`."""
    parts = []
    for key, value in mapping.items():
        if isinstance(value, list):
            parts.append(f"{key}: [{', '.join(str(v) for v in value)}]")
        else:
            parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


def to_yaml(doc: dict[str, Any]) -> str:
    """One manifest document, in the style people write (block mappings, flow tensors)."""
    lines = []
    for key, value in doc.items():
        if isinstance(value, str):
            quoted = key in ("version", "description", "artifact") or not value.isidentifier()
            lines.append(f"{key}: {_q(value) if quoted else value}")
        elif isinstance(value, list):
            lines.append(f"{key}:")
            for item in value:
                lines.append(f"  - {_flow(item) if isinstance(item, dict) else _q(item)}")
        elif key == "ensemble":
            lines += [f"{key}:", "  steps:"]
            for step in value["steps"]:
                lines += [
                    f"    - model: {step['model']}",
                    f"      input_map: {_flow(step['input_map'])}",
                    f"      output_map: {_flow(step['output_map'])}",
                ]
        else:
            lines.append(f"{key}:")
            for inner, scalar in value.items():
                lines.append(f"  {inner}: {_q(scalar) if isinstance(scalar, str) else scalar}")
    return "\n".join(lines) + "\n"


_PYTHON_MODEL = '''\
"""Synthetic model {model_id} {version} of bench/catalog.py: embedding is the features,
scores their first {width} values as {dtype}."""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            features = pb_utils.get_input_tensor_by_name(request, "features").as_numpy()
            embedding = pb_utils.Tensor("embedding", features.astype(np.float32))
            scores = pb_utils.Tensor("scores", features[:, :{width}].astype(np.{numpy}))
            responses.append(pb_utils.InferenceResponse([embedding, scores]))
        return responses
'''


def python_artifact(model_id: str, version: str, width: int, dtype: str) -> bytes:
    """A python-backend model.py of ARTIFACT_BYTES, unique to the model (its own digest)."""
    numpy = "float32" if dtype == "FP32" else "float16"
    text = _PYTHON_MODEL.format(
        model_id=model_id, version=version, width=width, dtype=dtype, numpy=numpy
    )
    pad = ARTIFACT_BYTES - len(text.encode()) - 3
    return (text + "#" + " " * max(0, pad) + "\n").encode()


_onnx_templates: dict[tuple[int, str], Any] = {}


def onnx_artifact(model_id: str, version: str, width: int, dtype: str) -> bytes:
    """A tiny real ONNX graph: embedding = features, scores = features[:, :width] (cast)."""
    from onnx import TensorProto, helper

    template = _onnx_templates.get((width, dtype))
    if template is None:
        out_type = TensorProto.FLOAT if dtype == "FP32" else TensorProto.FLOAT16
        nodes = [
            helper.make_node("Identity", ["features"], ["embedding"]),
            helper.make_node("Slice", ["features", "starts", "ends", "axes"], ["sliced"]),
            helper.make_node("Cast", ["sliced"], ["scores"], to=out_type),
        ]
        graph = helper.make_graph(
            nodes,
            "synthetic",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", None]),
                helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES]),
            ],
            [
                helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", FEATURES]),
                helper.make_tensor_value_info("scores", out_type, ["batch", width]),
            ],
            initializer=[
                helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
                helper.make_tensor("ends", TensorProto.INT64, [1], [width]),
                helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
            ],
        )
        template = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
        )
        _onnx_templates[(width, dtype)] = template
    model = type(template)()
    model.CopyFrom(template)
    # Its own bytes, so each model registers its own digest; padded to about 1 KiB.
    head = f"synthetic model {model_id} {version} of bench/catalog.py"
    size = len(model.SerializeToString()) + len(head) + 4
    model.doc_string = head + " " * max(0, ARTIFACT_BYTES - size)
    data: bytes = model.SerializeToString()
    return data


def _tensors(width: int, dtype: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    inputs = [
        {"name": "input_ids", "data_type": "INT64", "dims": [-1]},
        {"name": "features", "data_type": "FP32", "dims": [FEATURES]},
    ]
    outputs = [
        {"name": "embedding", "data_type": "FP32", "dims": [FEATURES]},
        {"name": "scores", "data_type": dtype, "dims": [width]},
    ]
    return inputs, outputs


def generate(n: int, out: Path, seed: int = SEED, shape: str = "layered") -> dict[str, Any]:
    """Write N models under `out`: `manifests/*.yaml`, their artifacts under `artifacts/`,
    and the same documents as JSON under `json/` (for the floor); return what was written.

    `layered` (default): each model gets a layer (0 = leaf ... 6 = top application) and
    depends only on recent earlier models of lower layers, so the depth stays bounded as
    N grows, like a real catalog. `deep`: dependencies on any recent earlier model, so
    chains grow with N (a stress case: closures and waves grow linearly with N).
    """
    rng = random.Random(seed)
    manifests, artifacts, json_dir = out / "manifests", out / "artifacts", out / "json"
    for folder in (manifests, artifacts, json_dir):
        folder.mkdir(parents=True, exist_ok=True)
    majors: list[int] = []
    ids: list[str] = []
    batch_sizes: list[int] = []
    scores_of: list[tuple[int, str]] = []  # (width, data type) of each model's `scores`
    chain_ms: list[float] = []  # heaviest sum of p99 budgets from each model down
    # below[k]: indexes of earlier models whose layer is below k, in order of creation.
    below: list[list[int]] = [[] for _ in range(len(LAYER_WEIGHTS) + 1)]
    counts: Counter[str] = Counter()
    edges = 0
    docs: list[dict[str, Any]] = []
    files = 0
    size = 0
    artifact_bytes = 0

    def flush() -> None:
        nonlocal files, size, docs
        if not docs:
            return
        text = "---\n".join(to_yaml(doc) for doc in docs)
        (manifests / f"models-{files:05d}.yaml").write_text(text, encoding="utf-8")
        (json_dir / f"models-{files:05d}.json").write_text(json.dumps(docs), encoding="utf-8")
        size += len(text)
        files += 1
        docs = []

    for i in range(n):
        domain = DOMAINS[i % len(DOMAINS)]
        layer = rng.choices(range(len(LAYER_WEIGHTS)), LAYER_WEIGHTS)[0]
        if shape == "deep":
            pool = below[-1]
            count = rng.choices(DEPENDENCY_COUNTS, DEPENDENCY_WEIGHTS)[0]
        else:
            pool = below[layer]
            count = rng.choices((1, 2, 3), (0.45, 0.35, 0.2))[0] if layer else 0
        count = min(count, len(pool))
        model_type = MODEL_TYPES[rng.randrange(len(MODEL_TYPES))]
        framework = "onnx" if rng.random() < ONNX_SHARE else "python"
        if count >= 2 and rng.random() < 0.08:
            model_type, framework = "ensemble", "ensemble"
        counts[framework] += 1
        name = f"{model_type}_{i:06d}"
        model_id = f"{domain}/{name}"
        major = rng.choice((1, 1, 1, 2, 2, 3))
        minor = rng.randrange(13)
        version = (
            f"{major}.{minor}" if rng.random() < 0.6 else f"{major}.{minor}.{rng.randrange(6)}"
        )
        chosen: set[int] = set()
        while len(chosen) < count:
            if rng.random() < FAR_DEPENDENCY:
                chosen.add(pool[rng.randrange(len(pool))])
            else:
                chosen.add(pool[rng.randrange(max(0, len(pool) - WINDOW), len(pool))])
        dependencies = []
        for j in sorted(chosen):
            m = majors[j]
            style = rng.random()
            if style < 0.7:
                constraint = f">={m}.0,<{m + 1}"
            elif style < 0.85:
                constraint = f"~={m}.0"
            else:
                constraint = f">={m}.0"
            dependencies.append(f"{ids[j]}{constraint}")
        edges += len(dependencies)
        # SLAs that mostly fit the dependency chain (a few do not, as in real catalogs).
        own_ms = rng.choice((5, 10, 15, 20, 30, 50))
        # `validate` adds up the p99 budgets along the heaviest chain of dependencies.
        needed_ms = max((chain_ms[j] for j in chosen), default=0.0)
        budget_ms = own_ms + needed_ms + rng.choice((0, 10, 20, 50))
        if rng.random() < 0.05:
            budget_ms = max(5, needed_ms * 0.8)
        if shape == "deep":  # chains are too long for any budget to fit them
            budget_ms = own_ms * rng.choice((2, 4, 10))
        budget_ms = float(min(round(budget_ms), 3_600_000))
        chain_ms.append(budget_ms + needed_ms)

        steps = sorted(chosen)
        batch = rng.choice((1, 8, 16, 32, 64, 128))
        if framework == "ensemble":
            # Triton refuses an ensemble whose batch is above one of its steps'.
            batch = min(batch_sizes[j] for j in steps)
            width, dtype = scores_of[steps[-1]]
        else:
            width, dtype = rng.choice(SCORE_WIDTHS), rng.choice(("FP32", "FP16"))
        majors.append(major)
        ids.append(model_id)
        batch_sizes.append(batch)
        scores_of.append((width, dtype))
        for k in range(layer + 1, len(below)):
            below[k].append(i)

        gpu = rng.choice((0, 1024, 2048, 4096, 6144, 8192, 12288, 16384))
        if framework in ("python", "ensemble"):
            gpu = 0
        snapshot = rng.choice(("daily", "weekly", "hourly"))
        description = (
            f"{model_type.capitalize()} model {i} for {domain}, trained on the {snapshot} snapshot"
        )
        availability = AVAILABILITY_BY_LAYER[min(layer, len(AVAILABILITY_BY_LAYER) - 1)]
        rps = rng.choice(RPS_BY_LAYER[min(layer, len(RPS_BY_LAYER) - 1)])
        doc: dict[str, Any] = {
            "name": name,
            "version": version,
            "model_type": model_type,
            "framework": framework,
            "domain": domain,
            "owner_team": f"{domain}_team_{rng.randrange(TEAMS_PER_DOMAIN)}",
            "description": description,
        }
        if framework != "ensemble":
            folder = artifacts / f"models-{files:05d}"
            folder.mkdir(exist_ok=True)
            make = onnx_artifact if framework == "onnx" else python_artifact
            suffix = "onnx" if framework == "onnx" else "py"
            data = make(model_id, version, width, dtype)
            (folder / f"{name}.{suffix}").write_bytes(data)
            artifact_bytes += len(data)
            doc["artifact"] = f"../artifacts/models-{files:05d}/{name}.{suffix}"
        if dependencies:
            doc["dependencies"] = dependencies
        inputs, outputs = _tensors(width, dtype)
        doc.update(
            {
                "resource_requirements": {
                    "memory_mb": rng.choice((1024, 2048, 4096, 8192, 16384)),
                    "gpu_memory_mb": gpu,
                    "cpu_cores": rng.choice((1, 2, 4, 8)),
                    "max_batch_size": batch,
                    "instance_count": rng.choice((1, 1, 1, 2, 4)),
                },
                "sla_requirements": {
                    "max_latency_p99_ms": budget_ms,
                    "min_throughput_rps": rps,
                    "availability": availability,
                },
                "inputs": inputs,
                "outputs": outputs,
                "labels": {
                    "tier": rng.choice(("tier1", "tier2", "tier3")),
                    "cost_center": f"cc_{rng.randrange(40):02d}",
                    "layer": str(layer),
                },
            }
        )
        if framework == "ensemble":
            # A chain: each step reads the ensemble's input_ids and the embedding before it;
            # the last step writes the ensemble's outputs (every tensor written is read).
            chain = []
            for k, j in enumerate(steps):
                last = k == len(steps) - 1
                chain.append(
                    {
                        "model": ids[j],
                        "input_map": {
                            "input_ids": "input_ids",
                            "features": "features" if k == 0 else f"step{k - 1}_embedding",
                        },
                        "output_map": (
                            {"embedding": "embedding", "scores": "scores"}
                            if last
                            else {"embedding": f"step{k}_embedding"}
                        ),
                    }
                )
            doc["ensemble"] = {"steps": chain}
        docs.append(doc)
        if len(docs) == MODELS_PER_FILE:
            flush()
    flush()
    return {
        "files": files,
        "bytes": size,
        "edges": edges,
        "frameworks": dict(sorted(counts.items())),
        "artifacts": n - counts["ensemble"],
        "artifact_bytes": artifact_bytes,
        "first_model": ids[0] if ids else None,
    }


# Whole processes ---------------------------------------------------------------------


def cli_env() -> dict[str, str]:
    """The environment of every timed process: this checkout's sources, a fixed width."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    env["COLUMNS"] = "120"
    env.pop("MODELYARD_DB", None)
    # An installed modelyard has its bytecode: a sandbox that forbids writing it would
    # add compiling every module to each figure (--help: 0.5 s more here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(ROOT / "src", quiet=1)
    return env


def run_process(argv: list[str], log: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one process to its end: wall seconds, CPU seconds, peak RSS (MB), exit status.

    Output goes to `log` (what a user's terminal would receive, minus the drawing)."""
    with log.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall_s,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "rc": process.returncode,
    }


class Failed(Exception):
    """A timed command did not succeed: the bench stops and shows its output."""


def modelyard(*args: str) -> list[str]:
    return [str(MODELYARD), *args]


def checked(
    argv: list[str], log: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> dict[str, Any]:
    result = run_process(argv, log, env)
    if result["rc"] not in ok:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise Failed(f"{' '.join(argv)} exited {result['rc']}:\n{tail}")
    return result


def summary(samples: list[dict[str, Any]], floor_s: float | None) -> dict[str, Any]:
    walls = [s["wall_s"] for s in samples]
    median = statistics.median(walls)
    return {
        "runs": len(samples),
        "wall_s": round(median, 4),
        "min_s": round(min(walls), 4),
        "max_s": round(max(walls), 4),
        "cpu_s": round(statistics.median(s["cpu_s"] for s in samples), 4),
        "peak_rss_mb": round(max(s["rss_mb"] for s in samples), 1),
        "floor_ratio": round(median / floor_s, 2) if floor_s else None,
        "samples_s": [round(w, 4) for w in walls],
    }


FLOOR_SCRIPT = """
import json, sqlite3, sys, time
from pathlib import Path
start = time.perf_counter()
rows = []
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    for doc in json.loads(path.read_text(encoding="utf-8")):
        rows.append((doc["domain"] + "/" + doc["name"], doc["version"], json.dumps(doc)))
parsed = time.perf_counter()
db = sqlite3.connect(sys.argv[2])
db.execute("CREATE TABLE model_versions (model_id TEXT, version TEXT, spec TEXT, "
           "PRIMARY KEY (model_id, version))")
db.executemany("INSERT INTO model_versions VALUES (?, ?, ?)", rows)
db.commit()
db.close()
done = time.perf_counter()
print(json.dumps({"rows": len(rows), "parse_s": parsed - start, "insert_s": done - parsed}))
"""


def measure_floor(json_dir: Path, scratch: Path, runs: int) -> dict[str, Any]:
    """The floor: the same documents as JSON, parsed and inserted with one executemany, as
    a whole Python process (interpreter start-up included, as in every CLI figure)."""
    samples = []
    inner = []
    for k in range(runs):
        db = scratch / f"floor-{k}.db"
        log = scratch / f"floor-{k}.log"
        samples.append(
            checked([sys.executable, "-c", FLOOR_SCRIPT, str(json_dir), str(db)], log, {})
        )
        inner.append(json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1]))
        db.unlink()
    result = summary(samples, None)
    result["parse_s"] = round(statistics.median(i["parse_s"] for i in inner), 4)
    result["insert_s"] = round(statistics.median(i["insert_s"] for i in inner), 4)
    result["rows"] = inner[0]["rows"]
    return result


def fresh_workspace(scratch: Path, env: dict[str, str], db: str | None = None) -> Path:
    ws = scratch / f"ws-{uuid.uuid4().hex[:8]}"
    checked(modelyard("init", str(ws), *(["--db", db] if db else [])), scratch / "init.log", env)
    return ws


def check_catalog(
    ws: Path, scratch: Path, env: dict[str, str], n: int, repository: Path
) -> dict[str, Any]:
    """What the catalog is: validate's errors and warnings, and every model compiled."""
    log = scratch / "validate-json.log"
    run_process(modelyard("validate", "--json", "--workspace", str(ws)), log, env)
    text = log.read_text(encoding="utf-8")
    report = json.loads(text[text.index("{") :])
    problems = report.get("problems", [])
    severities = Counter(str(p.get("severity")) for p in problems)
    error_codes = Counter(p.get("code") for p in problems if p.get("severity") == "error")
    compiled = sorted(p.parent.name for p in repository.glob("*/config.pbtxt"))
    with_files = sum(
        1
        for name in compiled
        if any((repository / name).glob("[0-9]*/model.*"))
        or any((repository / name).glob("[0-9]*/.ensemble"))
    )
    return {
        "validate_errors": severities.get("error", 0),
        "validate_warnings": severities.get("warning", 0),
        "validate_infos": severities.get("info", 0),
        "error_codes": dict(error_codes.most_common(10)),
        "first_errors": [p.get("message") for p in problems if p.get("severity") == "error"][:3],
        "models_compiled": len(compiled),
        "models_with_files": with_files,
        "models_expected": n,
    }


def run_cli_size(
    n: int,
    runs: int,
    big_runs: int,
    shape: str,
    postgres: str | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    env = cli_env()
    with tempfile.TemporaryDirectory(prefix=f"modelyard-bench-{n}-") as tmp:
        scratch = Path(tmp)
        start = time.perf_counter()
        written = generate(n, scratch / "catalog", shape=shape)
        progress(
            f"N={n}: generated {written['files']} manifests, {written['artifacts']} artifacts "
            f"({written['frameworks']}) in {time.perf_counter() - start:.1f} s"
        )
        manifests = str(scratch / "catalog" / "manifests")
        figures: dict[str, Any] = {}
        floor = measure_floor(scratch / "catalog" / "json", scratch, big_runs)
        figures["floor"] = floor
        floor_s = floor["wall_s"]

        def timed(label: str, count: int, step: Callable[[int], dict[str, Any]]) -> None:
            samples = [step(k) for k in range(count)]
            figures[label] = summary(samples, floor_s)
            f = figures[label]
            progress(
                f"N={n}: {label}: {f['wall_s']:.3f} s [{f['min_s']:.3f}-{f['max_s']:.3f}] "
                f"{f['peak_rss_mb']:.0f} MB"
            )

        workspaces: list[Path] = []

        def apply_fresh(_: int) -> dict[str, Any]:
            ws = fresh_workspace(scratch, env)
            if workspaces:  # keep one catalog for the commands that read it
                shutil.rmtree(workspaces.pop())
            workspaces.append(ws)
            return checked(
                modelyard("apply", manifests, "--workspace", str(ws)), scratch / "apply.log", env
            )

        timed("apply", big_runs, apply_fresh)
        ws = str(workspaces[0])
        timed(
            "reapply",
            big_runs,
            lambda _: checked(
                modelyard("apply", manifests, "--workspace", ws), scratch / "reapply.log", env
            ),
        )
        # validate exits 1 on errors; check_catalog below says whether there were any.
        timed(
            "validate",
            big_runs,
            lambda _: checked(
                modelyard("validate", "--workspace", ws), scratch / "validate.log", env, (0, 1)
            ),
        )
        timed(
            "plan",
            big_runs,
            lambda _: checked(modelyard("plan", "--workspace", ws), scratch / "plan.log", env),
        )

        def validate_then_plan(_: int) -> dict[str, Any]:
            first = checked(
                modelyard("validate", "--workspace", ws), scratch / "validate.log", env, (0, 1)
            )
            second = checked(modelyard("plan", "--workspace", ws), scratch / "plan.log", env)
            return {
                "wall_s": first["wall_s"] + second["wall_s"],
                "cpu_s": first["cpu_s"] + second["cpu_s"],
                "rss_mb": max(first["rss_mb"], second["rss_mb"]),
                "rc": 0,
            }

        timed("validate_plan", big_runs, validate_then_plan)
        repositories: list[Path] = []

        def compile_fresh(k: int) -> dict[str, Any]:
            out = scratch / f"repository-{k}"
            if repositories:
                shutil.rmtree(repositories.pop(), ignore_errors=True)
            repositories.append(out)
            return checked(
                modelyard("compile", "--out", str(out), "--workspace", ws),
                scratch / "compile.log",
                env,
            )

        timed("compile", big_runs, compile_fresh)
        repository = repositories[0]
        timed(
            "compile_unchanged",
            big_runs,
            lambda _: checked(
                modelyard("compile", "--out", str(repository), "--workspace", ws),
                scratch / "compile.log",
                env,
            ),
        )
        timed(
            "report_html",
            big_runs,
            lambda k: checked(
                modelyard("report", "--html", str(scratch / f"report-{k}"), "--workspace", ws),
                scratch / "report.log",
                env,
            ),
        )
        figures["report_html"]["page_mb"] = round(
            (scratch / "report-0" / "index.html").stat().st_size / 2**20, 2
        )
        empty = str(fresh_workspace(scratch, env))
        timed(
            "list_empty",
            runs,
            lambda _: checked(modelyard("list", "--workspace", empty), scratch / "list.log", env),
        )
        first = written["first_model"]
        timed(
            "show",
            runs,
            lambda _: checked(
                modelyard("show", first, "--workspace", ws), scratch / "show.log", env
            ),
        )
        timed("help", runs, lambda _: checked(modelyard("--help"), scratch / "help.log", env))
        check = check_catalog(Path(ws), scratch, env, n, repository)
        progress(
            f"N={n}: validate: {check['validate_errors']} errors, "
            f"{check['validate_warnings']} warnings; compile wrote "
            f"{check['models_compiled']} of {n} models"
        )
        if postgres is not None:
            database = postgres_database(postgres)
            try:

                def apply_postgres(_: int) -> dict[str, Any]:
                    url = database()
                    pg_ws = fresh_workspace(scratch, env, url)
                    return checked(
                        modelyard("apply", manifests, "--workspace", str(pg_ws), "--db", url),
                        scratch / "apply-pg.log",
                        env,
                    )

                timed("apply_postgres", big_runs, apply_postgres)
            finally:
                database.close()
            figures["apply_postgres"]["sqlite_ratio"] = round(
                figures["apply_postgres"]["wall_s"] / figures["apply"]["wall_s"], 2
            )
    return {
        "n": n,
        "shape": shape,
        "manifest_files": written["files"],
        "manifest_mb": round(written["bytes"] / 2**20, 2),
        "artifacts": written["artifacts"],
        "artifact_mb": round(written["artifact_bytes"] / 2**20, 2),
        "frameworks": written["frameworks"],
        "dependency_edges": written["edges"],
        "check": check,
        "figures": figures,
    }


# PostgreSQL ------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server(progress: Callable[[str], None]) -> Iterator[str | None]:
    """A PostgreSQL server URL: MODELYARD_TEST_DB, or one scripts/postgres.sh starts for this
    run alone (its own folder and port, stopped at the end); None when neither works."""
    if os.environ.get("MODELYARD_TEST_DB"):
        yield os.environ["MODELYARD_TEST_DB"]
        return
    own = {
        **os.environ,
        "MODELYARD_PG_DIR": tempfile.mkdtemp(prefix="modelyard-bench-pg-"),
        "MODELYARD_PG_PORT": str(55000 + os.getpid() % 1000),
    }
    script = str(ROOT / "scripts" / "postgres.sh")
    started = subprocess.run(
        [script, "start"], capture_output=True, text=True, check=False, env=own
    )
    if started.returncode != 0:
        progress(f"PostgreSQL skipped: {started.stderr.strip().splitlines()[-1:]}")
        yield None
        return
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([script, "stop"], capture_output=True, check=False, env=own)


class _Databases:
    """Fresh, empty databases on one server (dropped on close)."""

    def __init__(self, server: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.server = server
        self.url = make_url(server)
        self.engine = create_engine(server, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def _execute(self, statement: str) -> None:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text(statement))

    def __call__(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return str(self.url.set(database=name).render_as_string(hide_password=False))

    def close(self) -> None:
        for name in self.names:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.engine.dispose()


def postgres_database(server: str) -> _Databases:
    return _Databases(server)


# Targets ---------------------------------------------------------------------------------


def judge(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with its measured median and met / not met (or not measured)."""
    by_n = {r["n"]: r["figures"] for r in results}
    verdicts = []
    for label, figure, n, limit in TARGETS:
        # Start-up targets are judged at the largest size measured (show reads one model).
        at = n or (max(by_n) if by_n else 0)
        value = by_n.get(at, {}).get(figure, {}).get("wall_s")
        verdicts.append(_verdict(label, value, limit, at))
    for figure in ("validate", "plan"):
        value = by_n.get(GROWTH_TO, {}).get(figure, {}).get("peak_rss_mb")
        verdicts.append(
            _verdict(f"{figure} 50k peak RSS <= 300 MB", value, RSS_TARGET_MB, GROWTH_TO, "MB")
        )
    pg = by_n.get(10_000, {}).get("apply_postgres", {}).get("sqlite_ratio")
    verdicts.append(
        _verdict("PostgreSQL apply 10k <= 1.3x SQLite", pg, POSTGRES_RATIO_TARGET, 10_000, "x")
    )
    return verdicts


def _verdict(
    label: str, value: float | None, limit: float, n: int, unit: str = "s"
) -> dict[str, Any]:
    status = "not measured" if value is None else "met" if value <= limit else "not met"
    return {"target": label, "n": n, "value": value, "limit": limit, "unit": unit, "status": status}


def growth(results: list[dict[str, Any]]) -> dict[str, float]:
    """log(t50k / t10k) / log(5) per command: 1.0 is linear."""
    by_n = {r["n"]: r["figures"] for r in results}
    if GROWTH_FROM not in by_n or GROWTH_TO not in by_n:
        return {}
    exponents = {}
    for figure, low in by_n[GROWTH_FROM].items():
        high = by_n[GROWTH_TO].get(figure)
        if high and low["wall_s"] > 0 and high["wall_s"] > 0:
            exponents[figure] = round(
                math.log(high["wall_s"] / low["wall_s"]) / math.log(GROWTH_TO / GROWTH_FROM), 2
            )
    return exponents


LABELS = {
    "floor": "floor: JSON parse + one executemany",
    "apply": "apply (SQLite, fresh catalog)",
    "reapply": "re-apply unchanged",
    "validate": "validate",
    "plan": "plan",
    "validate_plan": "validate + plan",
    "compile": "compile --out (fresh folder)",
    "compile_unchanged": "compile --out (unchanged)",
    "report_html": "report --html",
    "list_empty": "list (empty catalog)",
    "show": "show ID",
    "help": "--help",
    "apply_postgres": "apply (PostgreSQL, fresh catalog)",
}


def table(results: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table (the README's), one column per size."""
    sizes = [r["n"] for r in results]
    header = "| command (whole process) | " + " | ".join(f"{n:,} models" for n in sizes) + " |"
    lines = [header, "|---|" + "---|" * len(sizes)]
    for key, label in LABELS.items():
        cells = []
        for r in results:
            f = r["figures"].get(key)
            if f is None:
                cells.append("—")
                continue
            extra = f", ×{f['floor_ratio']:g} floor" if f.get("floor_ratio") else ""
            if key == "apply_postgres":
                extra += f", ×{f['sqlite_ratio']:g} SQLite"
            if key == "report_html":
                extra += f", {f['page_mb']:g} MB page"
            cells.append(
                f"{f['wall_s']:.2f} s [{f['min_s']:.2f}–{f['max_s']:.2f}], "
                f"{f['peak_rss_mb']:.0f} MB{extra}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# The library in process (--library): one fresh process per N --------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(n: int, manifests: Path, workspace: Path, profile_dir: Path | None) -> dict[str, Any]:
    import cProfile

    from modelyard import Workspace

    timings: dict[str, float] = {}
    rss: dict[str, float] = {"start": round(_rss_mb(), 1)}

    def timed(phase: str, action: Any) -> Any:
        profiler = cProfile.Profile() if profile_dir is not None else None
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = action()
        if profiler is not None:
            profiler.disable()
        timings[phase] = time.perf_counter() - start
        rss[phase] = round(_rss_mb(), 1)
        if profiler is not None and profile_dir is not None:
            profiler.dump_stats(profile_dir / f"{n}-{phase}.prof")
        return result

    ws = timed("init", lambda: Workspace.init(workspace))
    applied = timed("apply", lambda: ws.apply([manifests]))
    assert len(applied.created) == n, (len(applied.created), n)
    reapplied = timed("reapply", lambda: ws.apply([manifests]))
    assert not reapplied.created and len(reapplied.unchanged) == n, "re-apply must be a no-op"
    report = timed("validate", ws.validate)
    plan = timed("plan", ws.plan)

    def resolve_all() -> int:
        view = ws.select()
        return sum(len(view.graph.transitive_dependencies(root)) for root in view.roots)

    closure_sizes = timed("resolve_all", resolve_all)
    registered = len(ws.list_models(all_versions=True))
    assert registered == n, (registered, n)
    ws.close()

    severities = Counter(str(p.severity) for p in report.problems)
    codes = Counter(p.code for p in report.problems)
    return {
        "n": n,
        "init_s": round(timings["init"], 4),
        "apply_s": round(timings["apply"], 4),
        "reapply_s": round(timings["reapply"], 4),
        "validate_s": round(timings["validate"], 4),
        "plan_s": round(timings["plan"], 4),
        "validate_plus_plan_s": round(timings["validate"] + timings["plan"], 4),
        "resolve_all_s": round(timings["resolve_all"], 4),
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_mb_after": rss,
        "models_registered": registered,
        "problems": {
            "by_severity": dict(sorted(severities.items())),
            "by_code": dict(sorted(codes.items())),
        },
        "waves": len(plan.waves),
        "critical_path_length": len(plan.critical_path),
        "closure_total": closure_sizes,
        "valid": report.ok,
    }


def run_library_size(n: int, profile_dir: Path | None, shape: str = "layered") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"modelyard-bench-lib-{n}-") as tmp:
        start = time.perf_counter()
        written = generate(n, Path(tmp) / "catalog", shape=shape)
        generate_s = time.perf_counter() - start
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            str(n),
            "--manifests",
            str(Path(tmp) / "catalog" / "manifests"),
            "--workspace",
            str(Path(tmp) / "ws"),
        ]
        if profile_dir is not None:
            command += ["--profile-dir", str(profile_dir)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=cli_env())
        wall_s = time.perf_counter() - start
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"library benchmark for N={n} failed (exit {done.returncode})")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(
        {
            "shape": shape,
            "generate_s": round(generate_s, 3),
            "subprocess_wall_s": round(wall_s, 3),
            "manifest_files": written["files"],
            "manifest_mb": round(written["bytes"] / 2**20, 2),
            "dependency_edges": written["edges"],
        }
    )
    return result


# Driver -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated model counts")
    parser.add_argument("--with-50k", action="store_true", help="add 50,000 models (slow)")
    parser.add_argument("--runs", type=int, default=5, help="runs of list, show, --help")
    parser.add_argument("--big-runs", type=int, default=3, help="runs of the other commands")
    parser.add_argument(
        "--postgres",
        choices=("auto", "skip"),
        default="auto",
        help="auto: apply on PostgreSQL too at 10,000 models, when a server is available",
    )
    parser.add_argument("--json-out", type=Path, help="write every figure to this file")
    parser.add_argument(
        "--library", action="store_true", help="also time the Python API in process"
    )
    parser.add_argument("--profile-dir", type=Path, help="with --library: cProfile per phase")
    parser.add_argument(
        "--shape",
        choices=("layered", "deep"),
        default="layered",
        help="layered: bounded depth (default); deep: chains grow with N",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--manifests", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.profile_dir is not None:
        args.profile_dir = args.profile_dir.resolve()
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    if args.child is not None:
        print(json.dumps(child(args.child, args.manifests, args.workspace, args.profile_dir)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.with_50k and 50_000 not in sizes:
        sizes.append(50_000)
    if any(n < 10 for n in sizes) or args.runs < 1 or args.big_runs < 1:
        parser.error("sizes must be at least 10 models, and --runs/--big-runs at least 1")

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = []
    with contextlib.ExitStack() as stack:
        server = (
            stack.enter_context(postgres_server(progress))
            if args.postgres == "auto" and 10_000 in sizes
            else None
        )
        try:
            for n in sizes:
                results.append(
                    run_cli_size(
                        n,
                        args.runs,
                        args.big_runs,
                        args.shape,
                        server if n == 10_000 else None,
                        progress,
                    )
                )
        except Failed as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    library = (
        [run_library_size(n, args.profile_dir, args.shape) for n in sizes] if args.library else []
    )
    verdicts = judge(results)
    exponents = growth(results)

    print(
        f"\nWhole CLI processes (.venv/bin/modelyard), median of {args.big_runs} runs "
        f"({args.runs} for list, show and --help) [min–max], peak RSS of the runs:\n"
    )
    print(table(results))
    print()
    dishonest = 0
    for r in results:
        c = r["check"]
        honest = (
            c["validate_errors"] == 0
            and c["models_compiled"] == r["n"]
            and c["models_with_files"] == r["n"]
        )
        print(
            f"N={r['n']:,}: {r['artifacts']:,} artifacts ({r['artifact_mb']} MB, "
            f"{r['frameworks']}); validate: {c['validate_errors']} errors, "
            f"{c['validate_warnings']} warnings; compile wrote {c['models_compiled']:,} of "
            f"{r['n']:,} models ({r['n'] - c['models_compiled']:,} skipped or missing): "
            + ("the catalog compiles" if honest else "NOT A CATALOG THAT COMPILES")
        )
        dishonest += not honest
        if c["first_errors"]:
            print(f"  first errors: {c['first_errors']}")
        f = r["figures"]["floor"]
        print(
            f"  floor at N={r['n']:,}: {f['wall_s']:.3f} s as a process (JSON parse "
            f"{f['parse_s']:.3f} s, executemany + commit {f['insert_s']:.3f} s)"
        )
    print("\nTargets (issue 19), judged on medians:")
    for v in verdicts:
        value = "—" if v["value"] is None else f"{v['value']:.2f} {v['unit']}"
        print(f"  {v['target']:<40} N={v['n']:<6,} {value:>12}  {v['status']}")
    if exponents:
        print(
            "Growth exponent 10k -> 50k (1.0 = linear): "
            + ", ".join(f"{k} {e:g}" for k, e in exponents.items())
        )
    else:
        print("Growth exponent 10k -> 50k: not measured (needs sizes 10000 and 50000)")
    for r in library:
        print("library in process: " + json.dumps(r))
    if args.json_out is not None:
        args.json_out.write_text(
            json.dumps(
                {
                    "cli": results,
                    "targets": verdicts,
                    "growth_exponents": exponents,
                    "library": library,
                    "runs": args.runs,
                    "big_runs": args.big_runs,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    # Figures of a catalog that does not compile measure less than users' catalogs need.
    return 1 if dishonest else 0


if __name__ == "__main__":
    sys.exit(main())
