"""Prometheus metrics of `modelyard server` (GET /metrics, prometheus_client's text format).

Requests are labelled by route template (`/api/v1/models/{domain}/{name}`), never by the
path itself: the label set stays bounded whatever clients ask for, and no model name,
token or query appears in the metrics. /metrics needs no token, like /healthz: it shows
route names, counts and durations only (put it behind the reverse proxy's rules if even
that is too much).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.store.jobs import JobLog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_STATES = ("running", "succeeded", "failed", "interrupted")
# Deploy jobs take seconds to an hour.
JOB_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


class _JobsByState(Collector):
    """`modelyard_deploy_jobs{state}`: the catalog's jobs, counted when scraped."""

    def __init__(self, log: JobLog) -> None:
        self.log = log

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "modelyard_deploy_jobs", "Deploy jobs in the catalog, by state.", labels=["state"]
        )
        counts = self.log.counts()
        for state in sorted({*JOB_STATES, *counts}):
            family.add_metric([state], counts.get(state, 0))
        yield family


class ServerMetrics:
    """The metrics of one application (their own registry: two apps in one process, as
    in tests, never share counters)."""

    def __init__(self, jobs: JobLog) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelyard_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "modelyard_http_errors",
            "HTTP requests answered with a server error (5xx), by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "modelyard_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.job_durations = Histogram(
            "modelyard_deploy_job_duration_seconds",
            "Time from a deploy job's start to its end, by final state.",
            ["state"],
            buckets=JOB_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(_JobsByState(jobs))

    def job_finished(self, state: str, duration_s: float) -> None:
        self.job_durations.labels(state).observe(duration_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template."""

    def __init__(
        self, app: ASGIApp, metrics: ServerMetrics, after_change: Callable[[], None] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Called after each change (not GET/HEAD/OPTIONS): the webhook worker looks at the
        # outbox at once rather than at its next poll.
        self.after_change = after_change

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope["method"])
            self.metrics.requests.labels(method, route, str(status)).inc()
            if status >= 500:
                self.metrics.errors.labels(method, route).inc()
            self.metrics.durations.labels(method, route).observe(time.perf_counter() - started)
            if self.after_change is not None and method not in ("GET", "HEAD", "OPTIONS"):
                self.after_change()
