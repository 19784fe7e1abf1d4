"""The FastAPI application: the REST API under /api/v1, the dashboard under /ui.

Errors: every ModelyardError becomes its `http_status` and one JSON shape,
`{"ok": false, "error": {"code", "message", "field"}, "errors": [problems], "status"}`;
so do FastAPI's own request validation errors (422) and unknown routes (404), and the
request guard's answers (api.guard: 401, 413, 421, 429 before a body is read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.api import dashboard, rollout_pages, routes
from modelyard.api.guard import RequestGuard
from modelyard.api.jobs import DeployJobs
from modelyard.api.limits import MIB, FailedAttempts
from modelyard.api.metrics import CONTENT_TYPE, MetricsMiddleware, ServerMetrics
from modelyard.api.open_mode import OpenMode
from modelyard.api.problems import error_body, error_response
from modelyard.api.state import ApiState
from modelyard.api.webhooks import BACKOFF_S, WebhookWorker
from modelyard.catalog.manifest import format_field
from modelyard.errors import ModelyardError, Problem, Severity
from modelyard.store.jobs import JobLog
from modelyard.store.store import head_revision
from modelyard.store.webhooks import WebhookLog
from modelyard.workspace import Workspace

# How long shutting down waits for running deploy jobs (each also has its own timeouts).
SHUTDOWN_WAIT_S = 30.0


def create_app(
    workspace: Workspace | Callable[[], Workspace],
    *,
    open_access: bool = False,
    open_ip_hosts: bool = False,
    max_body_mb: int | None = None,
    failed_attempts: FailedAttempts | None = None,
    deliver_webhooks: bool = True,
    webhook_backoff_s: float = BACKOFF_S,
) -> FastAPI:
    """The API and dashboard over one workspace (or a factory that opens it).

    Args:
        open_access: start in open mode (api.open_mode): requests need no token until
            the catalog holds one, and must name localhost as their `Host`;
            `modelyard server` allows this only on loopback (or with --insecure).
        open_ip_hosts: in open mode, also accept IP-address hosts (--insecure).
        max_body_mb: the request-body limit; None: `api.max_body_mb` of modelyard.yaml.
        failed_attempts: the failed-token-attempt limit (a test passes its own clock).
        deliver_webhooks: run the webhook delivery worker while the app runs (api.webhooks).
        webhook_backoff_s: the wait before a failed delivery's first retry (doubling).
    """
    opened = workspace if isinstance(workspace, Workspace) else workspace()
    _ = opened.store  # open (and migrate) the catalog now, not in the first request's thread
    jobs = DeployJobs(opened)
    metrics = ServerMetrics(JobLog(opened.store))
    jobs.on_finish = metrics.job_finished
    worker = WebhookWorker(
        WebhookLog(opened.store), opened.config.webhooks, backoff_s=webhook_backoff_s
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if deliver_webhooks:
            worker.start()
        yield
        if state.rollouts is not None:
            state.rollouts.stop_all()
        jobs.join_all(SHUTDOWN_WAIT_S)
        worker.stop()

    # No /docs or /redoc: FastAPI loads their JavaScript from a CDN, which many networks
    # running Triton cannot reach; /openapi.json is the schema.
    app = FastAPI(
        title="modelyard",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="The catalog of models served by NVIDIA Triton: models and "
        "versions, aliases, validation, plans, deployments, reports. "
        "Authenticate with `Authorization: Bearer <token>`.",
    )
    body_mb = max_body_mb if max_body_mb is not None else opened.config.api.max_body_mb
    state = ApiState(
        opened,
        jobs,
        open_mode=OpenMode(open_access, ip_hosts=open_ip_hosts),
        max_body_bytes=body_mb * MIB,
        failed_attempts=failed_attempts or FailedAttempts(),
    )
    app.state.modelyard = state
    app.state.webhooks = worker
    # Outermost but for Starlette's error middleware: nothing reads a body before it.
    app.add_middleware(RequestGuard, state=state)
    # Outside the guard: its early answers (401, 413, 429) are counted too.
    app.add_middleware(MetricsMiddleware, metrics=metrics, after_change=worker.wake)
    app.include_router(routes.router)
    app.include_router(dashboard.router)
    app.include_router(rollout_pages.router)
    app.add_exception_handler(ModelyardError, _modelyard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _errors_are_json(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, Any]:
        """The process is up (no token, and no catalog access: a liveness probe)."""
        return {"ok": True, "status": "alive"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready."}})
    def readyz() -> JSONResponse:
        """The catalog answers and is at the newest schema (503 with the reason if not)."""
        try:
            current = opened.store.schema_revision()
        except Exception as exc:
            reason = f"the catalog does not answer: {type(exc).__name__}: {exc}"
            return JSONResponse(error_body("not_ready", reason, 503), status_code=503)
        head = head_revision()
        if current != head:
            reason = (
                f"the catalog's schema is {current or 'empty'}, this server needs {head}; "
                "restart `modelyard server` (it migrates on start)"
            )
            return JSONResponse(error_body("not_ready", reason, 503), status_code=503)
        return JSONResponse({"ok": True, "status": "ready", "schema": current})

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Prometheus metrics: requests, errors, durations, deploy jobs (no token; route
        templates and counts only)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def home() -> RedirectResponse:
        # `modelyard server` prints http://HOST:PORT/ui/ as the dashboard's address.
        return RedirectResponse("/ui/catalog", status_code=303)

    return app


# What api.guard may answer to any operation, before the route runs.
GUARD_ANSWERS = {
    "413": "The body is larger than `api.max_body_mb` (`modelyard server --max-body-mb`).",
    "421": "Open mode (no tokens) answers only requests whose `Host` is localhost.",
    "429": "Too many failed token attempts from this address; see `Retry-After`.",
}


def _errors_are_json(schema: dict[str, Any]) -> dict[str, Any]:
    """Error answers are JSON even where the success is HTML or SVG (FastAPI would give
    them the route's media type); the request guard's answers are documented on every
    operation."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in GUARD_ANSWERS.items():
                responses.setdefault(status, {"description": description})
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = error
    return schema


async def _modelyard_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelyardError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = list(error.get("loc", ()))
        where = str(location[0]) if location else "request"
        field = format_field(location[1:]) if len(location) > 1 else where
        problems.append(
            Problem(
                Severity.ERROR,
                "invalid-request",
                str(error.get("msg", "")),
                source=where,
                field=field,
            )
        )
    message = "; ".join(f"{p.field}: {p.message}" for p in problems) or "invalid request"
    return JSONResponse(
        error_body("invalid_input", message, 422, problems=problems), status_code=422
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        error_body(code, str(exc.detail), exc.status_code),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    # The outermost edge: one JSON line, never a traceback, for anything unexpected.
    message = f"internal error: {type(exc).__name__}: {exc}"
    return JSONResponse(error_body("internal", message, 500), status_code=500)
