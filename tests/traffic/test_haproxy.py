"""The gateway driver's runtime API against a real HAProxy in front of a slow HTTP server
(standing in for Triton): waiting for the requests HAProxy began before a route change."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from modelyard.traffic import haproxy
from modelyard.triton.server import free_port
from tests.support.gateway import needs_haproxy
from tests.support.http import QuietHandler

pytestmark = [pytest.mark.gateway, pytest.mark.slow, needs_haproxy]


class _Slow(QuietHandler):
    """Answers `GET /<seconds>` after that many seconds."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(float(self.path.strip("/")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[haproxy.GatewayFiles, str]]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    files = haproxy.GatewayFiles(tmp_path / "gw")
    port = free_port()
    haproxy.write_files(
        files, [], port=port, upstream=f"127.0.0.1:{upstream.server_port}", sticky_headers=[]
    )
    pids = haproxy.start(files)
    try:
        yield files, f"http://127.0.0.1:{port}"
    finally:
        haproxy.stop(files, pids)
        upstream.shutdown()
        upstream.server_close()


def _in_flight(http: httpx.Client, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: http.get(f"/{seconds}").raise_for_status())
    thread.start()
    return thread


def test_waiting_for_the_requests_begun_before_now(
    gateway: tuple[haproxy.GatewayFiles, str],
) -> None:
    files, url = gateway
    with httpx.Client(base_url=url, timeout=30) as http:
        # An idle keep-alive connection holds no stream: nothing to wait for.
        http.get("/0").raise_for_status()
        assert files.api.wait_answered(5.0) == set()
        slow = _in_flight(http, 1.0)
        while not files.api.streams():
            time.sleep(0.01)
        started = time.monotonic()
        assert files.api.wait_answered(10.0) == set()
        waited = time.monotonic() - started
        slow.join()
    assert 0.3 <= waited < 5.0, waited


def test_the_wait_gives_up_after_its_timeout_with_what_is_still_open(
    gateway: tuple[haproxy.GatewayFiles, str],
) -> None:
    files, url = gateway
    with httpx.Client(base_url=url, timeout=30) as http:
        slow = _in_flight(http, 2.0)
        deadline = time.monotonic() + 5.0
        while not files.api.streams() and time.monotonic() < deadline:
            time.sleep(0.01)
        pending = files.api.wait_answered(0.2)
        slow.join()
    assert len(pending) == 1
    assert files.api.wait_answered(5.0) == set()
