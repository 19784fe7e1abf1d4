"""Tiny HTTP servers for tests (webhook receivers, slow upstreams)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not print a line per request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        """Nothing: the tests read what the handler recorded, not the access log."""
