"""The webhook delivery worker of `modelyard server`: a thread that turns the catalog's
outbox (store.webhooks) into signed POSTs.

Each POST carries the event's JSON body and
- `X-Modelyard-Event`: the event (`alias.moved`, ...),
- `X-Modelyard-Delivery`: the delivery's id (a receiver may see a delivery twice: once
  per try whose answer it sent but the server did not get),
- `X-Modelyard-Signature`: `sha256=` and the hex HMAC-SHA256 of the body with the
  webhook's secret (the environment variable it names, read by the server).

A 2xx answer delivers it; anything else (another status, no connection, a timeout, no
secret) is logged and tried again after BACKOFF_S * 2^(tries-1), up to MAX_TRIES tries.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from modelyard.config import WebhookConfig
from modelyard.store.webhooks import DueDelivery, Webhook, WebhookLog

MAX_TRIES = 5
BACKOFF_S = 1.0
# How often the outbox is looked at: an event reaches its receiver within about this.
POLL_S = 0.2
POST_TIMEOUT_S = 5.0


def signature(secret: str, body: bytes) -> str:
    """The `X-Modelyard-Signature` of `body`: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def configured(webhooks: tuple[WebhookConfig, ...]) -> list[Webhook]:
    return [
        Webhook(
            id=None, url=w.url, secret_env=w.secret_env, events=w.events, source="modelyard.yaml"
        )
        for w in webhooks
    ]


class WebhookWorker:
    """Delivers the outbox in a daemon thread until stopped."""

    def __init__(
        self,
        log: WebhookLog,
        webhooks: tuple[WebhookConfig, ...] = (),
        *,
        environ: Mapping[str, str] | None = None,
        backoff_s: float = BACKOFF_S,
        max_tries: int = MAX_TRIES,
        poll_s: float = POLL_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.log = log
        self.configured = configured(webhooks)
        self.environ = environ if environ is not None else os.environ
        self.backoff_s = backoff_s
        self.max_tries = max_tries
        self.poll_s = poll_s
        self._client = httpx.Client(timeout=POST_TIMEOUT_S, transport=transport)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (a change was just made in this process)."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # The thread's outermost edge: a catalog locked or away, or anything else,
            # must not stop deliveries; the next round tries again.
            with contextlib.suppress(Exception):
                self.run_once()
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def run_once(self) -> int:
        """Dispatch new events, then send every due delivery; returns the tries made."""
        # Reads first: a write transaction every round would contend for SQLite's lock.
        if self.log.has_pending_events():
            self.log.dispatch(self.log.webhooks(self.configured))
        tries = 0
        while not self._stop.is_set():
            next_due = self.log.next_due()
            if next_due is None or next_due > datetime.now(UTC):
                break
            due = self.log.claim_due()
            if not due:
                break
            for delivery in due:
                self._send(delivery)
                tries += 1
        return tries

    def _send(self, delivery: DueDelivery) -> None:
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        secret = self.environ.get(delivery.secret_env)
        if not secret:
            error = (
                f"the secret's environment variable {delivery.secret_env} is not set in the "
                "server's environment; set it and restart `modelyard server`"
            )
        else:
            try:
                answer = self._client.post(
                    delivery.url,
                    content=delivery.body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "modelyard-webhooks",
                        "X-Modelyard-Event": delivery.event,
                        "X-Modelyard-Delivery": str(delivery.id),
                        "X-Modelyard-Signature": signature(secret, delivery.body),
                    },
                )
                status = answer.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {answer.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        duration_ms = (time.monotonic() - started) * 1000
        tries = delivery.attempts + 1
        retry_at = (
            datetime.now(UTC) + timedelta(seconds=self.backoff_s * 2 ** (tries - 1))
            if error is not None and tries < self.max_tries
            else None
        )
        self.log.record_attempt(
            delivery.id, status=status, error=error, duration_ms=duration_ms, retry_at=retry_at
        )
