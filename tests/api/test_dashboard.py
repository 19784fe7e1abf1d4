"""The dashboard: pages in process, then a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.api.auth import COOKIE
from tests.support.api import REC, SEARCH
from tests.support.browser import ARTIFACTS, CHROMIUM, serving
from tests.support.fake_triton import add_fake_target, fake_target_kind

Tokens = dict[tuple[str, str], str]


def test_pages_need_a_token(client: TestClient) -> None:
    for page in (
        "/ui/catalog",
        "/ui/models/search/content_retrieval",
        "/ui/validation",
        "/ui/deployments",
        "/ui/report",
        "/ui/experiments",
        "/ui/experiments/1",
    ):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/login?next=%2Fui%2F")
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/catalog"
    login = client.get("/ui/login", params={"next": "https://evil.example/"})
    assert login.status_code == 200 and '"https://evil.example/"' not in login.text
    client.cookies.set(COOKIE, "myd_unknown")
    assert client.get("/ui/catalog", follow_redirects=False).status_code == 303


def test_catalog_model_validation_deployments_report(client: TestClient, tokens: Tokens) -> None:
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    catalog = client.get("/ui/catalog").text
    assert catalog.count('<tr><td><a href="/ui/models/') == 6 and "viewer · team " + REC in catalog
    search = client.get("/ui/catalog", params={"domain": "search"}).text
    assert search.count('<tr><td><a href="/ui/models/') == 2
    model = client.get("/ui/models/search/content_retrieval").text
    assert "search/content_retrieval@2.0" in model and '<div class="graph" id="graph"><svg' in model
    assert "query_understanding" in model and 'id="alias-form"' not in model  # a viewer
    # The targets are declared but nothing listens: the page says so per target.
    assert model.count("<h3>") == 2 and "is unreachable" in model
    missing = client.get("/ui/models/search/nothing").text
    assert "no model search/nothing" in missing
    validation = client.get("/ui/validation").text
    assert 'id="findings"' in validation and "warning" in validation
    deployments = client.get("/ui/deployments").text
    assert 'id="history"' in deployments and 'id="deploy-form"' not in deployments
    assert '<iframe id="report" src="/api/v1/report/html"' in client.get("/ui/report").text
    # GET pages read the cookie; changes need the header, so a cookie alone is refused.
    client.cookies.set(COOKIE, tokens[("admin", REC)])
    assert client.post("/api/v1/tokens", json={"team": "x"}).status_code == 401


def test_pages_load_nothing_from_elsewhere(client: TestClient, tokens: Tokens) -> None:
    client.cookies.set(COOKIE, tokens[("admin", REC)])
    for page in (
        "/ui/login",
        "/ui/catalog",
        "/ui/models/search/content_retrieval",
        "/ui/validation",
        "/ui/deployments",
        "/ui/report",
        "/ui/experiments",
    ):
        html = client.get(page).text
        html = re.sub(r'xmlns(:xlink)?="http://www\.w3\.org/[^"]*"', "", html)
        html = re.sub(r"Triton at http://127\.0\.0\.1:\d+", "", html)
        assert "http://" not in html and "https://" not in html and "//cdn" not in html, page


def test_maintainer_sees_the_alias_form_of_own_models_only(
    client: TestClient, tokens: Tokens
) -> None:
    client.cookies.set(COOKIE, tokens[("maintainer", SEARCH)])
    assert 'id="alias-form"' in client.get("/ui/models/search/content_retrieval").text
    assert 'id="alias-form"' not in client.get("/ui/models/recommendation/user_embedding").text
    assert 'id="deploy-form"' in client.get("/ui/deployments").text


@pytest.mark.slow
def test_a_target_that_never_answers_does_not_hold_the_model_page(
    api_ws: Workspace, tokens: Tokens
) -> None:
    """A server that accepts the connection and never replies: the page and /status say
    so after the short live-read timeout, not the Triton client's 30 s."""
    assert api_ws.root is not None
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshakes; nothing ever reads or answers
        config_path = api_ws.root / "modelyard.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["targets"]["silent"] = {
            "url": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "repository": "repo-silent",
            "profile": "local",
        }
        config_path.write_text(yaml.safe_dump(config))
        ws = Workspace.open(api_ws.root, db_url=api_ws.db_url)
        try:
            with TestClient(create_app(ws)) as client:
                client.cookies.set(COOKIE, tokens[("viewer", REC)])
                started = time.monotonic()
                page = client.get("/ui/models/search/content_retrieval")
                status = client.get(
                    "/api/v1/status",
                    params={"target": "silent"},
                    headers={"Authorization": f"Bearer {tokens[('viewer', REC)]}"},
                )
                elapsed_s = time.monotonic() - started
        finally:
            ws.close()
    assert page.status_code == 200
    assert page.text.count("<h3>") == 3 and "is not answering" in page.text
    assert "is unreachable" in page.text  # the other two: nothing listens there
    assert status.status_code == 502 and "is not answering" in status.json()["error"]["message"]
    assert elapsed_s < 15, elapsed_s


