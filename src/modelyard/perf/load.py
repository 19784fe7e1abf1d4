"""The load generator: `concurrency` threads sending one request after another.

Each level stops by itself, at `max_requests` measured requests or after `duration_s`,
whichever comes first; a hard ceiling of twice the duration plus the client timeout
stops waiting on a server that hangs. Warm-up requests (first connections, lazy
initialisation in the backend) are sent first at the same concurrency and reported
apart, never mixed into the figures.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelyard.errors import TritonError
from modelyard.triton.client import TritonClient
from modelyard.triton.inputs import RequestInputs

# Called about ten times a second while a level runs: (phase, requests done, planned).
LoadProgress = Callable[[str, int, int], None]

MAX_ERROR_SAMPLES = 5


@dataclass
class RawLevel:
    """What one level's threads saw: latencies of the measured requests, in seconds."""

    concurrency: int
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warmup_latencies_s: list[float] = field(default_factory=list)
    first_start_s: float | None = None
    last_end_s: float | None = None
    stopped_by: str = "requests"

    @property
    def window_s(self) -> float:
        if self.first_start_s is None or self.last_end_s is None:
            return 0.0
        return max(self.last_end_s - self.first_start_s, 1e-9)

    @property
    def throughput_rps(self) -> float:
        return len(self.latencies_s) / self.window_s if self.latencies_s else 0.0


class _Tickets:
    """Hands out at most `limit` request slots until `deadline`; thread-safe."""

    def __init__(self, limit: int, deadline: float) -> None:
        self.limit = limit
        self.deadline = deadline
        self.issued = 0
        self.done = 0
        self.stopped_by = "requests"
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.issued >= self.limit:
                return False
            if time.perf_counter() >= self.deadline:
                self.stopped_by = "time"
                return False
            self.issued += 1
            return True

    def finish(self) -> None:
        with self._lock:
            self.done += 1


def client_overhead_s(client: TritonClient, samples: int = 20) -> float:
    """The median round trip of `GET v2/health/ready`: HTTP and client cost per request."""
    client.ready_round_trip_s()  # the first one opens the connection
    return statistics.median(client.ready_round_trip_s() for _ in range(max(1, samples)))


def run_level(
    url: str,
    model: str,
    version: int | None,
    inputs: RequestInputs,
    *,
    concurrency: int,
    max_requests: int,
    duration_s: float,
    warmup_requests: int,
    timeout_s: float = 30.0,
    progress: LoadProgress | None = None,
    before_measuring: Callable[[], None] | None = None,
) -> RawLevel:
    """Warm up, then measure one concurrency level.

    `before_measuring` runs between warm-up and measurement (to read Triton's counters
    right before the measured requests). Raises TritonError if no request succeeded.
    """
    raw = RawLevel(concurrency)
    lock = threading.Lock()
    clients = [TritonClient(url, timeout_s=timeout_s) for _ in range(concurrency)]

    def phase(name: str, tickets: _Tickets, measured: bool) -> None:
        def worker(client: TritonClient) -> None:
            while tickets.take():
                began = time.perf_counter()
                try:
                    client.infer(model, inputs, version=version)
                except TritonError as exc:
                    with lock:
                        if measured:
                            raw.errors += 1
                        if len(raw.error_samples) < MAX_ERROR_SAMPLES:
                            raw.error_samples.append(exc.message)
                    tickets.finish()
                    continue
                ended = time.perf_counter()
                with lock:
                    if measured:
                        raw.latencies_s.append(ended - began)
                        raw.first_start_s = (
                            began if raw.first_start_s is None else min(raw.first_start_s, began)
                        )
                        raw.last_end_s = (
                            ended if raw.last_end_s is None else max(raw.last_end_s, ended)
                        )
                    else:
                        raw.warmup_latencies_s.append(ended - began)
                tickets.finish()

        threads = [
            threading.Thread(target=worker, args=(c,), daemon=True, name=f"perf-{name}-{i}")
            for i, c in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        # A worker blocked on a hung server ends with its client's timeout at the latest.
        give_up = time.perf_counter() + 2 * duration_s + timeout_s + 5
        while any(t.is_alive() for t in threads) and time.perf_counter() < give_up:
            if progress is not None:
                progress(name, tickets.done, tickets.limit)
            time.sleep(0.1)
        if progress is not None:
            progress(name, tickets.done, tickets.limit)
        if measured:
            raw.stopped_by = tickets.stopped_by

    try:
        if warmup_requests > 0:
            phase("warm-up", _Tickets(warmup_requests, time.perf_counter() + duration_s), False)
        if before_measuring is not None:
            before_measuring()
        phase("measuring", _Tickets(max_requests, time.perf_counter() + duration_s), True)
    finally:
        for client in clients:
            client.close()
    if not raw.latencies_s:
        detail = f": {raw.error_samples[0]}" if raw.error_samples else ""
        raise TritonError(
            f"model {model}: no request succeeded at concurrency {concurrency}{detail}"
        )
    return raw
