"""Remote CLI benchmark: the catalog commands as whole processes, locally and against a
`modelyard server` on loopback (MODELYARD_SERVER, an admin token), on the same synthetic
catalog as bench/catalog.py.

    .venv/bin/python bench/remote.py [--sizes 1000,10000] [--runs 3]

For each size N: one fresh local workspace and one served workspace (artifact roots: the
generated folder); `apply` of the manifests into each (once, then once more unchanged),
then `list --json`, `show`,
`validate --json` and `plan --json`, the median of `--runs` processes each, with the ratio
remote / local. The server is one process for the whole size, as a team would run it.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from catalog import MODELYARD, cli_env, generate, run_process
from modelyard.triton.server import free_port


def _checked(argv: list[str], log: Path, env: dict[str, str]) -> dict[str, Any]:
    result = run_process(argv, log, env)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result['rc']}:\n{log.read_text()[-2000:]}")
    return result


def _server(root: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(MODELYARD), "server", "--port", str(port), "--workspace", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.1)


def run_size(n: int, runs: int, scratch: Path) -> list[tuple[str, float, float]]:
    out = scratch / f"catalog-{n}"
    generate(n, out)
    env = cli_env()
    local, served = scratch / f"local-{n}", scratch / f"served-{n}"
    for root in (local, served):
        _checked([str(MODELYARD), "init", str(root)], scratch / "init.log", env)
    config = yaml.safe_load((served / "modelyard.yaml").read_text()) or {}
    config["api"] = {"artifact_roots": [str(out)], "max_body_mb": 256}
    (served / "modelyard.yaml").write_text(yaml.safe_dump(config))
    token = subprocess.run(
        [
            str(MODELYARD),
            "token",
            "create",
            "--team",
            "bench",
            "--role",
            "admin",
            "-w",
            str(served),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    process, url = _server(served, env, scratch / f"server-{n}.log")
    remote_env = {**env, "MODELYARD_SERVER": url, "MODELYARD_TOKEN": token}
    rows: list[tuple[str, float, float]] = []
    try:
        first = yaml.safe_load(next((out / "manifests").glob("*.yaml")).read_text().split("---")[0])
        model = f"{first['domain']}/{first['name']}"
        steps: list[tuple[str, list[str], int]] = [
            ("apply", ["apply", str(out / "manifests")], 1),
            ("apply unchanged", ["apply", str(out / "manifests")], 1),
            ("list --json", ["list", "--json"], runs),
            ("show", ["show", model], runs),
            ("validate --json", ["validate", "--json"], runs),
            ("plan --json", ["plan", "--json"], runs),
        ]
        for label, args, count in steps:
            log = scratch / "step.log"
            local_s = statistics.median(
                _checked([str(MODELYARD), *args, "-w", str(local)], log, env)["wall_s"]
                for _ in range(count)
            )
            remote_s = statistics.median(
                _checked([str(MODELYARD), *args], log, remote_env)["wall_s"] for _ in range(count)
            )
            rows.append((label, local_s, remote_s))
            print(
                f"{n:>6} {label:<16} local {local_s:6.2f} s  remote {remote_s:6.2f} s  "
                f"x{remote_s / local_s:4.2f}",
                flush=True,
            )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    os.environ.pop("MODELYARD_SERVER", None)
    with tempfile.TemporaryDirectory(prefix="modelyard-remote-") as folder:
        for n in (int(size) for size in options.sizes.split(",")):
            run_size(n, options.runs, Path(folder))


if __name__ == "__main__":
    main()
