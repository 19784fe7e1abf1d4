"""Progressive delivery: a local Prometheus (`metrics start|stop|status`) and the stepwise
canary rollout on its figures (`rollout REF --to VERSION`, `rollout status`, `rollout
abort`).

A rollout drives the model's experiment (ops/traffic.py): the first step starts it
(the candidate is loaded and verified before it gets any weight) or takes over one
already running with the candidate as an arm; each step sets the candidate's weight,
holds it for the interval, and analyses (traffic/canary.py). A failed step sends every
request back to the baseline at once (the experiment is stopped keeping it; no alias
moves); the last step passed stops the experiment keeping the candidate and moves
`production` to it.

Everything is recorded in the catalog before it is done (store/canary.py), and the
driving process beats a heartbeat every second: a rollout whose record says running
but whose driver is dead (its pid gone on this host, or no heartbeat for two intervals)
is *interrupted*. `rollout status` and `doctor` say so, and `rollout abort` or a new
`rollout` of the model send everything back to the baseline and close it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.version import Version
from modelyard.deploy.heartbeat import Heartbeat
from modelyard.deploy.lease import default_holder
from modelyard.errors import Conflict, InputError, ModelyardError, NotFound
from modelyard.ops import traffic
from modelyard.ops.context import Context
from modelyard.ops.rollout import audit
from modelyard.perf.measure import measure_memory
from modelyard.store.canary import CanaryEvent, CanaryLog, CanaryRecord
from modelyard.store.experiments import ExperimentLog
from modelyard.store.store import StoredVersion
from modelyard.traffic.canary import (
    Analysis,
    ArmFigures,
    Thresholds,
    analyse,
    parse_interval,
    parse_steps,
    weights_at,
)
from modelyard.traffic.haproxy import ArmCounts
from modelyard.traffic.prometheus import (
    PrometheusClient,
    PrometheusFiles,
    host_port,
    render_config,
)
from modelyard.triton.client import TritonClient

METRICS_FOLDER = Path(".modelyard") / "metrics"
DEFAULT_METRICS_PORT = 9090
HEARTBEAT_S = 1.0
# Prometheus scrapes every second: a look right after a hold waits for one more scrape.
SCRAPE_WAIT_S = 1.5
STALE_INTERVALS = 2
FIRST_SCRAPE_TIMEOUT_S = 20.0
# Triton's statistics answer in milliseconds; a slow one costs the look no more than this.
MEMORY_TIMEOUT_S = 2.0


# --------------------------------------------------------------------------- results


class MetricsStatus(BaseModel):
    """A target's Prometheus: local (started by modelyard) or production (by URL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    target: str
    kind: str  # local | production | none
    running: bool
    url: str | None
    pid: int | None
    folder: str | None
    # Scrape job -> whether its last scrape succeeded (empty when not running).
    scrapes: dict[str, bool] = {}


class RolloutStatus(BaseModel):
    """One rollout, its events, and whether its driver died mid-way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rollout: CanaryRecord
    interrupted: bool
    events: list[CanaryEvent]


class RolloutList(BaseModel):
    """`rollout status`: rollouts, newest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    rollouts: list[RolloutStatus]


