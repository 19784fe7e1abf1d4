"""Rollout benchmark: `deploy` against Triton's own start-up load and a wave-by-wave rollout.

    .venv/bin/python bench/rollout.py [--shape layered|chains] [--repeat 3]
                                      [--concurrency 4,8] [--models 30] [--layers 5]
                                      [--load-threads N] [--seed N] [--json-out FILE]

A deterministic synthetic graph of python-backend models in `--layers` dependency layers,
so the dependency depth is layers-1 edges; `execute` echoes its FP32 [4] input and
`initialize` sleeps the model's load time. Two shapes:

- layered (default): a random graph (fixed seed) whose layers shrink towards the top;
           every model of layer L>0 needs one model of layer L-1 and 0-2 more of lower
           layers. Load times are drawn from `--load-spread` (default 0.2-2.5 s) to mimic
           real, uneven load times.
- chains:  models/layers independent chains of `--layers` models each (30 models: 6 chains
           of 5), the model of layer L needing the model of layer L-1 of its chain. In
           every layer exactly one chain has a slow model (`--slow-s`, default 3.0 s), chain
           L in layer L, so the slow model is on a different chain in each layer; all the
           others are fast (`--fast-s`, default 0.2 s). A catalog where each stage has one
           heavy model (a large embedding or ranking model) beside light ones.

Everything runs on 127.0.0.1 in a temporary folder, with the tritonserver bundled in
nvidia-pytriton. Per repeat:

- deploy:  `Workspace.deploy("bench", DeployOptions(concurrency=K, smoke=True))` to a fresh
           explicit-mode server with nothing loaded and an empty repository (wall time of
           the call, so select + compile + plan + write + loads + smoke tests + records).
- startup: the same compiled repository, a fresh tritonserver with
           `--model-control-mode=none`: from process start until /v2/health/ready is 200
           and every model is READY in the index (the practical limit: Triton loading the
           repository by itself, `--model-load-thread-count` 4 by default).
- waves:   a fresh explicit-mode server on that repository; `Workspace.plan().waves`, each
           wave loaded concurrently (up to K threads), barrier until all READY, next wave.

One JSON line per run, then a summary line with medians, ratios and whether the targets
(deploy <= 1.2 x startup, waves >= 2 x deploy) are met. `ideal` in the summary is a
simulation with the nominal sleep times and K parallel loads and no overhead (list
scheduling for deploy, barriers for waves): what the graph allows at best.
Every server this script starts is stopped (SIGTERM to its process group, then SIGKILL)
before it returns, on error and on SIGTERM/Ctrl-C too; `--time-limit` bounds the whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from modelyard import Workspace
from modelyard.deploy.runner import DeployOptions
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, TritonInstallation, free_port

SEED = 20240611
DOMAIN = "bench"
TRITON_DEFAULT_LOAD_THREADS = 4
# --load-threads, set once by main(): every server of a run uses the same value.
LOAD_THREADS: list[int | None] = [None]
TARGETS = {"deploy_over_startup_max": 1.2, "waves_over_deploy_min": 2.0}
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0

MODEL_PY = '''\
"""Synthetic benchmark model: a slow initialize, an echoing execute."""
import time

import triton_python_backend_utils as pb_utils

LOAD_S = {load_s!r}


class TritonPythonModel:
    def initialize(self, args):
        time.sleep(LOAD_S)

    def execute(self, requests):
        return [pb_utils.InferenceResponse(
                    [pb_utils.Tensor("y", pb_utils.get_input_tensor_by_name(r, "x").as_numpy())])
                for r in requests]
'''


class Deadline(Exception):
    pass


# Generation -----------------------------------------------------------------------


def layer_sizes(models: int, layers: int) -> list[int]:
    """Layers that shrink towards the top, e.g. 30 models in 5 layers: 8, 7, 6, 5, 4."""
    average = models / layers
    centre = (layers - 1) / 2
    slope = min(1.0, (average - 1) / centre) if centre else 0.0
    sizes = [max(1, round(average + (centre - k) * slope)) for k in range(layers)]
    sizes[0] += models - sum(sizes)
    if sizes[0] < 1:
        raise SystemExit(f"cannot spread {models} models over {layers} layers")
    return sizes


# (name, layer, dependency names, load seconds, description), layer by layer
Spec = tuple[str, int, list[str], float, str]


def layered_specs(models: int, layers: int, spread: tuple[float, float], seed: int) -> list[Spec]:
    rng = random.Random(seed)
    by_layer: list[list[str]] = []
    specs: list[Spec] = []
    for layer, size in enumerate(layer_sizes(models, layers)):
        names = [f"l{layer}_m{i:02d}" for i in range(size)]
        for name in names:
            chosen: list[str] = []
            if layer:
                chosen.append(rng.choice(by_layer[layer - 1]))
                lower = [n for ns in by_layer for n in ns if n not in chosen]
                chosen += rng.sample(lower, min(len(lower), rng.choice((0, 1, 1, 2))))
            seconds = round(rng.uniform(*spread), 2)
            specs.append((name, layer, chosen, seconds, f"layer {layer}"))
        by_layer.append(names)
    return specs


def chain_count(models: int, layers: int) -> int:
    if layers < 1 or models % layers:
        raise SystemExit(
            f"--shape chains: {models} models are not a whole number of chains of {layers}"
        )
    chains = models // layers
    if chains < layers:
        raise SystemExit(
            f"--shape chains: {chains} chains of {layers} cannot put the slow "
            "model of each layer on a different chain"
        )
    return chains


def slow_chain(layer: int) -> int:
    """The chain whose model of `layer` is the slow one: a different chain per layer."""
    return layer


def chain_specs(models: int, layers: int, fast_s: float, slow_s: float) -> list[Spec]:
    chains = chain_count(models, layers)
    specs: list[Spec] = []
    for layer in range(layers):
        for chain in range(chains):
            slow = chain == slow_chain(layer)
            specs.append(
                (
                    f"l{layer}_c{chain}",
                    layer,
                    [f"l{layer - 1}_c{chain}"] if layer else [],
                    slow_s if slow else fast_s,
                    f"chain {chain}, layer {layer}{', the slow one' if slow else ''}",
                )
            )
    return specs


def generate(out: Path, specs: list[Spec]) -> dict[str, Any]:
    """Manifests under out/models, model.py artifacts under out/artifacts; the graph."""
    (out / "models").mkdir(parents=True)
    (out / "artifacts").mkdir()
    layer_counts: dict[int, int] = {}
    deps: dict[str, list[str]] = {}
    load_s: dict[str, float] = {}
    documents = []
    for name, layer, chosen, seconds, where in specs:
        layer_counts[layer] = layer_counts.get(layer, 0) + 1
        tid = f"{DOMAIN}.{name}"
        deps[tid] = [f"{DOMAIN}.{d}" for d in chosen]
        load_s[tid] = seconds
        artifact = out / "artifacts" / f"{name}.py"
        artifact.write_text(MODEL_PY.format(load_s=seconds), encoding="utf-8")
        lines = [
            f"name: {name}",
            'version: "1.0"',
            "model_type: regression",
            "framework: python",
            f"artifact: {json.dumps(str(artifact))}",
            f"domain: {DOMAIN}",
            "owner_team: bench",
            f'description: "synthetic model, {where}, loads in {seconds} s"',
        ]
        if chosen:
            lines.append("dependencies:")
            lines += [f'  - "{DOMAIN}/{d}>=1.0"' for d in chosen]
        lines += [
            "resource_requirements:",
            "  memory_mb: 256",
            "  gpu_memory_mb: 0",
            "  cpu_cores: 1",
            "  max_batch_size: 8",
            "  instance_count: 1",
            "inputs:",
            "  - {name: x, data_type: FP32, dims: [4]}",
            "outputs:",
            "  - {name: y, data_type: FP32, dims: [4]}",
        ]
        documents.append("\n".join(lines) + "\n")
    (out / "models" / "bench.yaml").write_text("---\n".join(documents), encoding="utf-8")
    return {
        "deps": deps,
        "load_s": load_s,
        "layers": [layer_counts[k] for k in sorted(layer_counts)],
    }


def depth(deps: dict[str, list[str]]) -> int:
    """The longest dependency chain, in edges."""
    memo: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in memo:
            memo[name] = 1 + max((level(d) for d in deps[name]), default=-1)
        return memo[name]

    return max(level(n) for n in deps)


# Ideal schedules (nominal load times, no overhead) ---------------------------------


def simulate_list(
    deps: dict[str, list[str]], load_s: dict[str, float], order: list[str], workers: int
) -> float:
    """A model starts as soon as its dependencies are done and a worker is free."""
    done: set[str] = set()
    pending = list(order)
    running: list[tuple[float, str]] = []
    now = 0.0
    while pending or running:
        for name in list(pending):
            if len(running) < workers and all(d in done for d in deps[name]):
                running.append((now + load_s[name], name))
                pending.remove(name)
        running.sort()
        now, name = running.pop(0)
        done.add(name)
    return now


def simulate_waves(waves: list[list[str]], load_s: dict[str, float], workers: int) -> float:
    total = 0.0
    for wave in waves:
        slots = [0.0] * workers
        for name in wave:  # greedy in the given order, like a thread pool
            k = slots.index(min(slots))
            slots[k] += load_s[name]
        total += max(slots)
    return total


def simulate_startup(load_s: dict[str, float], order: list[str], workers: int) -> float:
    return simulate_waves([order], load_s, workers)


# Servers ----------------------------------------------------------------------------


_STARTED: list[subprocess.Popen[bytes]] = []


def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


@contextmanager
def explicit_server(
    repository: Path, state_dir: Path, http_port: int = 0
) -> Iterator[tuple[LocalTriton, TritonClient, float]]:
    server = LocalTriton(repository, state_dir, http_port=http_port, load_threads=LOAD_THREADS[0])
    began = time.perf_counter()
    try:
        client = server.start(timeout_s=START_TIMEOUT_S)
        if server.process is not None:
            _STARTED.append(server.process)
        live_s = time.perf_counter() - began
        try:
            yield server, client, live_s
        finally:
            client.close()
    finally:
        server.stop()


def server_env(installation: TritonInstallation) -> dict[str, str]:
    """The environment LocalTriton.start gives its server."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        filter(None, [str(installation.library_dir), env.get("LD_LIBRARY_PATH")])
    )
    return env


