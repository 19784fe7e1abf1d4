"""A thread that records "still alive" every few seconds while a long piece of work
runs, so that a step longer than the staleness limit (a large model loading, a slow
analysis) does not make a live worker look dead; a killed process stops beating."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from modelyard.errors import ModelyardError


class Heartbeat:
    """Calls `beat` every `every_s` seconds between `__enter__` and `__exit__`."""

    def __init__(self, beat: Callable[[], None], every_s: float, name: str) -> None:
        self._beat, self._every_s = beat, every_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self._every_s):
            # The catalog was briefly unusable: the next beat tries again.
            with contextlib.suppress(ModelyardError):
                self._beat()
