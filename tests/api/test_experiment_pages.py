"""The dashboard's experiment pages, in process: the list, one experiment with its
changes, the model page's links to them; forms only for who may change; every value
escaped."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api.auth import COOKIE
from modelyard.store.experiments import Arm, ExperimentLog, ExperimentRecord
from tests.support.api import REC, SEARCH
from tests.support.experiments import MODEL, SEARCH_16

Tokens = dict[tuple[str, str], str]


@pytest.fixture
def experiments(api_ws: Workspace) -> tuple[ExperimentRecord, ExperimentRecord]:
    """A stopped experiment (changed by an actor whose name is markup) and a running one."""
    api_ws.apply_text(SEARCH_16, actor="test")
    log = ExperimentLog(api_ws.store)
    past = log.start(
        MODEL, "local", [Arm(version="1.5", weight=90), Arm(version="1.6", weight=10)], actor="ann"
    )
    log.stop(past.id, "1.6", actor="<script>alert(1)</script>")
    current = log.start(
        MODEL,
        "local",
        [Arm(version="1.6", weight=70), Arm(version="1.5", weight=30)],
        sticky_header="x-user-id",
        actor="bob",
    )
    return past, current


def test_the_experiments_page_lists_every_arm(
    client: TestClient, tokens: Tokens, experiments: tuple[ExperimentRecord, ExperimentRecord]
) -> None:
    past, current = experiments
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get("/ui/experiments").text
    assert '<a href="/ui/experiments" class="current">Experiments</a>' in page
    arms = re.findall(r'<tr data-experiment="(\d+)" data-arm="([\d.]+)">', page)
    assert arms == [(str(current.id), "1.6"), (str(current.id), "1.5")] + [
        (str(past.id), "1.5"),
        (str(past.id), "1.6"),
    ]
    assert f'<a href="/ui/experiments/{current.id}">{current.id}</a>' in page
    assert f'<a href="/ui/models/{MODEL}">{MODEL}</a>' in page
    assert "<td>70%</td>" in page and "stopped (kept 1.6)" in page and "(sticky: x-user-id)" in page
    assert re.search(r"<td>local</td><td class=\"muted\">not running</td>", page)
    running = client.get("/ui/experiments", params={"state": "running"}).text
    assert set(re.findall(r'data-experiment="(\d+)"', running)) == {str(current.id)}
    none = client.get("/ui/experiments", params={"target": "search-only"}).text
    assert "no experiment" in none and "data-experiment" not in none


def test_an_experiment_page_shows_its_changes_escaped(
    client: TestClient, tokens: Tokens, experiments: tuple[ExperimentRecord, ExperimentRecord]
) -> None:
    past, current = experiments
    client.cookies.set(COOKIE, tokens[("viewer", SEARCH)])
    page = client.get(f"/ui/experiments/{past.id}").text
    changes = page[page.index('<table id="changes">') :]
    rows = re.findall(
        r"<tr><td>[\d: -]+</td><td>(.*?)</td><td>(.*?)</td>\s*<td>(.*?)</td>", changes
    )
    assert rows == [
        ("experiment.start", "ann", '<span class="muted">unrouted</span>'),
        (
            "experiment.stop (kept 1.6)",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "1.5=90, 1.6=10",
        ),
    ]
    assert "<script>alert(1)" not in page
    assert 'id="weights-form"' not in page  # stopped, and a viewer
    assert 'id="weights-form"' not in client.get(f"/ui/experiments/{current.id}").text
    missing = client.get("/ui/experiments/999").text
    assert "no experiment 999" in missing


def test_the_models_team_sees_the_change_forms(
    client: TestClient, tokens: Tokens, experiments: tuple[ExperimentRecord, ExperimentRecord]
) -> None:
    _, current = experiments
    client.cookies.set(COOKIE, tokens[("maintainer", SEARCH)])
    page = client.get(f"/ui/experiments/{current.id}").text
    assert 'id="weights-form"' in page and 'id="stop-form"' in page
    assert 'data-version="1.6"' in page and 'value="70"' in page
    client.cookies.set(COOKIE, tokens[("maintainer", REC)])
    assert 'id="weights-form"' not in client.get(f"/ui/experiments/{current.id}").text


def test_the_model_page_links_to_its_experiments(
    client: TestClient, tokens: Tokens, experiments: tuple[ExperimentRecord, ExperimentRecord]
) -> None:
    past, current = experiments
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get(f"/ui/models/{MODEL}").text
    table = page[page.index('<table id="model-experiments"') :]
    table = table[: table.index("</table>")]
    assert re.findall(r'<a href="/ui/experiments/(\d+)">', table) == [
        str(current.id),
        str(past.id),
    ]
    other = client.get("/ui/models/recommendation/user_embedding").text
    assert "no experiment on this model" in other