@pytest.fixture
def live_server(api_ws: Workspace) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread."""
    with serving(api_ws) as url:
        yield url


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it)",
)
def test_dashboard_in_a_real_browser(live_server: str, tokens: Tokens, api_ws: Workspace) -> None:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                errors.append(message.text)
                # 401: the wrong token below; 502: the plan of a target nothing answers on.
                if message.type == "error" and not re.search(r"\b(401|502)\b", message.text)
                else None
            ),
        )

        # Log in: a wrong token is refused on the page, the right one opens the catalog.
        page.goto(f"{live_server}/ui/catalog")
        assert "/ui/login" in page.url
        page.fill("#token", "myd_wrong")
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("unknown token")
        page.fill("#token", tokens[("maintainer", SEARCH)])
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/ui/catalog")
        expect(page.locator("#catalog tbody tr")).to_have_count(6)

        # Filter, then open a model.
        page.select_option("#filter-domain", "search")
        page.click("form.filters button[type=submit]")
        expect(page.locator("#catalog tbody tr")).to_have_count(2)
        page.click("text=search/content_retrieval")
        page.wait_for_url(f"{live_server}/ui/models/search/content_retrieval")
        graph = page.locator("#graph svg")
        expect(graph).to_be_visible()
        box = graph.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 40
        assert page.locator("#graph svg g.node").count() == 2  # it and query_understanding

        # Move an alias through the page (the API call carries the Bearer header).
        page.fill("#alias-form input[name=alias]", "production")
        page.click("#alias-form button[type=submit]")
        expect(page.locator("#alias-result")).to_contain_text("production -> 2.0")
        expect(page.locator("#aliases")).to_contain_text("production")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # Deploy shows the plan first; no Triton answers there, so the plan says why and
        # there is nothing to confirm.
        page.goto(f"{live_server}/ui/deployments")
        page.select_option("#deploy-form select[name=target]", "search-only")
        page.click("#deploy-form button[type=submit]")
        expect(page.locator("#plan-error")).to_contain_text("unreachable", timeout=30_000)
        expect(page.locator("#confirm-deploy")).to_be_hidden()
        browser.close()
    assert errors == []
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert api_ws.aliases("search/content_retrieval")[0].version == "2.0"


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it)",
)
def test_deploy_button_shows_the_plan_and_deploys_on_confirmation(
    api_ws: Workspace, tokens: Tokens
) -> None:
    """The whole plan-then-confirm in Chromium, against a fake Triton (same process)."""
    from playwright.sync_api import expect, sync_playwright

    assert api_ws.root is not None
    fake = add_fake_target(api_ws.root)
    workspace = Workspace.open(api_ws.root, db_url=api_ws.db_url)
    errors: list[str] = []
    try:
        with fake_target_kind(fake), serving(workspace) as url, sync_playwright() as playwright:
            workspace.deploy("dev", refs=["search/query_understanding"])
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/ui/login?next=/ui/deployments")
            page.fill("#token", tokens[("maintainer", REC)])
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/ui/deployments")
            page.select_option("#deploy-form select[name=target]", "dev")
            page.fill("#deploy-form input[name=refs]", "recommendation/user_embedding")
            page.click("#deploy-form button[type=submit]")
            # The plan: what loads and what is kept; nothing has started yet.
            expect(page.locator("#plan-actions tr")).to_have_count(2)
            expect(page.locator("#plan-actions tr[data-action=load]")).to_contain_text(
                "recommendation.user_embedding"
            )
            expect(page.locator("#plan-actions tr[data-action=keep]")).to_contain_text(
                "search.query_understanding"
            )
            expect(page.locator("#plan-summary")).to_contain_text("kept as it is")
            assert "recommendation.user_embedding" not in fake.ready
            page.click("#confirm-deploy")
            expect(page.locator("#job-state")).to_have_text("succeeded", timeout=30_000)
            expect(page.locator("#job-models")).to_contain_text("recommendation.user_embedding")
            expect(page.locator("#plan")).to_be_hidden()
            browser.close()
    finally:
        workspace.close()
    assert errors == []
    assert fake.ready == {"recommendation.user_embedding": [1], "search.query_understanding": [1]}
