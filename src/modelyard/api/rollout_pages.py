"""The dashboard's rollout pages: every canary rollout with its state, and one rollout's
steps, analyses and decisions with per-arm charts (report/rollout_charts.py), over the
same use cases as `modelyard rollout status` and GET /api/v1/rollouts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from modelyard.api.dashboard import _caller, _may_change, _page, _to_login
from modelyard.api.state import api_state
from modelyard.errors import ModelyardError
from modelyard.ops import canary
from modelyard.report.rollout_charts import decision_of, rollout_charts

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/rollouts")
def rollouts(
    request: Request,
    target: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    listed = canary.rollout_status(ws.context(), target=target or None, limit=200).rollouts
    return _page(
        "rollouts.html.j2",
        caller,
        title="Rollouts",
        rollouts=listed,
        targets=sorted({"local", *ws.config.targets, *(r.rollout.target for r in listed)}),
        selected=target or "",
    )


@router.get("/rollouts/{rollout_id}")
def rollout(
    request: Request, rollout_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> Response:
    caller = _caller(request)
    if caller is None:
        return _to_login(request)
    ws = api_state(request).workspace
    try:
        status = canary.rollout_detail(ws.context(), rollout_id)
    except ModelyardError as exc:
        return _page("error.html.j2", caller, title="Not found", error=exc.message, status_code=404)
    return _page(
        "rollout.html.j2",
        caller,
        title=f"Rollout {rollout_id}",
        status=status,
        charts=rollout_charts(status.events),
        decision=decision_of(status.events),
        may_change=_may_change(caller, ws.owner_of(status.rollout.model)),
    )