class RolloutResult(BaseModel):
    """How a rollout ended: the record, its events, and the alias it moved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    rollout: CanaryRecord
    events: list[CanaryEvent]
    promoted: dict[str, str] | None = None


# --------------------------------------------------------------------------- metrics


def metrics_files(ctx: Context, target: str) -> PrometheusFiles:
    if ctx.root is None:
        raise InputError("the local Prometheus keeps its files in a workspace folder; open one")
    return PrometheusFiles((ctx.root / METRICS_FOLDER / target).resolve())


def _port_file(files: PrometheusFiles) -> Path:
    return files.folder / "port"


def start_metrics(ctx: Context, target: str = "local", *, port: int | None = None) -> MetricsStatus:
    """Start Prometheus on 127.0.0.1:`port`, scraping the target's Triton metrics and its
    gateway's exporter every second.

    Raises:
        InputError: the target names a production Prometheus, has no metrics URL, or
            prometheus is not installed.
        Conflict: one runs already, or the port is in use.
    """
    config = ctx.target(target)
    if config.prometheus_url:
        raise InputError(
            f"target {target!r} uses the Prometheus at {config.prometheus_url} "
            "(prometheus_url in modelyard.yaml); nothing to start"
        )
    if not config.metrics_url:
        raise InputError(
            f"target {target!r} has no metrics_url (Triton's --metrics-port) in "
            "modelyard.yaml; add it, e.g. metrics_url: http://127.0.0.1:8002"
        )
    files = metrics_files(ctx, target)
    port = port or _recorded_port(files) or DEFAULT_METRICS_PORT
    gateway = traffic.gateway_status(ctx, target)
    text = render_config(
        host_port(config.metrics_url), f"127.0.0.1:{gateway.port}" if gateway.port else None
    )
    pid = files.start(port, text)
    _port_file(files).write_text(f"{port}\n")
    # The first scrape comes seconds after start (TRAFFIC-FACTS.md): a rollout begun
    # before it would find no latency to compare.
    client = PrometheusClient(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + FIRST_SCRAPE_TIMEOUT_S
    jobs = 2 if gateway.port else 1
    while time.monotonic() < deadline:
        up = client.targets_up()
        if len(up) >= jobs:  # scraped once (a target down shows in the status)
            break
        time.sleep(0.2)
    audit(ctx, "metrics.start", f"metrics {target}", None, {"port": port, "pid": pid})
    return metrics_status(ctx, target)


def stop_metrics(ctx: Context, target: str = "local") -> MetricsStatus:
    """Stop the target's local Prometheus (NotFound if none runs)."""
    ctx.target(target)
    files = metrics_files(ctx, target)
    pid = files.stop()
    if pid is None:
        raise NotFound(f"no Prometheus runs for target {target!r}")
    audit(ctx, "metrics.stop", f"metrics {target}", {"pid": pid}, None)
    return metrics_status(ctx, target)


def metrics_status(ctx: Context, target: str = "local") -> MetricsStatus:
    config = ctx.target(target)
    if config.prometheus_url:
        client = PrometheusClient(config.prometheus_url)
        running = client.is_ready()
        return MetricsStatus(
            target=target,
            kind="production",
            running=running,
            url=config.prometheus_url,
            pid=None,
            folder=None,
            scrapes=client.targets_up() if running else {},
        )
    files = metrics_files(ctx, target) if ctx.root else None
    pid = files.pid() if files else None
    port = _recorded_port(files) if files else None
    url = f"http://127.0.0.1:{port}" if pid and port else None
    return MetricsStatus(
        target=target,
        kind="local" if pid else "none",
        running=pid is not None,
        url=url,
        pid=pid,
        folder=str(files.folder) if files else None,
        scrapes=PrometheusClient(url).targets_up() if url else {},
    )


def _recorded_port(files: PrometheusFiles) -> int | None:
    try:
        return int(_port_file(files).read_text().strip())
    except (OSError, ValueError):
        return None


def prometheus_for(ctx: Context, target: str) -> PrometheusClient:
    """The Prometheus a rollout on `target` reads, checked to answer (InputError else)."""
    status = metrics_status(ctx, target)
    if status.kind == "production":
        assert status.url is not None
        client = PrometheusClient(status.url)
    elif status.url is not None:
        client = PrometheusClient(status.url)
    else:
        raise InputError(
            f"no Prometheus for target {target!r}: start one with `modelyard metrics start "
            f"--target {target}`, or set prometheus_url on the target; nothing changed"
        )
    client.check()
    return client


# --------------------------------------------------------------------------- rollouts


