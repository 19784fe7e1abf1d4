"""The dashboard's rollout pages, in process: the list with each rollout's state and
analyses, one rollout with per-arm charts, its events with their figures and the
decision; the abort form only for who may change it; every value escaped."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api.auth import COOKIE
from modelyard.store.canary import CanaryLog
from tests.support.api import REC, SEARCH
from tests.support.canary import recorded_rollout
from tests.support.experiments import MODEL, SEARCH_16

Tokens = dict[tuple[str, str], str]


def test_the_rollouts_page_lists_each_rollout_and_its_analyses(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    api_ws.apply_text(SEARCH_16, actor="test")
    finished = recorded_rollout(api_ws, MODEL, "1.5", "1.6", actor="<script>alert(1)</script>")
    assert client.get("/ui/rollouts", follow_redirects=False).status_code == 303
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get("/ui/rollouts").text
    assert '<a href="/ui/rollouts" class="current">Rollouts</a>' in page
    assert re.findall(r'<tr class="rollout-(\w+)" data-rollout="(\d+)">', page) == [
        ("failed", str(finished))
    ]
    assert f'<a href="/ui/rollouts/{finished}">{finished}</a>' in page
    assert "1.5 → 1.6" in page and "10,50,100 every 30 s" in page
    assert re.findall(r'<span class="(\w+)" title="step \d', page) == ["ok", "warning", "error"]
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    none = client.get("/ui/rollouts", params={"target": "search-only"}).text
    assert "no rollout recorded" in none and "data-rollout" not in none


def test_a_rollout_page_charts_each_arm_and_lists_every_event(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    api_ws.apply_text(SEARCH_16, actor="test")
    finished = recorded_rollout(api_ws, MODEL, "1.5", "1.6")
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get(f"/ui/rollouts/{finished}").text
    for chart in ("weight", "error-rate", "p99"):
        assert f'<div id="chart-{chart}" class="rollout-chart-box"><svg' in page
    assert page.count('<line class="decision decision-failed"') == 3
    assert re.findall(r'<tr class="event-(\w+)(?: outcome-(\w+))?">', page) == [
        ("weight", ""),
        ("analysis", "passed"),
        ("weight", ""),
        ("analysis", "inconclusive"),
        ("analysis", "failed"),
        ("decision", "failed"),
    ]
    # The figures each analysis judged: requests / 5xx / p99 per arm, throughput, memory.
    assert "<td>600 / 60 / 24.0 ms</td>" in page
    assert "throughput 3.3 rps at 10% of the weight = 33.0 rps per unit of weight" in page
    assert "memory not measured; GPU memory not measured" in page
    assert 'id="rollout-decision" class="error">decision at step 2: failed' in page
    assert "abort-form" not in page  # finished, and a viewer
    assert client.get("/ui/rollouts/999").status_code == 404


def test_a_running_rollout_offers_its_team_an_abort(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    api_ws.apply_text(SEARCH_16, actor="test")
    record = CanaryLog(api_ws.store).start(
        MODEL,
        "local",
        baseline="1.5",
        candidate="1.6",
        steps=[10, 100],
        interval_s=60,
        settings={},
        holder="ann@elsewhere:1/abc",
        actor="ann",
    )
    client.cookies.set(COOKIE, tokens[("maintainer", SEARCH)])
    page = client.get(f"/ui/rollouts/{record.id}").text
    assert 'id="abort-form"' in page and "every request back to 1.5" in page
    assert "No analysis yet" in page
    client.cookies.set(COOKIE, tokens[("maintainer", REC)])
    assert 'id="abort-form"' not in client.get(f"/ui/rollouts/{record.id}").text
