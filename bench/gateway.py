"""Gateway benchmark: what HAProxy in front of Triton costs, and what a weight change costs
as the number of routed models grows.

    .venv/bin/python bench/gateway.py [--seconds 5] [--concurrency 1,4,16]
                                      [--models 1,100,1000] [--json-out FILE]
                                      [--only overhead,weights,shadow]
                                      [--shadow-percent 20] [--shadow-delay-ms 5]
                                      [--arm-delay-ms 0]

1. Overhead: one local Triton serving an echo model (python backend), a gateway in front
   routing it (a blue-green `switch`, so every request is rewritten to a versioned path),
   and for each concurrency the same load sent directly to the versioned path and through
   the gateway, one after the other in one run: p50, p99 and throughput, and the gateway's
   figures as ratios of the direct ones. Clients, HAProxy and Triton share this machine's
   cores, so the ratios, not the absolute figures, are what carries over.
2. Weight changes: with N models routed by the same gateway (N-1 experiments recorded in
   the catalog beside the echo model's), the median time of `experiment set` end to end
   (catalog, smoke inference of the arm that gets weight, map file, runtime `set map`) and
   of the gateway part alone (map file + `set map`).
3. Shadow: the echo model routed to 1.0, and a slow shadow (3.0, sleeping
   --shadow-delay-ms per request) getting copies of --shadow-percent % of requests:
   client p50/p99 through the gateway without the shadow, with it, and with it while
   nginx keeps connections alive (`keepalive_timeout 60s`, nginx's habit, instead of
   modelyard's 0), in rounds that alternate so the machine's drift hits each alike; then
   how many of the copies sent Triton's shadow version answered.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from modelyard import Workspace  # noqa: E402
from modelyard.deploy.runner import DeployOptions  # noqa: E402
from modelyard.ops import traffic  # noqa: E402
from modelyard.store.experiments import Arm, ExperimentLog  # noqa: E402
from modelyard.traffic import haproxy  # noqa: E402
from modelyard.traffic.nginx import ShadowProxy  # noqa: E402
from modelyard.traffic.split import Route, RouteArm  # noqa: E402
from modelyard.triton.server import LocalTriton, free_port  # noqa: E402

ECHO = """
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.version = float(args["model_version"])

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "Y", np.full((1, 1), self.version, np.float32))]) for _ in requests]
"""
SLOW_ECHO = ECHO.replace("import numpy as np", "import time\nimport numpy as np").replace(
    "    def execute(self, requests):\n",
    "    def execute(self, requests):\n        time.sleep(DELAY_S)\n",
)
BODY = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1], "data": [0.0]}]}


def manifest(name: str, version: str, artifact: str | None) -> str:
    return f"""\
name: {name}
version: "{version}"
model_type: regression
framework: python
domain: bench
owner_team: platform
{f"artifact: {artifact}" if artifact else ""}
inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
"""


def load(url: str, path: str, concurrency: int, seconds: float) -> dict[str, float]:
    """`concurrency` clients (keep-alive each) for `seconds`: p50, p99 (ms), requests/s."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(base_url=url, timeout=60) as http:
            http.post(path, json=BODY)  # connect outside the measurement
            while time.monotonic() < deadline:
                began = time.perf_counter()
                response = http.post(path, json=BODY)
                mine.append(time.perf_counter() - began)
                if response.status_code != 200:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": round(cuts[49] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        "failures": failures[0],
    }


def overhead(
    ws: Workspace, triton_url: str, gateway_url: str, args: argparse.Namespace
) -> list[Any]:
    rows = []
    for concurrency in args.concurrency:
        direct = load(
            triton_url, "/v2/models/bench.echo/versions/1/infer", concurrency, args.seconds
        )
        through = load(gateway_url, "/v2/models/bench.echo/infer", concurrency, args.seconds)
        ratios = {
            k: round(through[k] / direct[k], 3) for k in ("p50_ms", "p99_ms", "throughput_rps")
        }
        rows.append(
            {"concurrency": concurrency, "direct": direct, "gateway": through, "ratio": ratios}
        )
        print(
            f"concurrency {concurrency:>2}: direct p50 {direct['p50_ms']:.2f} ms p99 "
            f"{direct['p99_ms']:.2f} ms {direct['throughput_rps']:.0f}/s; gateway/direct p50 "
            f"x{ratios['p50_ms']:.2f} p99 x{ratios['p99_ms']:.2f} throughput "
            f"x{ratios['throughput_rps']:.2f}",
            flush=True,
        )
    return rows