def rollout_canary(
    ctx: Context,
    reference: str,
    to: str,
    *,
    steps: str = "5,25,50,100",
    interval: str = "60s",
    max_error_rate: float = 0.01,
    min_requests: int = 500,
    max_extensions: int = 3,
    max_latency_increase: float = 0.2,
    max_throughput_drop: float = 0.5,
    max_memory_drift: float = 0.1,
    check_latency: bool = True,
    target: str = "local",
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_started: Callable[[CanaryRecord], None] | None = None,
) -> RolloutResult:
    """Roll `to` out to `reference`'s clients step by step, analysing each step.

    `check_latency` (default on): compare the candidate's p99 with its SLA
    (`sla_requirements.max_latency_p99_ms`) and its mean latency with the baseline's.
    `on_started` is called with the record once every check passed and the rollout is
    recorded, before the first step changes anything (the API answers then, while this
    call goes on driving the steps in the background).

    Raises:
        InputError: bad steps, interval or thresholds, no reachable Prometheus, no latency
            of the model in it when a latency check is asked, `to` serves already;
            nothing changed.
        NotFound: an unknown model or version, no gateway for the target.
        Conflict: another rollout of the model runs (alive), or an experiment runs on it
            without `to` as an arm.
        RolloutFailed: the candidate did not load or answer (it got no weight).
    """
    # Everything is checked before anything changes.
    model_id = traffic.experiment_model(reference)
    plan = parse_steps(steps)
    interval_s = parse_interval(interval)
    candidate = traffic._version(ctx, model_id, to, "--to")
    # Every spec has an SLA: the manifest's, or the catalog's default (100 ms), as for
    # every other use of `sla_requirements`.
    sla = candidate.spec.sla_requirements.max_latency_p99_ms if check_latency else None
    thresholds = Thresholds(
        max_error_rate=max_error_rate,
        min_requests=min_requests,
        max_extensions=max_extensions,
        max_latency_increase=max_latency_increase,
        sla_p99_ms=sla,
        max_throughput_drop=max_throughput_drop,
        max_memory_drift=max_memory_drift,
        declared_memory_mb=candidate.spec.resource_requirements.memory_mb,
        declared_gpu_memory_mb=candidate.spec.resource_requirements.gpu_memory_mb,
    )
    thresholds.check()
    prometheus = prometheus_for(ctx, target)
    if sla is not None:
        _check_latency_known(prometheus, traffic._triton_name(ctx, model_id), candidate.spec.ref)
    files = traffic._running_files(ctx, target)
    log = CanaryLog(ctx.store)
    interrupted = []
    for running in log.running(model_id):
        if running.target != target:
            continue
        if not is_interrupted(running, now=ctx.clock()):
            raise Conflict(
                f"rollout {running.id} of {model_id} runs on target {target!r} (driver "
                f"{running.holder}); `modelyard rollout abort {model_id}` first; nothing changed"
            )
        interrupted.append(running)
    version = candidate.spec.version
    experiment = ExperimentLog(ctx.store).running(model_id, target)
    # An interrupted rollout's experiment is about to be stopped: no conflict with it.
    owned = {r.experiment for r in interrupted}
    if (
        experiment is not None
        and experiment.id not in owned
        and version not in {a.version for a in experiment.arms}
    ):
        raise Conflict(
            f"experiment {experiment.id} runs on {model_id} without {version} as an arm; stop "
            "it first (`modelyard experiment stop`); nothing changed"
        )
    # An interrupted rollout of the model is closed first: back to its baseline.
    for running in interrupted:
        _restore(ctx, running, "interrupted; a new rollout took over")
        experiment = ExperimentLog(ctx.store).running(model_id, target)
    if experiment is not None:
        baseline = next(a.version for a in experiment.arms if a.version != version)
    else:
        baseline = traffic._served_version(ctx, model_id, target)
    if Version.parse(baseline) == Version.parse(version):
        raise InputError(
            f"{model_id} serves {version} on target {target!r} already; nothing changed"
        )
    settings: dict[str, Any] = {**asdict(thresholds), "take_over": experiment is not None}
    record = log.start(
        model_id,
        target,
        baseline=baseline,
        candidate=version,
        steps=plan,
        interval_s=interval_s,
        settings=settings,
        holder=default_holder(),
        actor=ctx.actor,
        now=ctx.clock(),
    )
    say = progress or (lambda _line: None)
    say(f"rollout {record.id}: {model_id} {baseline} -> {version}, steps {plan}, {interval_s:g} s")
    if on_started is not None:
        on_started(record)
    driver = _Driver(ctx, log, record, prometheus, thresholds, files, say, sleep)

    # Beaten by a thread, not between steps: loading the candidate or one slow look can
    # outlast the staleness limit, and a live driver taken for a dead one would be
    # taken over by the next `rollout` of the model.
    def beat() -> None:
        log.heartbeat(record.id, now=ctx.clock())

    with Heartbeat(beat, HEARTBEAT_S, f"rollout-{record.id}"):
        return driver.run(taken_over=experiment is not None)


def weight_line(step: int, candidate: str, weight: int) -> str:
    """What a rollout prints when a step sets the candidate's weight (here and remotely)."""
    return f"step {step}: {candidate} at {weight} %"


def analysis_line(step: int, outcome: str | None, reason: str | None) -> str:
    """What a rollout prints when a step is analysed (here and remotely)."""
    return f"step {step} analysis: {outcome}: {reason}"


