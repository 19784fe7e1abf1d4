"""The dashboard: server-rendered pages over the same Workspace calls and permissions as
the API. The token typed at /ui/login is kept in sessionStorage (sent as a Bearer header
by the pages' JavaScript for changes) and in a SameSite cookie that GET pages read.

The login form is POSTed (a token never goes into a URL, where access logs and browser
history keep it; one in a query string is refused), counts against the failed-attempt
limit like any token (api.limits), and redirects only to a path of this site (`next`).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from modelyard.api.auth import COOKIE, Principal, authenticate
from modelyard.api.state import LIVE_READ_TIMEOUT_S, api_state, client_address
from modelyard.catalog.spec import ModelSpec
from modelyard.errors import ModelyardError, Problem, Severity, TooManyAttempts, Unauthenticated
from modelyard.ops import traffic
from modelyard.ops.catalog import GRAPH_HOPS_MAX
from modelyard.ops.facts import model_facts
from modelyard.ops.insight import experiment_detail
from modelyard.report.graphs import render_svg, to_dot
from modelyard.report.units import megabytes

router = APIRouter(prefix="/ui", include_in_schema=False)
_environment: Environment | None = None


def _templates() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=PackageLoader("modelyard.api", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
        )
        _environment.globals["model_url"] = model_url
        _environment.filters["megabytes"] = megabytes
    return _environment


def model_url(reference: str) -> str:
    """The model page of `domain/name` or `domain/name@version` (a version page when
    one is named)."""
    model, _, version = reference.partition("@")
    url = "/ui/models/" + quote(model, safe="/")
    return f"{url}?{urlencode({'version': version})}" if version else url


def _page(
    template: str, caller: Principal | None, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    html = _templates().get_template(template).render(caller=caller, **values)
    return HTMLResponse(html, status_code=status_code)


def _caller(request: Request) -> Principal | None:
    try:
        return authenticate(
            api_state(request), request.cookies.get(COOKIE), client=client_address(request)
        )
    except Unauthenticated:
        return None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)
    if COOKIE in request.cookies:
        # Its token is unknown or revoked: forget it, or every page view would count as
        # one more failed attempt.
        response.delete_cookie(COOKIE, path="/")
    return response


DEFAULT_NEXT = "/ui/catalog"
# Percent-decoding rounds before a `next` counts as hiding something (%25255C...).
_DECODE_ROUNDS = 4


def safe_next(target: str | None) -> str:
    """`target` if it is a path of this site, else the catalog page (no open redirect).

    The check runs on the fully percent-decoded text: a single leading `/`, no second
    one after it, no backslash (browsers read `/\\evil.example` as `//evil.example`), no
    control character or space (they drop tabs and newlines), no scheme or host, no `.`
    or `..` segment.
    """
    if not target:
        return DEFAULT_NEXT
    decoded = target
    for _ in range(_DECODE_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        return DEFAULT_NEXT
    if not decoded.startswith("/") or decoded.startswith("//"):
        return DEFAULT_NEXT
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in decoded):
        return DEFAULT_NEXT
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    segments = parts.path.split("/")
    if "." in segments or ".." in segments:
        return DEFAULT_NEXT
    return target


_TOKEN_IN_URL = (
    "a token is never accepted in a URL (access logs and browser history keep it): "
    "paste it into the form, or send `Authorization: Bearer <token>`"
)


@router.get("/login")
def login(request: Request, next: str = DEFAULT_NEXT) -> Response:
    if "token" in request.query_params:
        return _login_page(request, DEFAULT_NEXT, _TOKEN_IN_URL, 400)
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """The login form (also without JavaScript): sets the cookie, then redirects to `next`."""
    if "token" in request.query_params:
        return _login_page(request, DEFAULT_NEXT, _TOKEN_IN_URL, 400)
    # api.guard has already refused a body over LOGIN_MAX_BODY_BYTES.
    body = (await request.body()).decode("utf-8", "replace")
    # The catalog lookups block: off the event loop, like FastAPI's sync routes.
    return await run_in_threadpool(_log_in, request, body)


def _log_in(request: Request, body: str) -> Response:
    try:
        fields = parse_qs(body, max_num_fields=8)
    except ValueError:
        return _login_page(request, DEFAULT_NEXT, "expected a login form", 400)
    secret = (fields.get("token") or [""])[0].strip()
    next_path = safe_next((fields.get("next") or [""])[0])
    if not secret:
        return _login_page(request, next_path, "paste a token", 400)
    try:
        authenticate(api_state(request), secret, client=client_address(request))
    except TooManyAttempts as exc:
        throttled = _login_page(request, next_path, exc.message, 429)
        throttled.headers["Retry-After"] = str(exc.retry_after_s)
        return throttled
    except Unauthenticated as exc:
        return _login_page(request, next_path, exc.message, 401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        path="/",
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _login_page(
    request: Request, next_path: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    try:
        caller = _caller(request)
    except TooManyAttempts:
        caller = None
    return _page(
        "login.html.j2",
        caller,
        status_code=status_code,
        next=next_path,
        error=error,
        title="Log in",
    )


CATALOG_PAGE_SIZES = (25, 50, 100, 500)
CATALOG_SORTS = ("id", "version", "framework", "type", "team", "status")
STATUS_FILTERS = ("active", "deprecated", "yanked")


@router.get("/catalog")
def catalog(
    request: Request,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    framework: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    label: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    sort: Annotated[str, Query(max_length=16)] = "id",
    desc: bool = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """The catalog, a page at a time: searched (`q`, a part of a model id or of a label
    `key=value`), filtered (domain, team, framework, a label selector, a status) and
    sorted on the server, so that a page of 50 rows is what a browser gets at 10,000
    models."""
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    every = ws.list_models()
    statuses = ws.version_statuses({s.id for s in every})

    def status_of(spec: ModelSpec) -> str:
        marked = statuses.get(spec.ref)
        return marked.status if marked else "active"

    needle = (q or "").strip().lower()
    selector: tuple[str, str | None] | None = None
    if label:
        key, has_value, value = label.partition("=")
        selector = (key.strip(), value.strip() if has_value else None)
    shown = [
        spec
        for spec in every
        if (not domain or spec.domain == domain)
        and (not team or spec.owner_team == team)
        and (not framework or spec.framework == framework)
        and (not status or status_of(spec) == status)
        and (
            selector is None
            or (
                selector[0] in spec.labels
                and (selector[1] is None or spec.labels[selector[0]] == selector[1])
            )
        )
        and (
            not needle
            or needle in spec.id
            or any(needle in f"{k}={v}".lower() for k, v in spec.labels.items())
        )
    ]
    sort = sort if sort in CATALOG_SORTS else "id"
    keys: dict[str, Any] = {
        "id": lambda s: s.id,
        "version": lambda s: (s.parsed_version, s.id),
        "framework": lambda s: (s.framework, s.id),
        "type": lambda s: (s.model_type, s.id),
        "team": lambda s: (s.owner_team, s.id),
        "status": lambda s: (status_of(s), s.id),
    }
    shown.sort(key=keys[sort], reverse=desc)
    pages = max(1, -(-len(shown) // per_page))
    page = min(page, pages)
    rows = shown[(page - 1) * per_page : page * per_page]
    query = {
        "domain": domain or "",
        "team": team or "",
        "framework": framework or "",
        "q": q or "",
        "label": label or "",
        "status": status or "",
    }
    return _page(
        "catalog.html.j2",
        caller,
        title="Catalog",
        models=rows,
        total=len(shown),
        every=len(every),
        page=page,
        pages=pages,
        per_page=per_page,
        page_sizes=CATALOG_PAGE_SIZES,
        sort=sort,
        desc=desc,
        sorts=CATALOG_SORTS,
        statuses=statuses,
        status_filters=STATUS_FILTERS,
        domains=sorted({s.domain for s in every}),
        teams=sorted({s.owner_team for s in every}),
        frameworks=sorted({s.framework for s in every}),
        selected=query,
        link=lambda **changes: (
            "/ui/catalog?"
            + urlencode(
                {
                    k: v
                    for k, v in {
                        **query,
                        "sort": sort,
                        "desc": "true" if desc else "",
                        "page": page,
                        "per_page": per_page,
                        **changes,
                    }.items()
                    if v not in ("", None, False)
                }
            )
        ),
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
    may_change = _may_change(caller, ws.owner_of(spec.id))
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
        experiments=traffic.list_experiments(ws.context(), model_id=spec.id).experiments,
        facts=model_facts(ws.context(), spec),
    )


def _may_change(caller: Principal, owner_team: str) -> bool:
    """Whether the page offers changes (the API checks again, target included)."""
    return caller.role == "admin" or (caller.role == "maintainer" and caller.team == owner_team)


VALIDATION_PAGE = 200


@router.get("/validation")
def validation(
    request: Request,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Every finding, grouped by kind with counts, filtered by severity, kind, domain and
    team, a page of 200 at a time; the summary is green only with no finding at all."""
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    report = ws.validate()

    def model_of(problem: Problem) -> str | None:
        return problem.model.split("@", 1)[0] if problem.model else None

    # The owners of the models with findings only: listing 10,000 models was most of
    # this page's time.
    owners = ws.owners_of({m for p in report.problems if (m := model_of(p))})

    def matches(problem: Problem) -> bool:
        model = model_of(problem)
        return (
            (not severity or str(problem.severity) == severity)
            and (not code or problem.code == code)
            and (not domain or (model is not None and model.split("/", 1)[0] == domain))
            and (not team or (model is not None and owners.get(model) == team))
        )

    shown = [p for p in report.problems if matches(p)]
    groups: dict[tuple[str, str], int] = {}
    for problem in shown:
        key = (str(problem.severity), problem.code)
        groups[key] = groups.get(key, 0) + 1
    pages = max(1, -(-len(shown) // VALIDATION_PAGE))
    page = min(page, pages)
    selected = {
        "severity": severity or "",
        "code": code or "",
        "domain": domain or "",
        "team": team or "",
    }
    return _page(
        "validation.html.j2",
        caller,
        title="Validation",
        report=report,
        summary_class="error" if report.errors else ("warning" if report.warnings else "ok"),
        findings=shown[(page - 1) * VALIDATION_PAGE : page * VALIDATION_PAGE],
        total=len(shown),
        groups=sorted(groups.items(), key=lambda item: (-item[1], item[0])),
        page=page,
        pages=pages,
        selected=selected,
        severities=[str(s) for s in Severity],
        codes=sorted({p.code for p in report.problems}),
        domains=sorted({m.split("/", 1)[0] for p in report.problems if (m := model_of(p))}),
        teams=sorted(set(owners.values())),
        model_of=model_of,
        link=lambda **changes: (
            "/ui/validation?"
            + urlencode({k: v for k, v in {**selected, "page": page, **changes}.items() if v})
        ),
    )


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


# The files under api/static/ the dashboard serves, and their media types.
STATIC_FILES = {"cytoscape.min.js": "text/javascript; charset=utf-8"}
_static_cache: dict[str, bytes] = {}


@router.get("/static/{name}")
def static(name: str) -> Response:
    """A bundled library (no CDN: the dashboard works offline); only the files listed."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    if name not in _static_cache:
        _static_cache[name] = files("modelyard.api").joinpath("static", name).read_bytes()
    return Response(
        _static_cache[name],
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/graph")
def graph(
    request: Request,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    focus: Annotated[str | None, Query(max_length=200)] = None,
    hops: Annotated[int, Query(ge=1, le=GRAPH_HOPS_MAX)] = 2,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The interactive dependency graph (Cytoscape.js): the page only; it reads what to
    draw from `GET /api/v1/graph` with the same query."""
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    return _page(
        "graph.html.j2",
        caller,
        title="Graph",
        query={"domain": domain or "", "focus": focus or "", "hops": hops, "q": q or ""},
        hops_max=GRAPH_HOPS_MAX,
    )


@router.get("/report")
def report(request: Request) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    return _page("report.html.j2", caller, title="Report")


@router.get("/experiments")
def experiments(
    request: Request,
    target: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    ctx = ws.context()
    listed = traffic.list_experiments(
        ctx, target=target or None, running_only=state == "running"
    ).experiments
    names = sorted({"local", *ws.config.targets, *(e.target for e in listed)})
    gateways = []
    for name in names:
        try:
            ws.target(name)
            gateways.append(traffic.gateway_status(ctx, name))
        except ModelyardError:
            continue  # a target an old experiment names, gone from modelyard.yaml
    return _page(
        "experiments.html.j2",
        caller,
        title="Experiments",
        experiments=listed,
        targets=names,
        gateways=gateways,
        selected={"target": target or "", "state": "running" if state == "running" else "all"},
    )


@router.get("/experiments/{experiment_id}")
def experiment(
    request: Request, experiment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    try:
        detail = experiment_detail(ws.context(), experiment_id)
    except ModelyardError as exc:
        return _page("error.html.j2", caller, title="Not found", error=exc.message)
    return _page(
        "experiment.html.j2",
        caller,
        title=f"Experiment {experiment_id}",
        detail=detail,
        may_change=_may_change(caller, ws.owner_of(detail.experiment.model)),
    )
