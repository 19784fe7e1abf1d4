"""The request guard: a pure ASGI middleware that runs before FastAPI reads a byte of a body.

FastAPI reads (and parses) a whole request body before any dependency runs, authentication
included: six unauthenticated 200 MB posts once cost the server 2 GB. In front of it, in
this order:

1. In open mode (api.open_mode), a `Host` that is not this machine is refused, 421.
2. A request carrying a token (header, cookie or login form) from an address out of
   failed attempts (api.limits) is refused, 429, without a catalog lookup.
3. A declared `Content-Length` above the limit is refused, 413, before anything is read.
4. A change (any method but GET, HEAD, OPTIONS) is authenticated from its
   `Authorization` header alone (a cookie never authorizes a change): 401 or 429 before
   its body is read. The login form (POST /ui/login) is the exception: it carries the
   token, and gets a 16 KiB limit instead.
5. The body of a change is read here, at most up to the limit (a chunked body that
   streams past it is answered 413 as soon as it does), then handed to FastAPI.

A request answered early is never read further: the server (uvicorn) discards the rest
of the body as it arrives, so memory stays flat whatever a client sends. Safe methods'
bodies are never read at all (no GET route takes one).
"""

from __future__ import annotations

from anyio import to_thread
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api.auth import COOKIE, authenticate, bearer_secret
from modelyard.api.limits import LOGIN_MAX_BODY_BYTES, MIB
from modelyard.api.problems import error_body, error_response
from modelyard.api.state import ApiState, client_address
from modelyard.errors import ModelyardError, TooManyAttempts

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST routes that authenticate from their body, not a header.
LOGIN_PATH = "/ui/login"
# The operator's GETs (app.py): no token, no catalog data, so no Host rule either (a
# probe or Prometheus names the server by its IP address).
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestGuard:
    """The checks of the module docstring, in front of `app`."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        connection = HTTPConnection(scope)
        headers = connection.headers
        method = scope["method"]
        is_login = scope["path"] == LOGIN_PATH and method == "POST"
        if scope["path"] in PROBE_PATHS and method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        if state.open_mode.may_be_open and not state.open_mode.allows_host(headers.get("host")):
            is_open = await to_thread.run_sync(state.open_mode.is_open, state.workspace.access)
            if is_open:
                await _misdirected(headers.get("host"), state.open_mode.ip_hosts)(
                    scope, receive, send
                )
                return

        client = client_address(connection)
        secret = bearer_secret(headers.get("authorization"))
        if secret or is_login or COOKIE in connection.cookies:
            # A throttled address is answered here, at the cost of a dictionary lookup:
            # a flood of guesses never reaches the catalog.
            try:
                state.failed_attempts.check(client)
            except TooManyAttempts as exc:
                await error_response(exc)(scope, receive, send)
                return

        limit = LOGIN_MAX_BODY_BYTES if is_login else state.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                answer = _problem("invalid_input", f"invalid Content-Length {declared!r}", 400)
                await answer(scope, receive, send)
                return
            if int(declared) > limit:
                await _too_large(limit, is_login)(scope, receive, send)
                return

        if method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        if not is_login:
            try:
                await to_thread.run_sync(lambda: authenticate(state, secret, client=client))
            except ModelyardError as exc:
                await error_response(exc)(scope, receive, send)
                return

        body = await _read_body(receive, limit)
        if body is None:
            await _too_large(limit, is_login)(scope, receive, send)
            return
        if isinstance(body, _Disconnected):
            return  # the client went away: nobody to answer
        await self.app(scope, _replay(body, receive), send)


class _Disconnected:
    """What `_read_body` returns when the client hung up before the body ended."""


async def _read_body(receive: Receive, limit: int) -> bytes | _Disconnected | None:
    """The whole body, None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read once, then whatever the client sends next
    (its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _problem(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(error_body(code, message, status), status_code=status)


def _too_large(limit: int, is_login: bool) -> JSONResponse:
    if is_login:
        message = f"the login form is larger than {LOGIN_MAX_BODY_BYTES // 1024} KiB"
    else:
        message = (
            f"the request body is larger than this server's limit of {limit / MIB:g} MiB; "
            "raise it with `api.max_body_mb` in modelyard.yaml or "
            "`modelyard server --max-body-mb`"
        )
    return _problem("payload_too_large", message, 413)


def _misdirected(host: str | None, ip_hosts: bool) -> JSONResponse:
    shown = repr(host) if host else "no Host header"
    hosts = "localhost or an IP address" if ip_hosts else "localhost, 127.0.0.1 or [::1]"
    return _problem(
        "misdirected_request",
        f"this server runs without tokens (open mode) and answers only requests for "
        f"{hosts}, not {shown} (a page of another site reaching "
        "it by DNS rebinding would be admin); use http://127.0.0.1:PORT, or create a "
        "token with `modelyard token create`",
        421,
    )