def _check_latency_known(prometheus: PrometheusClient, name: str, ref: str) -> None:
    """InputError unless Prometheus has Triton's latency summaries of the model: without
    them there is nothing to compare with the SLA and the baseline."""
    if not prometheus.query(f'count(nv_inference_request_summary_us{{model="{name}"}})'):
        raise InputError(
            f"{ref}: Prometheus at {prometheus.url} has no latency of Triton model {name} "
            "(nv_inference_request_summary_us) to compare with its SLA: Triton must run "
            "with --metrics-config summary_latencies=true and be scraped (`modelyard "
            "metrics status`), and the model must have answered; or pass "
            "--no-check-latency; nothing changed"
        )


class _Driver:
    """The steps of one rollout, recorded as they happen."""

    def __init__(
        self,
        ctx: Context,
        log: CanaryLog,
        record: CanaryRecord,
        prometheus: PrometheusClient,
        thresholds: Thresholds,
        files: Any,
        say: Callable[[str], None],
        sleep: Callable[[float], None],
    ) -> None:
        self.ctx = ctx
        self.log = log
        self.record = record
        self.prometheus = prometheus
        self.thresholds = thresholds
        self.files = files
        self.say = say
        self.sleep = sleep
        self.start_counts: dict[str, ArmCounts] = {}
        self.experiment_id: int | None = None
        self.window_s = record.interval_s
        # The baseline's completed requests per second per unit of weight at the last
        # step it had weight: the throughput reference of a step where it has none.
        self.baseline_rate: float | None = None

    def run(self, *, taken_over: bool) -> RolloutResult:
        record = self.record
        steps = record.steps
        try:
            for index, percent in enumerate(steps, 1):
                if not self._still_running():
                    return self._result(ok=False)
                self._set_weight(index, percent, first=index == 1 and not taken_over)
                extension = 0
                while True:
                    if not self._hold(record.interval_s):
                        return self._result(ok=False)
                    analysis = self._analyse(index, len(steps), extension, percent)
                    if analysis.outcome == "inconclusive":
                        extension += 1
                        continue
                    break
                if analysis.outcome == "failed":
                    self._fail(index, percent, analysis.reason)
                    return self._result(ok=False)
                self.say(f"step {index} ({percent} %) passed: {analysis.reason}")
            return self._promote(len(steps))
        except ModelyardError as exc:
            self._fail(self.record.step, self.record.weight, f"stopped by an error: {exc.message}")
            raise
        except KeyboardInterrupt:
            # Ctrl-C: back to the baseline before leaving, not half-way (a SIGKILL leaves
            # it running; `rollout status` then shows it interrupted).
            self.record = _restore(self.ctx, self.log.get(self.record.id), "stopped by Ctrl-C")
            raise

    # A rollout aborted from elsewhere (`rollout abort`) is finished in the catalog: the
    # driver stops at its next heartbeat and changes nothing more.
    def _still_running(self) -> bool:
        self.record = self.log.get(self.record.id)
        return self.record.state == "running"

    def _set_weight(self, index: int, percent: int, *, first: bool) -> None:
        record = self.record
        arms = weights_at(percent, record.baseline, record.candidate)
        if first:
            result = traffic.start_experiment(self.ctx, record.model, arms, target=record.target)
        else:
            result = traffic.set_weights(self.ctx, record.model, arms, target=record.target)
        self.experiment_id = result.experiment.id
        if index == 1:
            counts = self.files.counters()
            self.start_counts = {
                v: counts.get(f"{self.experiment_id}/{v}", ArmCounts())
                for v in (record.baseline, record.candidate)
            }
        self.log.add_event(
            record,
            "weight",
            step=index,
            weight=percent,
            actor=self.ctx.actor,
            figures={"weights": result.experiment.weights},
            experiment=self.experiment_id,
            now=self.ctx.clock(),
        )
        self.record = self.log.get(record.id)
        self.say(weight_line(index, record.candidate, percent))

    def _hold(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sleep(min(HEARTBEAT_S, left))
            if not self._still_running():
                return False
        return True

    def _figures(self, percent: int) -> tuple[ArmFigures, ArmFigures]:
        record = self.record
        self.sleep(SCRAPE_WAIT_S)
        counts = self.files.counters()
        by_version = traffic._versions_of(self.ctx, record.model)
        triton = {v: by_version[v].triton_version for v in (record.baseline, record.candidate)}
        name = traffic._triton_name(self.ctx, record.model)
        p99 = self.prometheus.p99_ms(name, list(triton.values()))
        mean = self.prometheus.mean_ms(name, list(triton.values()), self.window_s)
        rps = self.prometheus.completed_rps(name, list(triton.values()), self.window_s)
        shares = {record.baseline: (100 - percent) / 100, record.candidate: percent / 100}
        arms = []
        for version in (record.baseline, record.candidate):
            now = counts.get(f"{self.experiment_id}/{version}", ArmCounts())
            before = self.start_counts.get(version, ArmCounts())
            memory = _instance_memory(self.ctx, record.target, name, by_version[version])
            arms.append(
                ArmFigures(
                    requests=now.requests - before.requests,
                    errors=now.errors - before.errors,
                    p99_ms=p99.get(triton[version]),
                    mean_ms=mean.get(triton[version]),
                    share=shares[version],
                    throughput_rps=rps.get(triton[version]),
                    memory_mb=memory[0],
                    gpu_memory_mb=memory[1],
                )
            )
        return arms[0], arms[1]

    def _analyse(self, index: int, steps: int, extension: int, percent: int) -> Analysis:
        baseline, candidate = self._figures(percent)
        analysis = analyse(
            baseline,
            candidate,
            step=index,
            steps=steps,
            extension=extension,
            thresholds=self.thresholds,
            reference_rps_per_weight=self.baseline_rate,
        )
        if baseline.throughput_rps is not None and baseline.share > 0:
            self.baseline_rate = baseline.throughput_rps / baseline.share
        self.log.add_event(
            self.record,
            "analysis",
            step=index,
            weight=percent,
            actor=self.ctx.actor,
            outcome=analysis.outcome,
            reason=analysis.reason,
            figures=analysis.figures,
            now=self.ctx.clock(),
        )
        self.record = self.log.get(self.record.id)
        self.say(analysis_line(index, analysis.outcome, analysis.reason))
        return analysis

    def _fail(self, index: int, percent: int, reason: str) -> None:
        record = self.record
        if record.state != "running":
            return
        _back_to_baseline(self.ctx, record)
        self.log.add_event(
            record,
            "decision",
            step=index,
            weight=0,
            actor=self.ctx.actor,
            outcome="failed",
            reason=f"rolled back to {record.baseline}: {reason}",
            now=self.ctx.clock(),
        )
        self.record = self.log.finish(
            self.log.get(record.id),
            "failed",
            f"step {index} ({percent} %) failed, rolled back to {record.baseline}: {reason}",
            weight=0,
            actor=self.ctx.actor,
            now=self.ctx.clock(),
        )
        self.say(f"failed: {self.record.reason}")

    def _promote(self, steps: int) -> RolloutResult:
        record = self.record
        result = traffic.stop_experiment(
            self.ctx, record.model, record.candidate, target=record.target
        )
        self.log.add_event(
            record,
            "decision",
            step=steps,
            weight=100,
            actor=self.ctx.actor,
            outcome="passed",
            reason=f"every step passed; {record.candidate} kept",
            figures={"promoted": result.promoted or {}},
            now=self.ctx.clock(),
        )
        self.record = self.log.finish(
            self.log.get(record.id),
            "succeeded",
            f"every step passed; {record.candidate} serves every request"
            + (f" and is {result.promoted['alias']}" if result.promoted else ""),
            weight=100,
            actor=self.ctx.actor,
            now=self.ctx.clock(),
        )
        self.say(self.record.reason or "")
        return self._result(ok=True, promoted=result.promoted)

    def _result(self, *, ok: bool, promoted: dict[str, str] | None = None) -> RolloutResult:
        record = self.log.get(self.record.id)
        return RolloutResult(
            ok=ok, rollout=record, events=self.log.events(record.id), promoted=promoted
        )


def _instance_memory(
    ctx: Context, target: str, name: str, stored: StoredVersion
) -> tuple[float | None, float | None]:
    """(host, GPU) MB per instance of the version now, None where not measured: Triton's
    `memory_usage` (GPU memory where the backend reports it: TensorRT, ONNX Runtime on a
    GPU) and its python-backend stubs' resident sets when Triton runs on this machine.
    Triton's `nv_gpu_memory_used_bytes` is per device, not per model, so it says nothing
    about one version."""
    config = ctx.target(target)
    repository = None if config.repository.startswith("s3://") else Path(config.repository)
    resources = stored.spec.resource_requirements
    try:
        with TritonClient(config.url, timeout_s=MEMORY_TIMEOUT_S) as client:
            drift = measure_memory(
                client,
                repository,
                name,
                stored.triton_version,
                resources,
                resources.instance_count,
            )
    except ModelyardError:
        return None, None  # its errors and latency are judged from the counters
    return drift.memory_mb, drift.gpu_memory_mb


def _back_to_baseline(ctx: Context, record: CanaryRecord) -> None:
    """Every request of the model to the rollout's baseline: its experiment stopped
    keeping the baseline (no alias moves)."""
    experiment = ExperimentLog(ctx.store).running(record.model, record.target)
    if experiment is None or record.baseline not in {a.version for a in experiment.arms}:
        return
    traffic.stop_experiment(ctx, record.model, record.baseline, target=record.target, promote=None)


def _restore(ctx: Context, record: CanaryRecord, why: str) -> CanaryRecord:
    log = CanaryLog(ctx.store)
    # Finished first: a driver still alive stops at its next heartbeat.
    finished = log.finish(
        record,
        "aborted",
        f"{why}; every request back to {record.baseline}",
        weight=0,
        actor=ctx.actor,
        now=ctx.clock(),
    )
    _back_to_baseline(ctx, record)
    return finished


def abort_rollout(ctx: Context, reference: str, *, target: str = "local") -> RolloutStatus:
    """Send every request of the model's running (or interrupted) rollout back to its
    baseline at once; the alias stays.

    Raises:
        NotFound: the model has no running rollout on the target.
    """
    model_id = traffic.experiment_model(reference)
    ctx.store.get(model_id)
    running = [r for r in CanaryLog(ctx.store).running(model_id) if r.target == target]
    if not running:
        raise NotFound(f"no rollout of {model_id} runs on target {target!r}; nothing changed")
    record = running[0]
    interrupted = is_interrupted(record, now=ctx.clock())
    finished = _restore(ctx, record, "interrupted, then aborted" if interrupted else "aborted")
    return _status(ctx, finished)


def rollout_status(
    ctx: Context, reference: str | None = None, *, target: str | None = None, limit: int = 20
) -> RolloutList:
    """Rollouts (of one model, or all), newest first, each with its events."""
    model_id = traffic.experiment_model(reference) if reference else None
    if model_id is not None:
        ctx.store.get(model_id)
    records = CanaryLog(ctx.store).history(model_id=model_id, target=target, limit=limit)
    return RolloutList(rollouts=[_status(ctx, r) for r in records])


def rollout_detail(ctx: Context, rollout_id: int) -> RolloutStatus:
    """One rollout by id with its events (NotFound if there is none)."""
    return _status(ctx, CanaryLog(ctx.store).get(rollout_id))


def interrupted_rollouts(ctx: Context) -> list[CanaryRecord]:
    """Rollouts recorded running whose driver is gone (for `doctor`)."""
    now = ctx.clock()
    return [r for r in CanaryLog(ctx.store).running() if is_interrupted(r, now=now)]


def _status(ctx: Context, record: CanaryRecord) -> RolloutStatus:
    return RolloutStatus(
        rollout=record,
        interrupted=is_interrupted(record, now=ctx.clock()),
        events=CanaryLog(ctx.store).events(record.id),
    )


def is_interrupted(record: CanaryRecord, *, now: datetime | None = None) -> bool:
    """A running rollout whose driver is dead: no heartbeat for two intervals, or its
    process gone on this host."""
    if record.state != "running":
        return False
    now = now or datetime.now(UTC)
    stale = timedelta(seconds=max(STALE_INTERVALS * record.interval_s, 2 * HEARTBEAT_S + 1))
    if now - record.heartbeat_at > stale:
        return True
    return _holder_dead(record.holder)


def _holder_dead(holder: str) -> bool:
    """Whether a `user@host:pid/token` holder names a process of this host that is gone."""
    try:
        host, rest = holder.split("@", 1)[1].rsplit(":", 1)
        pid = int(rest.split("/", 1)[0])
    except (IndexError, ValueError):
        return False
    if host != socket.gethostname():
        return False  # another host's process: only its heartbeat tells
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return not _exists(pid)
    return state == "Z"


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