def run_startup_none(repository: Path, state_dir: Path, expected: set[str]) -> dict[str, Any]:
    """tritonserver --model-control-mode=none on `repository`: time until all READY."""
    installation = TritonInstallation.find()
    backends = installation.backend_directory(state_dir / "backends")
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    log_file = state_dir / "tritonserver-none.log"
    command = [
        str(installation.server_binary),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        "--model-control-mode=none",
        f"--http-port={http_port}",
        f"--grpc-port={grpc_port}",
        f"--metrics-port={metrics_port}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--exit-timeout-secs=5",
        *([f"--model-load-thread-count={LOAD_THREADS[0]}"] if LOAD_THREADS[0] else []),
    ]
    url = f"http://127.0.0.1:{http_port}"
    process: subprocess.Popen[bytes] | None = None
    http = httpx.Client(base_url=url, timeout=5.0)
    try:
        with log_file.open("ab") as log:
            began = time.perf_counter()
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_env(installation),
                start_new_session=True,
            )
        _STARTED.append(process)
        live_s = ready_s = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while ready_s is None:
            if process.poll() is not None:
                tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
                raise RuntimeError(f"tritonserver (none) exited with {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tritonserver (none) not ready in {START_TIMEOUT_S:g} s")
            try:
                if live_s is None and http.get("/v2/health/live").status_code == 200:
                    live_s = time.perf_counter() - began
                if live_s is not None and http.get("/v2/health/ready").status_code == 200:
                    index = http.post("/v2/repository/index", json={}).json()
                    ready = {e["name"] for e in index if e.get("state") == "READY"}
                    if expected <= ready:
                        ready_s = time.perf_counter() - began
                        continue
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        return {"startup_none_s": ready_s, "live_s": live_s}
    finally:
        http.close()
        _stop_process(process)


