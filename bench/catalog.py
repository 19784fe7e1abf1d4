"""Catalog benchmark: apply, re-apply, validate, plan and resolve at several catalog sizes.

    .venv/bin/python bench/catalog.py [--sizes 1000,10000,50000] [--json-out FILE]
                                      [--profile-dir DIR] [--shape layered|deep]

For each size N a deterministic synthetic catalog is generated (fixed seed): N models
over 5 domains, each depending on 0-3 earlier models, mostly from a window of recent
ones (so the graph is layered like a real catalog), every dependency with a version
constraint such as `>=1.0,<2`. It is written as multi-document YAML manifests (100
models per file), and the timed part runs in a fresh subprocess per N so the peak RSS
(`ru_maxrss`) belongs to that N alone. Everything goes through the public API.

Targets: apply 10,000 models in <= 10 s; validate + plan 10,000 in <= 2 s.
`--profile-dir` writes one cProfile file per phase (`N-phase.prof`) for `pstats`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

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
TYPES = (
    ("embedding", ("pytorch", "tensorflow", "onnx")),
    ("classification", ("pytorch", "tensorflow", "onnx", "tensorrt")),
    ("ranking", ("pytorch", "tensorrt", "onnx")),
    ("generation", ("pytorch", "tensorrt")),
    ("detection", ("tensorrt", "onnx")),
    ("regression", ("python", "tensorflow", "onnx")),
)
TARGETS = {"apply_s": 10.0, "validate_plus_plan_s": 2.0}
TARGET_N = 10_000


# Generation -----------------------------------------------------------------------


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text)


def generate(n: int, out: Path, seed: int = SEED, shape: str = "layered") -> dict[str, Any]:
    """Write N models as multi-document YAML files under `out`; return what was written.

    `layered` (default): each model gets a layer (0 = leaf ... 6 = top application) and
    depends only on recent earlier models of lower layers, so the depth stays bounded as
    N grows, like a real catalog. `deep`: dependencies on any recent earlier model, so
    chains grow with N (a stress case: closures and waves grow linearly with N).
    """
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    majors: list[int] = []
    ids: list[str] = []
    chain_ms: list[float] = []  # heaviest sum of p99 budgets from each model down
    # below[k]: indexes of earlier models whose layer is below k, in order of creation.
    below: list[list[int]] = [[] for _ in range(len(LAYER_WEIGHTS) + 1)]
    edges = 0
    buffer: list[str] = []
    files = 0
    size = 0

    def flush() -> None:
        nonlocal files, size, buffer
        if not buffer:
            return
        text = "---\n".join(buffer)
        path = out / f"models-{files:05d}.yaml"
        path.write_text(text, encoding="utf-8")
        size += len(text)
        files += 1
        buffer = []

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
        model_type, frameworks = TYPES[rng.randrange(len(TYPES))]
        framework = rng.choice(frameworks)
        if count >= 2 and rng.random() < 0.08:
            model_type, framework = "ensemble", "ensemble"
        name = f"{model_type}_{i:06d}"
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
        majors.append(major)
        ids.append(f"{domain}/{name}")
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
        lines = [
            f"name: {name}",
            f"version: {_q(version)}",
            f"model_type: {model_type}",
            f"framework: {framework}",
            f"domain: {domain}",
            f"owner_team: {domain}_team_{rng.randrange(TEAMS_PER_DOMAIN)}",
            f"description: {_q(description)}",
        ]
        if dependencies:
            lines.append("dependencies:")
            lines += [f"  - {_q(d)}" for d in dependencies]
        lines += [
            "resource_requirements:",
            f"  memory_mb: {rng.choice((1024, 2048, 4096, 8192, 16384))}",
            f"  gpu_memory_mb: {gpu}",
            f"  cpu_cores: {rng.choice((1, 2, 4, 8))}",
            f"  max_batch_size: {rng.choice((1, 8, 16, 32, 64, 128))}",
            f"  instance_count: {rng.choice((1, 1, 1, 2, 4))}",
            "sla_requirements:",
            f"  max_latency_p99_ms: {budget_ms:g}",
            f"  min_throughput_rps: {rps}",
            f"  availability: {availability}",
            "inputs:",
            f"  - {{name: input_ids, data_type: {rng.choice(('INT64', 'INT32'))}, dims: [-1]}}",
            "  - {name: features, data_type: FP32, dims: [-1, 128]}",
            "outputs:",
            f"  - {{name: scores, data_type: {rng.choice(('FP32', 'FP16'))}, "
            f"dims: [{rng.choice((1, 16, 64, 256))}]}}",
            "labels:",
            f"  tier: {rng.choice(('tier1', 'tier2', 'tier3'))}",
            f"  cost_center: cc_{rng.randrange(40):02d}",
            f"  layer: {_q(str(layer))}",
        ]
        if framework == "ensemble":
            lines.append("ensemble:")
            lines.append("  steps:")
            # A chain Triton accepts (registration checks the data flow): every ensemble
            # input read, each step's output read by the next, the last one's the output.
            steps = sorted(chosen)
            for k, j in enumerate(steps):
                features = "features" if k == 0 else f"step{k - 1}_scores"
                scores = "scores" if k == len(steps) - 1 else f"step{k}_scores"
                lines += [
                    f"    - model: {ids[j]}",
                    f"      input_map: {{input_ids: input_ids, features: {features}}}",
                    f"      output_map: {{scores: {scores}}}",
                ]
        buffer.append("\n".join(lines) + "\n")
        if len(buffer) == MODELS_PER_FILE:
            flush()
    flush()
    return {"files": files, "bytes": size, "edges": edges}


# The timed part (one fresh process per N) ------------------------------------------------


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


# Driver -------------------------------------------------------------------------------------


def run_size(n: int, profile_dir: Path | None, shape: str = "layered") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"modelyard-bench-{n}-") as tmp:
        manifests = Path(tmp) / "manifests"
        start = time.perf_counter()
        written = generate(n, manifests, shape=shape)
        generate_s = time.perf_counter() - start
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            str(n),
            "--manifests",
            str(manifests),
            "--workspace",
            str(Path(tmp) / "ws"),
        ]
        if profile_dir is not None:
            command += ["--profile-dir", str(profile_dir)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall_s = time.perf_counter() - start
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"benchmark for N={n} failed (exit {done.returncode})")
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


def summarise(results: list[dict[str, Any]]) -> str:
    phases = ("apply_s", "reapply_s", "validate_s", "plan_s", "resolve_all_s")
    parts = []
    for phase in phases:
        per_k = ", ".join(f"N={r['n']}: {r[phase] / r['n'] * 1000:.4f}" for r in results)
        parts.append(f"{phase.removesuffix('_s')} s/1k models [{per_k}]")
    lines = ["summary (per-model cost; flat across N means linear): " + "; ".join(parts)]
    for r in results:
        if r["n"] == TARGET_N:
            for key, limit in TARGETS.items():
                verdict = "OK" if r[key] <= limit else "MISSED"
                lines.append(
                    f"target {key} at N={TARGET_N}: {r[key]:.3f} s <= {limit} s: {verdict}"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--profile-dir", type=Path)
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
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for n in sizes:
        result = run_size(n, args.profile_dir, args.shape)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(summarise(results))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
