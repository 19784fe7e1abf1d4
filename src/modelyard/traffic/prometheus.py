"""Metrics for canary analysis: Debian's Prometheus (2.42) started on loopback for a
local setup, or a production one by URL, and the queries a rollout asks it.

The local one scrapes, every second, Triton's metrics endpoint (per model *and*
version) and the gateway's built-in HAProxy exporter (haproxy.METRICS_PATH). Measured
(TRAFFIC-FACTS.md): ready in 0.3 s, first scrape about 10 s later, so `start` waits for
the first sample of each target before it returns.

Latency comes from Triton's summaries (`nv_inference_request_summary_us`, quantiles per
model and version, with `--metrics-config summary_latencies=true`): the gateway routes
every arm through one backend, so its own response times cannot tell the arms apart.
Error rates do not come from here: a python backend's error answer is a success to
Triton; the gateway's per-arm stick-table counters are exact and read directly.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from modelyard.errors import Conflict, InputError
from modelyard.traffic.haproxy import METRICS_PATH, check_port_free, write_atomically

CONFIG_FILE = "prometheus.yml"
PID_FILE = "prometheus.pid"
LOG_FILE = "prometheus.log"
DATA_FOLDER = "data"
SCRAPE_INTERVAL_S = 1
READY_TIMEOUT_S = 30.0
QUERY_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
P99 = "0.99"


def prometheus_binary() -> str:
    """Debian's prometheus (InputError naming the package when it is missing)."""
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found is None:
        raise InputError(
            "prometheus is not installed: `apt-get install -y --no-install-recommends "
            "prometheus`, or name a running one with `prometheus_url` on the target"
        )
    return found


def render_config(triton_metrics: str, gateway: str | None) -> str:
    """prometheus.yml scraping Triton's `host:port` and the gateway's `host:port`."""
    jobs = [
        "scrape_configs:",
        "  - job_name: triton",
        f"    scrape_interval: {SCRAPE_INTERVAL_S}s",
        f"    static_configs: [{{targets: ['{triton_metrics}']}}]",
    ]
    if gateway:
        jobs += [
            "  - job_name: gateway",
            f"    scrape_interval: {SCRAPE_INTERVAL_S}s",
            f"    metrics_path: {METRICS_PATH}",
            f"    static_configs: [{{targets: ['{gateway}']}}]",
        ]
    return "# Written by modelyard (traffic/prometheus.py); changes are overwritten.\n" + (
        "\n".join(jobs) + "\n"
    )


def host_port(url: str) -> str:
    """`http://127.0.0.1:8002/metrics` -> `127.0.0.1:8002`."""
    parts = urlsplit(url if "//" in url else f"http://{url}")
    if not parts.hostname:
        raise InputError(f"metrics_url {url!r}: expected http://HOST:PORT")
    return f"{parts.hostname}:{parts.port or 80}"