def run_deploy(root: Path, run_dir: Path, concurrency: int, timeline: bool) -> dict[str, Any]:
    repository = run_dir / "repository"
    port = free_port()
    write_config(root, port, repository)
    workspace = Workspace.open(root)
    events: list[tuple[float, str, str]] = []
    lock = threading.Lock()

    def progress(model: str, state: str) -> None:
        with lock:
            events.append((time.perf_counter(), model, state))

    try:
        with explicit_server(repository, run_dir / "state", http_port=port) as (_, client, live_s):
            began = time.perf_counter()
            result = workspace.deploy(
                "bench",
                options=DeployOptions(
                    concurrency=concurrency, load_timeout_s=120.0, ready_timeout_s=60.0, smoke=True
                ),
                progress=progress,
            )
            wall = time.perf_counter() - began
            states = {e["name"]: e.get("state") for e in client.index()}
    finally:
        workspace.close()
    outcome = {
        "ok": result.ok,
        "statuses": sorted({o.status for o in result.outcomes.values()}),
        "all_ready": sum(1 for s in states.values() if s == "READY"),
    }
    row: dict[str, Any] = {
        "deploy_s": wall,
        "result_seconds": result.seconds,
        "empty_server_live_s": live_s,
        "outcome": outcome,
    }
    starts = {m: t for t, m, s in events if s == "loading"}
    smokes = {m: t for t, m, s in events if s == "smoke test"}
    ends = {m: t for t, m, s in events if s == "ready"}
    if starts and ends:
        row["phases"] = {
            # select + compile + plan (index) + repository write, before the first load
            "before_first_load_s": min(starts.values()) - began,
            "loads_s": max(ends.values()) - min(starts.values()),
            "after_last_ready_s": began + wall - max(ends.values()),
            "load_plus_ready_mean_s": statistics.mean(smokes[m] - starts[m] for m in smokes),
            "smoke_mean_s": statistics.mean(ends[m] - smokes[m] for m in smokes),
            "model_seconds_sum": sum(o.seconds or 0.0 for o in result.outcomes.values()),
        }
        if timeline:
            row["timeline"] = {
                m: [round(starts[m] - began, 3), round(ends[m] - began, 3)]
                for m in sorted(starts, key=starts.__getitem__)
            }
    return row


