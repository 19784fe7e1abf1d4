"""The dashboard's catalog page at scale: server-side search, filters, sorting and pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api.auth import COOKIE
from tests.support.api import REC

ROW = re.compile(r'<tr><td><a href="/ui/models/([a-z_]+/[a-z0-9_]+)">')


def _bulk(workspace: Workspace, count: int) -> None:
    """`count` more models in domain `bulk`, every third labelled tier=gold."""
    workspace.apply_text(
        "".join(
            f"""---
name: m{index:04d}
version: "1.{index % 7}"
model_type: regression
framework: {"pytorch" if index % 2 else "tensorflow"}
domain: bulk
owner_team: bulk_team
labels: {{tier: {"gold" if index % 3 == 0 else "silver"}}}
"""
            for index in range(count)
        )
    )


def _rows(page: str) -> list[str]:
    return ROW.findall(page)


def test_search_filter_sort_and_pages(
    client: TestClient, tokens: dict[tuple[str, str], str], api_ws: Workspace
) -> None:
    _bulk(api_ws, 240)
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    first = client.get("/ui/catalog").text
    assert len(_rows(first)) == 50 and "246 of 246 models" in first
    assert "page 1 of 5" in first and 'id="page-next"' in first
    assert _rows(first) == sorted(_rows(first))
    last = client.get("/ui/catalog", params={"page": 5}).text
    assert len(_rows(last)) == 46 and 'id="page-next"' not in last
    # Past the last page: the last page.
    assert _rows(client.get("/ui/catalog", params={"page": 99}).text) == _rows(last)

    found = client.get("/ui/catalog", params={"q": "m012", "per_page": 100}).text
    assert _rows(found) == [f"bulk/m012{i}" for i in range(10)]
    gold = client.get("/ui/catalog", params={"label": "tier=gold", "per_page": 500}).text
    assert len(_rows(gold)) == 80 and "80 of 246 models" in gold
    by_text = client.get("/ui/catalog", params={"q": "tier=gold", "per_page": 500}).text
    assert _rows(by_text) == _rows(gold)
    torch = client.get(
        "/ui/catalog", params={"framework": "pytorch", "team": "bulk_team", "per_page": 500}
    ).text
    assert len(_rows(torch)) == 120

    newest_first = client.get(
        "/ui/catalog", params={"sort": "version", "desc": "true", "domain": "bulk"}
    ).text
    assert all(row.startswith("bulk/") for row in _rows(newest_first))
    versions = re.findall(r'\?version=(1\.\d)">', newest_first)
    assert versions == sorted(versions, reverse=True) and versions[0] == "1.6"
    # Sort links keep the filters and flip the order of the column sorted on.
    assert "domain=bulk" in newest_first and "sort=version&amp;page=1" in newest_first
    # Dependencies and teams are links.
    ranker = client.get("/ui/catalog", params={"q": "recommendation_ranker"}).text
    assert '<a href="/ui/models/recommendation/user_embedding">' in ranker
    assert "team=" in ranker


def test_the_printed_dashboard_address_leads_to_the_catalog(client: TestClient) -> None:
    for path in ("/", "/ui", "/ui/"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/catalog"


def test_validation_is_grouped_filtered_and_honest(
    client: TestClient, tokens: dict[tuple[str, str], str], api_ws: Workspace
) -> None:
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get("/ui/validation").text
    # The example has warnings and no error: "needs attention", never green.
    assert 'class="warning" id="validation-summary"' in page and "needs attention" in page
    assert 'id="finding-groups"' in page and "sla-availability-chain" in page
    only = client.get("/ui/validation", params={"domain": "search"}).text
    findings = re.findall(
        r'<a href="/ui/models/([a-z_]+/[a-z_]+)">', only.split('id="findings"')[1]
    )
    assert findings and all(model.startswith("search/") for model in findings)
    none = client.get("/ui/validation", params={"severity": "error"}).text
    assert "0 shown" in none
    team = client.get("/ui/validation", params={"team": REC}).text
    models = re.findall(r'<a href="/ui/models/([a-z_]+/[a-z_]+)">', team.split('id="findings"')[1])
    assert models and all(model.startswith("recommendation/") for model in models)
