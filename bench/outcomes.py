"""A/B outcomes benchmark: what recording request ids costs the gateway, and how fast
feedback and reports are.

    .venv/bin/python bench/outcomes.py [--requests 5000] [--seconds 4] [--json-out FILE]

1. Gateway overhead of the request record (the stick table entry every request routed to
   an experiment writes): the echo model called directly, through the gateway on a 50/50
   route that is not recorded, and on the experiment's recorded route, concurrency 4
   (bench/gateway.py's `load`), as ratios of the direct figures; two rounds.
2. Feedback: `--requests` requests through the gateway, then one feedback per request
   (request id looked up in the running HAProxy's table, outcome written to the catalog):
   the median and p99 per feedback; then the same lookup after a restart, from the saved
   records file.
3. Report: `experiment report` over those outcomes (one look recorded), median of 5.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from gateway import BODY, echo_gateway, load  # noqa: E402

from modelyard import Workspace  # noqa: E402
from modelyard.traffic import haproxy  # noqa: E402
from modelyard.traffic.split import Route, RouteArm  # noqa: E402


def _ms(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"median_ms": round(cuts[49] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3)}


def measure(
    ws: Workspace, files: haproxy.GatewayFiles, triton_url: str, gateway_url: str, seconds: float
) -> list[dict[str, Any]]:
    """Two rounds of: direct, through the gateway without the record (the same 50/50 route
    under a non-numeric key, which the gateway does not record), and with it."""
    route = Route("bench.echo", (RouteArm(1, "1.0", 50), RouteArm(2, "2.0", 50)), key="unrecorded")
    rounds = []
    for _ in range(2):
        direct = load(triton_url, "/v2/models/bench.echo/versions/1/infer", 4, seconds)
        files.api.set_route(files.map, route)
        unrecorded = load(gateway_url, "/v2/models/bench.echo/infer", 4, seconds)
        ws.restart_gateway("bench")  # the experiment's route again, recorded
        recorded = load(gateway_url, "/v2/models/bench.echo/infer", 4, seconds)
        row: dict[str, Any] = {"direct": direct, "unrecorded": unrecorded, "recorded": recorded}
        for name in ("unrecorded", "recorded"):
            row[f"{name}_ratio"] = {
                k: round(row[name][k] / direct[k], 3)
                for k in ("p50_ms", "p99_ms", "throughput_rps")
            }
        rounds.append(row)
        print(
            f"concurrency 4: direct p50 {direct['p50_ms']:.2f} ms p99 {direct['p99_ms']:.2f} ms "
            f"{direct['throughput_rps']:.0f}/s; gateway/direct without the record p50 "
            f"x{row['unrecorded_ratio']['p50_ms']:.2f} p99 x{row['unrecorded_ratio']['p99_ms']:.2f}"
            f" throughput x{row['unrecorded_ratio']['throughput_rps']:.2f}; with it p50 "
            f"x{row['recorded_ratio']['p50_ms']:.2f} p99 x{row['recorded_ratio']['p99_ms']:.2f} "
            f"throughput x{row['recorded_ratio']['throughput_rps']:.2f}",
            flush=True,
        )
    return rounds


def feedback(ws: Workspace, gateway_url: str, requests: int) -> dict[str, Any]:
    served = []
    with httpx.Client(base_url=gateway_url, timeout=60) as http:
        for _ in range(requests):
            response = http.post("/v2/models/bench.echo/infer", json=BODY)
            served.append(response.headers["x-request-id"])
    live = []
    for i, request_id in enumerate(served):
        began = time.perf_counter()
        ws.record_feedback(request_id, 1 if i % 7 == 0 else 0, target="bench")
        live.append(time.perf_counter() - began)
    ws.restart_gateway("bench")  # the records move to the saved file
    saved = []
    for request_id in served[:200]:
        began = time.perf_counter()
        ws.record_feedback(request_id, 1, target="bench")
        saved.append(time.perf_counter() - began)
    reports = []
    for _ in range(5):
        began = time.perf_counter()
        ws.experiment_report("bench/echo", target="bench")
        reports.append(time.perf_counter() - began)
    result = {
        "requests": requests,
        "feedback_live": _ms(live),
        "feedback_saved": _ms(saved),
        "report_median_ms": round(statistics.median(reports) * 1000, 1),
    }
    print(
        f"feedback ({requests} requests): median {result['feedback_live']['median_ms']:.1f} ms, "
        f"p99 {result['feedback_live']['p99_ms']:.1f} ms from the running gateway; "
        f"{result['feedback_saved']['median_ms']:.1f} ms from the saved records; report "
        f"{result['report_median_ms']:.0f} ms",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    with echo_gateway("outcomes-bench-") as bed:
        ws = bed.workspace
        ws.start_experiment("bench/echo", ["1.0=50", "2.0=50"], target="bench")
        overhead = measure(ws, bed.files, bed.triton_url, bed.gateway_url, args.seconds)
        results = {
            "overhead": overhead,
            "feedback": feedback(ws, bed.gateway_url, args.requests),
        }
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