def weight_changes(ws: Workspace, tmp: Path, counts: list[int]) -> list[Any]:
    rows = []
    log = ExperimentLog(ws.store)
    routed = 1  # the echo model's switch
    files = traffic.gateway_files(ws.context(), "bench")
    for count in counts:
        missing = count - routed
        if missing > 0:
            text = "---\n".join(
                manifest(f"routed{routed + i}", v, None)
                for i in range(missing)
                for v in ("1.0", "2.0")
            )
            (tmp / f"routed-{count}.yaml").write_text(text)
            ws.apply([tmp / f"routed-{count}.yaml"])
            for i in range(missing):
                log.start(
                    f"bench/routed{routed + i}",
                    "bench",
                    [Arm(version="1.0", weight=50), Arm(version="2.0", weight=50)],
                    actor="bench",
                )
            ws.restart_gateway("bench")
            routed = count
        end_to_end, gateway_only = [], []
        for i in range(20):
            began = time.perf_counter()
            ws.switch("bench/echo", "1.0" if i % 2 else "2.0", target="bench")
            end_to_end.append(time.perf_counter() - began)
            route = Route("bench.echo", (RouteArm(1, "1.0", 50), RouteArm(2, "2.0", 50)), key="x")
            text = haproxy.render_map(
                [route] + [Route(f"bench.routed{n}", route.arms) for n in range(1, count)]
            )
            began = time.perf_counter()
            haproxy.write_atomically(files.map.with_suffix(".bench"), text)
            files.api.set_route(files.map, route)
            gateway_only.append(time.perf_counter() - began)
        ws.restart_gateway("bench")  # the recorded routes again
        row = {
            "models": count,
            "set_median_ms": round(statistics.median(end_to_end) * 1000, 2),
            "gateway_median_ms": round(statistics.median(gateway_only) * 1000, 3),
        }
        rows.append(row)
        print(
            f"{count:>5} routed models: weight change {row['set_median_ms']:.1f} ms end to end, "
            f"{row['gateway_median_ms']:.2f} ms of it map file + set map",
            flush=True,
        )
    return rows


