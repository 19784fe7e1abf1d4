"""What one client may cost the server: request-body sizes and failed token attempts.

Failed attempts are counted per client address in a token bucket: an address starts with
`burst` attempts (10); each unknown token takes one (a revoked one is no guess), and one
comes back every `refill_s` (6 s, so 10 a minute). With none left, every request from
that address that carries a token is answered 429 with `Retry-After`, before the token is
looked at (else a throttled guesser would still learn which guess is right). The balance
may go below zero (guesses in flight together when the bucket ran dry): each of those
adds `refill_s` to the wait, so concurrency does not buy a faster rate. Successful
requests cost nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.errors import TooManyAttempts

MIB = 1024 * 1024
# The login form holds a token and a path: nothing near this size. It is read before any
# authentication, so it gets a cap of its own, far below `api.max_body_mb`.
LOGIN_MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class AttemptLimits:
    """The bucket of failed token attempts each client address gets."""

    burst: int = 10
    refill_s: float = 6.0
    # Addresses remembered at once; the least recently seen are forgotten first (an
    # attacker with many addresses gets a fresh bucket per address, never more memory).
    max_clients: int = 10_000


class FailedAttempts:
    """Failed token attempts per client address (see the module docstring); thread-safe,
    because FastAPI runs the authentication of sync routes in its thread pool."""

    def __init__(
        self, limits: AttemptLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or AttemptLimits()
        self._clock = clock
        self._lock = threading.Lock()
        # address -> (attempts left, when that was computed)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, client: str) -> None:
        """Let an attempt from `client` through, or refuse it.

        Raises:
            TooManyAttempts: the address has no attempt left; `retry_after_s` says when.
        """
        with self._lock:
            left = self._left(client, self._clock())
        if left < 1:
            wait_s = max(1, math.ceil((1 - left) * self.limits.refill_s))
            raise TooManyAttempts(
                f"too many failed token attempts from {client}: try again in {wait_s} s "
                f"({self.limits.burst} attempts, then one every {self.limits.refill_s:g} s)",
                retry_after_s=wait_s,
            )

    def failed(self, client: str) -> None:
        """Count one failed attempt from `client`."""
        with self._lock:
            now = self._clock()
            self._buckets[client] = (self._left(client, now) - 1, now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.limits.max_clients:
                self._buckets.popitem(last=False)

    def _left(self, client: str, now: float) -> float:
        left, since = self._buckets.get(client, (float(self.limits.burst), now))
        return min(float(self.limits.burst), left + (now - since) / self.limits.refill_s)