def run_waves(
    repository: Path, state_dir: Path, waves: list[list[str]], concurrency: int
) -> dict[str, Any]:
    with explicit_server(repository, state_dir) as (_, client, _live):

        def load(name: str) -> None:
            client.load(name)
            deadline = time.monotonic() + 60.0
            while not client.is_ready(name):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: not READY within 60 s")
                time.sleep(0.1)

        began = time.perf_counter()
        per_wave = []
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for wave in waves:
                wave_began = time.perf_counter()
                for future in [pool.submit(load, name) for name in wave]:
                    future.result()  # the barrier; raises a load's error
                per_wave.append(round(time.perf_counter() - wave_began, 3))
        wall = time.perf_counter() - began
        ready = sum(1 for e in client.index() if e.get("state") == "READY")
    return {"waves_s": wall, "per_wave_s": per_wave, "all_ready": ready}


def write_config(root: Path, port: int, repository: Path) -> None:
    (root / "modelyard.yaml").write_text(
        "catalog:\n  url: sqlite:///.modelyard/catalog.db\n"
        "targets:\n  bench:\n"
        f"    url: http://127.0.0.1:{port}\n"
        f"    repository: {json.dumps(str(repository))}\n"
        "    profile: local\n",
        encoding="utf-8",
    )


# Main -------------------------------------------------------------------------------


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape",
        choices=("layered", "chains"),
        default="layered",
        help="layered: random layered graph with --load-spread times; chains: "
        "models/layers independent chains, one slow model per layer",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        default="4,8",
        help="deploy concurrencies; the first one is the one compared "
        "(Triton's default --model-load-thread-count is 4)",
    )
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument(
        "--load-spread", default="0.2,2.5", help="min,max seconds (--shape layered)"
    )
    parser.add_argument(
        "--fast-s", type=float, default=0.2, help="load time of the fast models (--shape chains)"
    )
    parser.add_argument(
        "--slow-s",
        type=float,
        default=3.0,
        help="load time of the one slow model per layer (--shape chains)",
    )
    parser.add_argument(
        "--load-threads",
        type=int,
        default=None,
        help="--model-load-thread-count of every server started (all three "
        "runs alike; default: Triton's, 4)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--time-limit",
        type=float,
        default=1200.0,
        help="stop starting new runs after this many seconds",
    )
    parser.add_argument(
        "--timeline", action="store_true", help="per-model start/end in deploy rows"
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    concurrencies = [int(k) for k in args.concurrency.split(",") if k]
    LOAD_THREADS[0] = args.load_threads
    low, high = (float(x) for x in args.load_spread.split(","))
    if args.shape == "chains":
        chain_count(args.models, args.layers)  # fail before any work
    deadline = time.monotonic() + args.time_limit

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    with tempfile.TemporaryDirectory(prefix="modelyard-rollout-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        try:
            summary = run_all(base, args, concurrencies, (low, high), deadline, emit, rows)
        finally:
            for process in _STARTED:
                _stop_process(process)
    print(json.dumps(summary), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps({"runs": rows, "summary": summary}, indent=2) + "\n")
    return 0


def run_all(
    base: Path,
    args: argparse.Namespace,
    concurrencies: list[int],
    spread: tuple[float, float],
    deadline: float,
    emit: Callable[[dict[str, Any]], None],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    if args.shape == "chains":
        specs = chain_specs(args.models, args.layers, args.fast_s, args.slow_s)
        shape_info: dict[str, Any] = {
            "chains": chain_count(args.models, args.layers),
            "load_s": [args.fast_s, args.slow_s],
            "slow_chain_per_layer": [slow_chain(layer) for layer in range(args.layers)],
        }
    else:
        specs = layered_specs(args.models, args.layers, spread, args.seed)
        shape_info = {"seed": args.seed, "load_spread_s": list(spread)}
    graph = generate(base / "gen", specs)
    root = base / "ws"
    root.mkdir()
    write_config(root, 8000, root / "unused")
    workspace = Workspace.init(root)
    workspace.apply([base / "gen" / "models"])
    compiled_repo = base / "compiled" / "repository"
    compiled = workspace.compile(compiled_repo, profile="local")
    names = {m.model_id: m.triton_name for m in compiled.plan.models.values()}
    waves = [[names[p.model_id] for p in wave] for wave in workspace.plan().waves]
    order = [m.triton_name for m in compiled.plan.models.values()]  # the deploy's order
    workspace.close()
    expected = set(names.values())
    deps, load_s = graph["deps"], graph["load_s"]
    k0 = concurrencies[0]
    threads = args.load_threads or TRITON_DEFAULT_LOAD_THREADS
    ideal = {
        "startup_none_s": simulate_startup(load_s, sorted(load_s), threads),
        **{
            f"deploy_k{k}_s": simulate_list(deps, load_s, order, min(k, threads))
            for k in concurrencies
        },
        "waves_s": simulate_waves(waves, load_s, min(k0, threads)),
        "critical_path_s": max(_chain(deps, load_s, n) for n in deps),
        "sum_load_s": sum(load_s.values()),
    }
    emit(
        {
            "shape": args.shape,
            "graph": {
                "shape": args.shape,
                "models": len(load_s),
                "layers": graph["layers"],
                "depth": depth(deps),
                "edges": sum(len(d) for d in deps.values()),
                "waves": [len(w) for w in waves],
                **shape_info,
            },
            "ideal": {k: round(v, 3) for k, v in ideal.items()},
        }
    )

    stopped_early = False
    try:
        for i in range(args.repeat):
            for k in concurrencies:
                check(deadline)
                run_dir = base / "runs" / f"{i}-deploy-k{k}"
                emit(
                    {
                        "shape": args.shape,
                        "run": i,
                        "kind": "deploy",
                        "concurrency": k,
                        **run_deploy(root, run_dir, k, args.timeline),
                    }
                )
            check(deadline)
            emit(
                {
                    "shape": args.shape,
                    "run": i,
                    "kind": "startup_none",
                    **run_startup_none(compiled_repo, base / "runs" / f"{i}-none", expected),
                }
            )
            check(deadline)
            emit(
                {
                    "shape": args.shape,
                    "run": i,
                    "kind": "waves",
                    "concurrency": k0,
                    **run_waves(compiled_repo, base / "runs" / f"{i}-waves-k{k0}", waves, k0),
                }
            )
    except Deadline:
        stopped_early = True

    def of(kind: str, k: int | None = None) -> list[dict[str, Any]]:
        return [r for r in rows if r.get("kind") == kind and (k is None or r["concurrency"] == k)]

    deploy_s = median(of("deploy", k0), "deploy_s")
    startup_s = median(of("startup_none"), "startup_none_s")
    waves_s = median(of("waves", k0), "waves_s")
    over_startup = deploy_s / startup_s if deploy_s and startup_s else None
    waves_over = waves_s / deploy_s if deploy_s and waves_s else None
    summary: dict[str, Any] = {
        "summary": True,
        "shape": args.shape,
        "load_threads": threads,
        "repeat": args.repeat,
        "stopped_early_by_time_limit": stopped_early,
        "concurrency": k0,
        "deploy_s": r3(deploy_s),
        "deploy_result_seconds": r3(median(of("deploy", k0), "result_seconds")),
        "startup_none_s": r3(startup_s),
        "startup_none_live_s": r3(median(of("startup_none"), "live_s")),
        "empty_server_live_s": r3(median(of("deploy", k0), "empty_server_live_s")),
        "waves_s": r3(waves_s),
        "ratio_deploy_over_startup": r3(over_startup),
        "ratio_waves_over_deploy": r3(waves_over),
        "target_deploy_within_1_2x_startup": bool(
            over_startup is not None and over_startup <= TARGETS["deploy_over_startup_max"]
        ),
        "target_deploy_2x_faster_than_waves": bool(
            waves_over is not None and waves_over >= TARGETS["waves_over_deploy_min"]
        ),
        "all_deploys_ok": all(
            r["outcome"]["ok"] and r["outcome"]["all_ready"] == len(expected) for r in of("deploy")
        ),
        "ideal": {k: round(v, 3) for k, v in ideal.items()},
    }
    for k in concurrencies[1:]:
        summary[f"deploy_k{k}_s"] = r3(median(of("deploy", k), "deploy_s"))
    return summary


def check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise Deadline("--time-limit reached")


def _chain(deps: dict[str, list[str]], load_s: dict[str, float], name: str) -> float:
    return load_s[name] + max((_chain(deps, load_s, d) for d in deps[name]), default=0.0)


if __name__ == "__main__":
    sys.exit(main())
