"""Canary rollback benchmark: how fast a bad candidate loses its weight, and how many
client requests it answered first.

    .venv/bin/python bench/rollout_canary.py [--rates 0.01,0.05,0.30] [--interval 5]
                                             [--steps 10,50,100] [--min-requests 50]
                                             [--threads 4] [--json-out FILE]

One local Triton, the gateway and a local Prometheus (`metrics start`); an echo model
1.0 (python backend) served, and clients looping through the gateway the whole time.
For each error rate a new candidate version answers that share of its requests with an
error (HTTP 500 to the client, a success to Triton), and `rollout --to` it runs with
`--max-error-rate 0.01`. Printed per rate: the step that failed it (or "promoted"), the
seconds from the candidate's first client request to its weight being 0 (the rollback
decision recorded), against the target of one interval + 5 s, and the client requests
the candidate answered (and how many of them failed) before then.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from modelyard import Workspace  # noqa: E402
from modelyard.deploy.runner import DeployOptions  # noqa: E402
from modelyard.ops import canary, traffic  # noqa: E402
from modelyard.traffic import haproxy  # noqa: E402
from modelyard.triton.server import LocalTriton, free_port  # noqa: E402

MODEL_CODE = """
import random
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.version = float(args["model_version"])
        self.random = random.Random(7)
        self.count = 0

    def execute(self, requests):
        answers = []
        for _ in requests:
            self.count += 1
            if self.count > 1 and self.random.random() < ERROR_RATE:
                answers.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("the candidate failed")))
                continue
            answers.append(pb_utils.InferenceResponse([pb_utils.Tensor(
                "Y", np.full((1, 1), self.version, np.float32))]))
        return answers
"""
BODY = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1], "data": [0.0]}]}


def manifest(version: str) -> str:
    return f"""\
name: echo
version: "{version}"
model_type: regression
framework: python
domain: bench
owner_team: platform
artifact: model.py
inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
"""


class Clients:
    """Threads looping through the gateway; each answer kept as (sent at, arm, status)."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.answers: list[tuple[float, str, int]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.is_set():
                sent = time.time()
                try:
                    response = http.post("/v2/models/bench.echo/infer", json=BODY)
                except httpx.HTTPError:
                    continue
                arm = response.headers.get("x-modelyard-arm", "-")
                with self.lock:
                    self.answers.append((sent, arm, response.status_code))

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def one_rate(ws: Workspace, tmp: Path, version: str, rate: float, args: Any, url: str) -> Any:
    folder = tmp / f"echo-{version}"
    folder.mkdir()
    (folder / "model.py").write_text(MODEL_CODE.replace("ERROR_RATE", repr(rate)))
    (folder / "manifest.yaml").write_text(manifest(version))
    ws.apply([folder / "manifest.yaml"])
    with Clients(url, args.threads) as clients:
        time.sleep(1.0)
        result = ws.rollout_canary(
            "bench/echo",
            version,
            steps=args.steps,
            interval=f"{args.interval}s",
            min_requests=args.min_requests,
            max_error_rate=0.01,
            target="bench",
        )
        decided = next(
            (e.at.timestamp() for e in result.events if e.kind == "decision"), time.time()
        )
    mine = [a for a in clients.answers if a[1] == version]
    first = min((a[0] for a in mine), default=None)
    answered = [a for a in mine if a[0] <= decided]
    failed_step = next(
        (e.step for e in result.events if e.kind == "analysis" and e.outcome == "failed"), None
    )
    seconds = round(decided - first, 2) if first is not None else None
    return {
        "error_rate": rate,
        "outcome": result.rollout.state,
        "failed_at_step": failed_step,
        "seconds_first_request_to_weight_0": seconds if result.rollout.state == "failed" else None,
        "target_s": args.interval + 5,
        "candidate_requests": len(answered),
        "candidate_failures": sum(1 for a in answered if a[2] >= 500),
        "all_client_requests": len(clients.answers),
        "reason": result.rollout.reason,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[0.01, 0.05, 0.30]
    )
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--steps", default="10,50,100")
    parser.add_argument("--min-requests", type=int, default=50)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="canarybench-") as folder:
        tmp = Path(folder)
        root = tmp / "ws"
        root.mkdir()
        port, metrics_port = free_port(), free_port()
        (root / "modelyard.yaml").write_text(
            "targets:\n  bench: "
            f"{{url: 'http://127.0.0.1:{port}', metrics_url: 'http://127.0.0.1:{metrics_port}', "
            "repository: repo, profile: local}\n"
        )
        ws = Workspace.init(root)
        server = LocalTriton(
            root / "repo", root / ".modelyard" / "triton", http_port=port, metrics_port=metrics_port
        )
        client = server.start()
        ctx = ws.context()
        files = traffic.gateway_files(ctx, "bench")
        try:
            (tmp / "echo-1.0").mkdir()
            (tmp / "echo-1.0" / "model.py").write_text(MODEL_CODE.replace("ERROR_RATE", "0.0"))
            (tmp / "echo-1.0" / "manifest.yaml").write_text(manifest("1.0"))
            ws.apply([tmp / "echo-1.0" / "manifest.yaml"])
            ws.deploy("bench", options=DeployOptions(load_timeout_s=120, ready_timeout_s=60))
            status = ws.start_gateway("bench", port=free_port())
            assert status.url is not None
            ws.start_metrics("bench", port=free_port())
            for index, rate in enumerate(args.rates, 2):
                row = one_rate(ws, tmp, f"{index}.0", rate, args, status.url)
                rows.append(row)
                if row["outcome"] == "succeeded":  # promoted: the next one starts from 1.0
                    ws.switch("bench/echo", "1.0", target="bench")
                    ws.stop_experiment("bench/echo", "1.0", target="bench")
                print(
                    f"error rate {rate:.0%}: {row['outcome']}"
                    + (f" at step {row['failed_at_step']}" if row["failed_at_step"] else "")
                    + f"; first candidate request -> weight 0: "
                    f"{row['seconds_first_request_to_weight_0']} s (target {row['target_s']:g} s);"
                    f" candidate answered {row['candidate_requests']} requests "
                    f"({row['candidate_failures']} failed) of {row['all_client_requests']}",
                    flush=True,
                )
        finally:
            canary.metrics_files(ctx, "bench").stop()
            haproxy.stop(files, files.pids())
            client.close()
            server.stop()
            ws.close()
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
