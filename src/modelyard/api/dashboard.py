"""The dashboard: server-rendered pages over the same Workspace calls and permissions as
the API. The token typed at /ui/login is kept in sessionStorage (sent as a Bearer header
by the pages' JavaScript for changes) and in a SameSite cookie that GET pages read.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from modelyard.api.auth import COOKIE, Principal, authenticate
from modelyard.api.state import LIVE_READ_TIMEOUT_S, api_state
from modelyard.errors import ModelyardError, Unauthenticated
from modelyard.report.graphs import render_svg, to_dot

router = APIRouter(prefix="/ui", include_in_schema=False)
_environment: Environment | None = None


def _templates() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=PackageLoader("modelyard.api", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
        )
    return _environment


def _page(template: str, caller: Principal | None, **values: Any) -> HTMLResponse:
    html = _templates().get_template(template).render(caller=caller, **values)
    return HTMLResponse(html)


def _caller(request: Request) -> Principal | None:
    try:
        return authenticate(api_state(request), request.cookies.get(COOKIE))
    except Unauthenticated:
        return None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


@router.get("/login")
def login(request: Request, next: str = "/ui/catalog") -> Response:
    # Only paths of this site: never an absolute URL (an open redirect).
    safe_next = next if next.startswith("/") and not next.startswith("//") else "/ui/catalog"
    return _page("login.html.j2", _caller(request), next=safe_next, title="Log in")


@router.get("/catalog")
def catalog(
    request: Request,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    framework: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    every = ws.list_models()
    shown = ws.list_models(domain=domain or None, team=team or None, framework=framework or None)
    shown.sort(key=lambda s: s.id)
    return _page(
        "catalog.html.j2",
        caller,
        title="Catalog",
        models=shown,
        statuses=ws.version_statuses({s.id for s in shown}),
        domains=sorted({s.domain for s in every}),
        teams=sorted({s.owner_team for s in every}),
        frameworks=sorted({s.framework for s in every}),
        selected={"domain": domain or "", "team": team or "", "framework": framework or ""},
    )


@router.get("/models/{domain}/{name}")
def model(
    request: Request,
    domain: str,
    name: str,
    version: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    reference = f"{domain}/{name}@{version}" if version else f"{domain}/{name}"
    try:
        shown = ws.show(reference)
    except ModelyardError as exc:
        return _page("error.html.j2", caller, title="Not found", error=exc.message)
    spec = shown.spec
    graph_svg, graph_error = None, None
    try:
        graph_svg = render_svg([to_dot(ws.graph_view(spec.ref))])[0]
    except ModelyardError as exc:
        graph_error = exc.message
    live: list[dict[str, Any]] = []
    names = sorted({*ws.config.targets, *(r.target for r in ws.history(limit=50))})
    for read in ws.statuses(names, timeout_s=LIVE_READ_TIMEOUT_S):
        status = read.status
        live.append(
            {
                "target": read.target,
                "url": status.url if status else None,
                "error": read.error,
                "models": [m for m in status.models if m.catalog_model == spec.id]
                if status
                else [],
            }
        )
    may_change = caller.role == "admin" or (
        caller.role == "maintainer" and caller.team == ws.owner_of(spec.id)
    )
    return _page(
        "model.html.j2",
        caller,
        title=spec.ref,
        shown=shown,
        aliases=ws.aliases(spec.id),
        spec=spec,
        graph_svg=graph_svg,
        graph_error=graph_error,
        live=live,
        may_change=may_change,
    )


@router.get("/validation")
def validation(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    report = api_state(request).workspace.validate()
    return _page("validation.html.j2", caller, title="Validation", report=report)


@router.get("/deployments")
def deployments(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    state = api_state(request)
    ws = state.workspace
    return _page(
        "deployments.html.j2",
        caller,
        title="Deployments",
        targets=sorted({"local", *ws.config.targets}),
        history=ws.history(limit=50),
        jobs=state.jobs.list(),
    )


@router.get("/report")
def report(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    return _page("report.html.j2", caller, title="Report")