def shadow_latency(
    ws: Workspace, tmp: Path, triton_url: str, gateway_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    folder = tmp / "echo-3.0"
    folder.mkdir()
    (folder / "model.py").write_text(
        SLOW_ECHO.replace("DELAY_S", repr(args.shadow_delay_ms / 1000))
    )
    (folder / "manifest.yaml").write_text(manifest("echo", "3.0", "model.py"))
    ws.apply([folder / "manifest.yaml"])
    files = traffic.gateway_files(ws.context(), "bench")
    proxy = ShadowProxy(files.folder)
    path = "/v2/models/bench.echo/infer"
    shadow = f"3.0={args.shadow_percent}"
    options = DeployOptions(load_timeout_s=120, ready_timeout_s=60)
    ws.set_weights("bench/echo", [], shadow=shadow, target="bench", options=options)
    upstream = haproxy.upstream_of(triton_url)
    rows = []
    for concurrency in args.concurrency:
        runs: dict[str, list[dict[str, float]]] = {"none": [], "shadow": [], "keepalive": []}
        for _ in range(args.rounds):
            ws.set_weights("bench/echo", [], no_shadow=True, target="bench")
            runs["none"].append(load(gateway_url, path, concurrency, args.seconds))
            ws.set_weights("bench/echo", [], shadow=shadow, target="bench")
            runs["shadow"].append(load(gateway_url, path, concurrency, args.seconds))
            # nginx's own habit: keep connections alive (what modelyard's config avoids).
            proxy.config.write_text(
                proxy.config.read_text().replace("keepalive_timeout 0;", "keepalive_timeout 60s;")
            )
            for pid in proxy.pids():
                os.kill(pid, signal.SIGHUP)
            time.sleep(1.0)
            runs["keepalive"].append(load(gateway_url, path, concurrency, args.seconds))
            proxy.reload(upstream)  # modelyard's configuration again
            time.sleep(1.0)
        row: dict[str, Any] = {"concurrency": concurrency}
        for name, measured in runs.items():
            row[name] = {
                key: round(statistics.median(m[key] for m in measured), 3)
                for key in ("p50_ms", "p99_ms", "throughput_rps")
            }
            row[name]["failures"] = sum(m["failures"] for m in measured)
        row["p99_ratio"] = round(row["shadow"]["p99_ms"] / row["none"]["p99_ms"], 3)
        row["p99_ratio_keepalive"] = round(row["keepalive"]["p99_ms"] / row["none"]["p99_ms"], 3)
        rows.append(row)
        print(
            f"concurrency {concurrency:>2}: p50/p99 without shadow {row['none']['p50_ms']:.2f}/"
            f"{row['none']['p99_ms']:.2f} ms, with a {args.shadow_delay_ms:g} ms shadow at "
            f"{args.shadow_percent} % {row['shadow']['p50_ms']:.2f}/{row['shadow']['p99_ms']:.2f}"
            f" ms (p99 x{row['p99_ratio']:.2f}), nginx keep-alive "
            f"{row['keepalive']['p50_ms']:.2f}/{row['keepalive']['p99_ms']:.2f} ms "
            f"(p99 x{row['p99_ratio_keepalive']:.2f}); failures "
            f"{sum(row[n]['failures'] for n in runs)}",
            flush=True,
        )
    time.sleep(2.0)  # the last copies finish
    status = ws.experiment_status("bench/echo", target="bench").experiments[0].shadow
    assert status is not None
    received = httpx.get(f"{triton_url}/v2/models/bench.echo/versions/3/stats").json()
    served = received["model_stats"][0]["inference_stats"]["success"]["count"]
    copies = {
        "sent": status.copies_sent,
        "answered": status.copies_answered,
        "failed": status.copies_failed,
        "triton_served": served,
    }
    print(
        f"shadow copies: {copies['sent']} sent, {copies['answered']} answered, "
        f"{copies['failed']} failed; Triton's version 3 served {served} (smoke tests included)",
        flush=True,
    )
    ws.set_weights("bench/echo", [], no_shadow=True, target="bench")
    return {"latency": rows, "copies": copies}


@dataclass(frozen=True)
class EchoGateway:
    """A workspace with `bench/echo` 1.0 and 2.0 deployed on a fresh local Triton (target
    `bench`) and a gateway started in front of it."""

    workspace: Workspace
    folder: Path
    triton_url: str
    gateway_url: str
    files: haproxy.GatewayFiles


@contextmanager
def echo_gateway(prefix: str, arm_delay_ms: float = 0.0) -> Iterator[EchoGateway]:
    """An EchoGateway in a temporary folder (its echo versions answering after
    `arm_delay_ms`); everything it started is stopped after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        tmp = Path(folder)
        root = tmp / "ws"
        root.mkdir()
        port = free_port()
        (root / "modelyard.yaml").write_text(
            "targets:\n  bench: "
            f"{{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
        )
        ws = Workspace.init(root)
        server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
        client = server.start()
        files = traffic.gateway_files(ws.context(), "bench")
        try:
            for version in ("1.0", "2.0"):
                (tmp / f"echo-{version}").mkdir()
                (tmp / f"echo-{version}" / "model.py").write_text(
                    SLOW_ECHO.replace("DELAY_S", repr(arm_delay_ms / 1000))
                    if arm_delay_ms
                    else ECHO
                )
                (tmp / f"echo-{version}" / "manifest.yaml").write_text(
                    manifest("echo", version, "model.py")
                )
                ws.apply([tmp / f"echo-{version}" / "manifest.yaml"])
            ws.deploy("bench", options=DeployOptions(load_timeout_s=120, ready_timeout_s=60))
            status = ws.start_gateway("bench", port=free_port())
            assert status.url is not None
            yield EchoGateway(ws, tmp, server.url, status.url, files)
        finally:
            haproxy.stop(files, files.pids())
            ShadowProxy(files.folder).stop()
            client.close()
            server.stop()
            ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16]
    )
    parser.add_argument(
        "--models", type=lambda s: [int(x) for x in s.split(",")], default=[1, 100, 1000]
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--only",
        type=lambda s: set(s.split(",")),
        default={"overhead", "weights", "shadow"},
        help="sections to run: overhead, weights, shadow",
    )
    parser.add_argument("--shadow-percent", type=int, default=20)
    parser.add_argument("--shadow-delay-ms", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--arm-delay-ms",
        type=float,
        default=0.0,
        help="the served echo versions answer after this long (a model of a few ms)",
    )
    args = parser.parse_args()
    with echo_gateway("gwbench-", args.arm_delay_ms) as bed:
        ws, tmp = bed.workspace, bed.folder
        ws.switch("bench/echo", "1.0", target="bench")  # routed: rewritten to versions/1
        results: dict[str, Any] = {}
        if "overhead" in args.only:
            results["overhead"] = overhead(ws, bed.triton_url, bed.gateway_url, args)
        if "shadow" in args.only:
            results["shadow"] = shadow_latency(ws, tmp, bed.triton_url, bed.gateway_url, args)
        if "weights" in args.only:
            results["weight_change"] = weight_changes(ws, tmp, args.models)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
