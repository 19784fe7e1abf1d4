"""Calling an ASGI application directly, counting what it reads of a request body.

TestClient and httpx's ASGITransport hand the app the whole body whatever it reads; these
tests need to see that nothing (or no more than a limit) was read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class AsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    # Bytes of the request body the application pulled with `receive`.
    body_read: int
    messages_read: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    chunks: Iterable[bytes] = (),
    client: str = "127.0.0.1",
) -> AsgiAnswer:
    """One request to `app` with the body sent as `chunks` (a chunked body unless the
    headers declare a Content-Length); `body_read` counts what the app took of it."""
    return asyncio.run(acall(app, method, path, headers=headers, chunks=chunks, client=client))


async def acall(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    chunks: Iterable[bytes] = (),
    client: str = "127.0.0.1",
) -> AsgiAnswer:
    """`call` inside a running event loop (many requests in one loop cost far less)."""
    sent_headers = {"host": "127.0.0.1:8080", **{k.lower(): v for k, v in (headers or {}).items()}}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in sent_headers.items()],
        "client": (client, 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    pending = iter(chunks)
    upcoming: bytes | None = next(pending, b"")  # no chunks: one empty body
    answer = AsgiAnswer(status=0, headers={}, body=b"", body_read=0)
    body: list[bytes] = []
    done = asyncio.Event()

    async def receive() -> Message:
        nonlocal upcoming
        if upcoming is None:
            # Everything was sent: the client waits for the answer, then goes away.
            await done.wait()
            return {"type": "http.disconnect"}
        chunk, upcoming = upcoming, next(pending, None)
        answer.body_read += len(chunk)
        answer.messages_read += 1
        return {"type": "http.request", "body": chunk, "more_body": upcoming is not None}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    answer.body = b"".join(body)
    return answer