@dataclass(frozen=True)
class PrometheusFiles:
    """The folder of a local Prometheus: its configuration, data, pid and log."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def pid_file(self) -> Path:
        return self.folder / PID_FILE

    @property
    def log(self) -> Path:
        return self.folder / LOG_FILE

    def pid(self) -> int | None:
        """The running Prometheus this folder's pid file names (None if stale)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is_prometheus(pid, self.config) else None

    def start(self, port: int, config_text: str) -> int:
        """Start Prometheus on 127.0.0.1:`port` (Conflict if one runs or the port is
        taken); returns its pid once it answers `/-/ready`."""
        if self.pid() is not None:
            raise Conflict(
                f"a Prometheus runs already from {self.folder} (pid {self.pid()}); "
                "`modelyard metrics stop` first"
            )
        binary = prometheus_binary()
        check_port_free(port)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.config, config_text)
        command = [
            binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.folder / DATA_FOLDER}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=7d",
        ]
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _children[process.pid] = process
        self.pid_file.write_text(f"{process.pid}\n")
        client = PrometheusClient(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self.log.read_text(errors="replace").splitlines()[-3:]
                raise InputError(
                    f"prometheus exited with code {process.returncode} at start: "
                    f"{' '.join(tail)[:400]}"
                )
            if client.is_ready():
                return process.pid
            time.sleep(0.1)
        self.stop()
        raise InputError(
            f"prometheus did not become ready in {READY_TIMEOUT_S:g} s; see {self.log}"
        )

    def stop(self) -> int | None:
        """Stop the running Prometheus (SIGTERM, then SIGKILL); returns its pid."""
        pid = self.pid()
        if pid is None:
            return None
        for signal_number in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline and _is_prometheus(pid, self.config):
                _reap(pid)
                time.sleep(0.05)
            if not _is_prometheus(pid, self.config):
                break
        _reap(pid)  # a zombie is no Prometheus any more, but is still to be waited for
        self.pid_file.unlink(missing_ok=True)
        return pid


# The processes this one started, kept so that they are reaped through their Popen (a
# Popen dropped while its process runs warns; a CLI's Prometheus outlives the CLI).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)
        if child.returncode is not None:
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _is_prometheus(pid: int, config: Path) -> bool:
    """Whether `pid` is a live Prometheus reading `config` (not a reused pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and str(config).encode() in command


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class PrometheusClient:
    """Instant queries against a Prometheus HTTP API (`/api/v1/query`)."""

    def __init__(self, url: str, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._transport = transport

    def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        with httpx.Client(timeout=QUERY_TIMEOUT_S, transport=self._transport) as http:
            return http.get(f"{self.url}{path}", params=params)

    def is_ready(self) -> bool:
        try:
            return self._get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def check(self) -> None:
        """InputError naming the URL unless it answers as a Prometheus."""
        try:
            response = self._get("/api/v1/query", {"query": "1"})
            ok = response.status_code == 200 and response.json().get("status") == "success"
        except (httpx.HTTPError, ValueError) as exc:
            raise InputError(
                f"Prometheus at {self.url} does not answer ({exc.__class__.__name__}); "
                "start one with `modelyard metrics start`, or fix `prometheus_url`; "
                "nothing changed"
            ) from None
        if not ok:
            raise InputError(
                f"{self.url} did not answer a Prometheus query (HTTP {response.status_code}); "
                "nothing changed"
            )

    def query(self, expression: str) -> list[Sample]:
        """An instant vector (InputError naming the URL when it does not answer)."""
        try:
            response = self._get("/api/v1/query", {"query": expression})
            response.raise_for_status()
            data = response.json()["data"]["result"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise InputError(
                f"Prometheus at {self.url} did not answer {expression!r}: {exc}"
            ) from None
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data]

    def targets_up(self) -> dict[str, bool]:
        """Scrape job -> whether its last scrape succeeded."""
        return {s.labels.get("job", "?"): s.value == 1 for s in self.query("up")}

    def mean_ms(self, model: str, versions: Sequence[int], window_s: float) -> dict[int, float]:
        """Triton version -> its mean request latency in ms over the last `window_s`."""
        window = f"{max(3, math.ceil(window_s))}s"
        selector = f'{{model="{model}"}}'
        expression = (
            f"sum by (version) (increase(nv_inference_request_duration_us{selector}[{window}]))"
            f" / sum by (version) (increase(nv_inference_request_success{selector}[{window}]))"
        )
        return {
            version: value / 1000.0
            for version, value in self._by_version(expression, versions).items()
        }

    def completed_rps(
        self, model: str, versions: Sequence[int], window_s: float
    ) -> dict[int, float]:
        """Triton version -> the requests per second it completed (successes and
        failures) over the last `window_s`."""
        window = f"{max(3, math.ceil(window_s))}s"
        names = "nv_inference_request_success|nv_inference_request_failure"
        expression = f'sum by (version) (rate({{__name__=~"{names}",model="{model}"}}[{window}]))'
        return self._by_version(expression, versions)

    def _by_version(self, expression: str, versions: Sequence[int]) -> dict[int, float]:
        found: dict[int, float] = {}
        for sample in self.query(expression):
            try:
                version = int(sample.labels.get("version", ""))
            except ValueError:
                continue
            if version in versions and math.isfinite(sample.value):  # NaN: no requests
                found[version] = sample.value
        return found

    def p99_ms(self, model: str, versions: Sequence[int]) -> dict[int, float]:
        """Triton version -> its p99 request latency in ms, from Triton's summaries
        (versions with no requests in the summary's window are left out)."""
        expression = f'nv_inference_request_summary_us{{model="{model}",quantile="{P99}"}}'
        return {
            version: value / 1000.0
            for version, value in self._by_version(expression, versions).items()
        }
