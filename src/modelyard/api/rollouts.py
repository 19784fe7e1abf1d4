"""Canary rollouts started through the API: each is driven in a thread of the server by
the same use case `modelyard rollout` runs (ops.canary.rollout_canary).

The request waits until every check has passed and the rollout is recorded in the
catalog, so bad input is one 4xx answer that changed nothing; then it answers 202 and
the thread goes on driving the steps. The catalog's record is the job: its steps,
analyses and decisions are written as they happen, its heartbeat names this server's
process, so a server that dies mid-rollout leaves it `interrupted` (as a killed CLI
does), and a server shut down cleanly sends each of its rollouts back to the baseline.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.ops import canary
from modelyard.ops.canary import RolloutStatus
from modelyard.store.canary import CanaryRecord
from modelyard.workspace import Workspace

# The checks before a rollout starts query Prometheus (5 s timeouts) and the catalog.
START_TIMEOUT_S = 60.0
# A driver stops at its next heartbeat (1 s) once its rollout is finished in the catalog.
STOP_WAIT_S = 5.0


class RolloutRuns:
    """The rollouts this server drives, one thread each."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._running: dict[int, tuple[CanaryRecord, threading.Thread]] = {}

    def start(self, reference: str, to: str, *, actor: str, **settings: Any) -> RolloutStatus:
        """Start the rollout in the background once it is checked and recorded.

        Raises:
            ModelyardError: whatever `rollout_canary` raises before it changes anything.
        """
        ctx = self.workspace.context(actor)
        started: queue.Queue[CanaryRecord | ModelyardError] = queue.Queue()

        def drive() -> None:
            record: CanaryRecord | None = None

            def on_started(found: CanaryRecord) -> None:
                nonlocal record
                record = found
                with self._lock:
                    self._running[found.id] = (found, threading.current_thread())
                started.put(found)

            try:
                canary.rollout_canary(ctx, reference, to, on_started=on_started, **settings)
            except ModelyardError as exc:
                if record is None:
                    started.put(exc)
                # Otherwise the driver recorded the failure in the rollout already.
            except Exception as exc:  # the thread's outermost edge
                if record is None:
                    started.put(
                        ModelyardError(f"the rollout did not start: {type(exc).__name__}: {exc}")
                    )
                else:  # never left half-way: back to the baseline
                    with contextlib.suppress(ModelyardError):
                        canary.abort_rollout(ctx, record.model, target=record.target)
            finally:
                if record is not None:
                    with self._lock:
                        self._running.pop(record.id, None)

        thread = threading.Thread(target=drive, name=f"rollout-{reference}", daemon=True)
        thread.start()
        try:
            found = started.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise ModelyardError(
                f"the rollout of {reference} was not checked in {START_TIMEOUT_S:g} s; see "
                "GET /api/v1/rollouts for whether it started"
            ) from None
        if isinstance(found, ModelyardError):
            raise found
        return canary.rollout_status(ctx, found.model, target=found.target).rollouts[0]

    def stop_all(self) -> None:
        """Every rollout this server drives back to its baseline (at shutdown)."""
        with self._lock:
            running = list(self._running.values())
        ctx = self.workspace.context("modelyard server")
        for record, _thread in running:
            with contextlib.suppress(ModelyardError):
                canary.abort_rollout(ctx, record.model, target=record.target)
        for _record, thread in running:
            thread.join(STOP_WAIT_S)
