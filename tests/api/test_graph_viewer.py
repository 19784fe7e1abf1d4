"""The dashboard's graph viewer: its JSON endpoint, the page and its bundled library in
process, then Debian's Chromium against a catalog of 10,000 generated models plus Netflix's
(a domain overview first, then a domain, a search, a focus, zoom), and the dashboard's
catalog (search, paging), a model page and its links, and validation's filters at that
size; then, at that size, a deploy job planned, confirmed and followed to its end, and a
job followed through a server killed and restarted under it."""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api.auth import COOKIE
from tests.support.api import REC, SEARCH, bearer
from tests.support.bench import bench_catalog
from tests.support.browser import ARTIFACTS, CHROMIUM, serving
from tests.support.fake_triton import add_fake_target, fake_target_kind
from tests.support.server import Server

Tokens = dict[tuple[str, str], str]
GENERATED = 10_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifests of 10,000 generated models (with their artifacts), written once."""
    folder = tmp_path_factory.mktemp("generated")
    bench_catalog().generate(GENERATED, folder)
    return folder / "manifests"


def test_graph_endpoint_goes_through_the_use_case(client: TestClient, tokens: Tokens) -> None:
    headers = bearer(tokens[("viewer", REC)])
    whole = client.get("/api/v1/graph", headers=headers).json()
    assert whole["level"] == "models" and whole["shown_models"] == 6 and len(whole["edges"]) == 4
    assert len(whole["critical_path"]) == 2
    focused = client.get(
        "/api/v1/graph",
        params={"focus": "search/query_understanding", "hops": 1},
        headers=headers,
    ).json()
    assert {n["id"] for n in focused["nodes"]} == {
        "search/query_understanding@1.5",
        "search/content_retrieval@2.0",
    }
    found = client.get("/api/v1/graph", params={"q": "ranker"}, headers=headers).json()
    assert [n["id"] for n in found["nodes"] if n["match"]] == [
        "recommendation/recommendation_ranker@3.0"
    ]
    missing = client.get("/api/v1/graph", params={"domain": "nowhere"}, headers=headers)
    assert missing.status_code == 404 and "domain 'nowhere'" in missing.json()["error"]["message"]
    assert client.get("/api/v1/graph", params={"hops": 0}, headers=headers).status_code == 422
    assert client.get("/api/v1/graph").status_code == 401


def test_graph_page_and_its_bundled_library(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/ui/graph", follow_redirects=False).status_code == 303
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get("/ui/graph", params={"focus": "search/content_retrieval"}).text
    assert '<script src="/ui/static/cytoscape.min.js"></script>' in page
    assert 'href="/ui/graph" class="current"' in page
    assert "search/content_retrieval" in page  # the focus fills the form
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    library = client.get("/ui/static/cytoscape.min.js")
    assert library.status_code == 200 and library.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "Cytoscape Consortium" in library.text[:400] and len(library.content) > 100_000
    assert client.get("/ui/static/other.js").status_code == 404
    model = client.get("/ui/models/search/content_retrieval").text
    assert 'href="/ui/graph?focus=search%2Fcontent_retrieval%402.0"' in model
    licence = Path(__file__).resolve().parents[2] / "src/modelyard/api/static/cytoscape.LICENSE"
    assert "Permission is hereby granted" in licence.read_text()


def _chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    )


def _logged_in(browser: Any, url: str, token: str, start: str, errors: list[str]) -> Any:
    """A new page logged in with `token` and opened at `start`; the page's script errors
    (uncaught, or logged as errors) go to `errors`."""
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{url}/ui/login?next={start}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{start}")
    return page


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it)",
)
def test_graph_viewer_in_a_real_browser(api_ws: Workspace, tokens: Tokens, generated: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    api_ws.apply([generated])
    every = GENERATED + 6
    fraud = api_ws.explore_graph(domain="fraud")
    target = next(
        n.id for n in fraud.nodes if not n.external and n.id.split("@")[0][-6:] > "000500"
    )
    neighbourhood = api_ws.explore_graph(focus=target, hops=1)
    errors: list[str] = []
    with serving(api_ws) as url, sync_playwright() as playwright:
        browser = _chromium(playwright)
        page = _logged_in(browser, url, tokens[("viewer", SEARCH)], "/ui/graph", errors)

        def drawn() -> dict[str, object]:
            page.wait_for_function("window.graphView && window.graphView.ready")
            return page.evaluate(
                """() => ({level: graphView.data.level, nodes: graphView.cy.nodes().length,
                  edges: graphView.cy.edges().length, zoom: graphView.cy.zoom(),
                  critical: graphView.cy.nodes('.critical').length,
                  focus: graphView.cy.nodes('.focus').map((n) => n.id()),
                  matches: graphView.cy.nodes('.match').map((n) => n.id())})"""
            )

        # A catalog of 10,006 models opens as one node per domain.
        overview = drawn()
        assert overview["level"] == "domains" and overview["nodes"] == 5
        assert overview["critical"] >= 1
        expect(page.locator("#graph-status")).to_contain_text(f"{every:,} models in 5 domains")
        expect(page.locator("#graph-legend span")).to_have_count(5)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "graph-overview.png"))

        # Filter by domain: the domain's models and what they need elsewhere.
        page.select_option("#graph-domain", "fraud")
        shown = drawn()
        assert shown["level"] == "models" and shown["nodes"] == fraud.shown_models
        assert shown["edges"] == len(fraud.edges)
        assert "domain=fraud" in page.url
        box = page.locator("#cy canvas").first.bounding_box()
        assert box and box["width"] > 800 and box["height"] > 300
        page.screenshot(path=str(ARTIFACTS / "graph-domain.png"))

        # Zoom in and out with the buttons, then fit again.
        before = shown["zoom"]
        page.click("#zoom-in")
        assert drawn()["zoom"] > before  # type: ignore[operator]
        page.click("#zoom-out")
        page.click("#zoom-out")
        assert drawn()["zoom"] < before  # type: ignore[operator]
        page.click("#zoom-fit")

        # Search: the matching models, marked.
        name = target.split("/", 1)[1].split("@")[0]
        page.fill("#graph-search", name)
        page.click("#graph-show")
        found = drawn()
        assert found["matches"] == [target]

        # Focus on it, one hop each way: what it needs and what needs it.
        page.fill("#graph-search", "")
        page.select_option("#graph-domain", "")
        page.wait_for_function("window.graphView.ready")
        page.fill("#graph-focus", target)
        page.fill("#graph-hops", "1")
        page.click("#graph-show")
        focused = drawn()
        assert focused["focus"] == [target]
        assert focused["nodes"] == neighbourhood.shown_models and focused["nodes"] >= 2
        assert re.search(r"focus=fraud%2F", page.url) and "hops=1" in page.url
        # Selecting a node offers its model page and focusing on it.
        position = page.evaluate(
            f"() => graphView.cy.getElementById({target!r}).renderedPosition()"
        )
        canvas = page.locator("#cy").bounding_box()
        assert canvas
        page.mouse.click(canvas["x"] + position["x"], canvas["y"] + position["y"])
        expect(page.locator("#selected-model")).to_have_text(target)
        page.screenshot(path=str(ARTIFACTS / "graph-focus.png"))

        # The dashboard's catalog at this size: a page of 50, searched, paged, then a
        # model page with its dependencies.
        page.goto(f"{url}/ui/catalog")
        expect(page.locator("#catalog-count")).to_contain_text(f"of {every} models")
        expect(page.locator("#catalog tbody tr")).to_have_count(50)
        page.fill("#filter-q", name)
        page.locator("#filter-q").press("Enter")
        expect(page.locator("#catalog tbody tr")).to_have_count(1)
        expect(page.locator("#catalog tbody")).to_contain_text(target.split("@")[0])
        page.goto(f"{url}/ui/catalog?page=100")
        expect(page.locator("#catalog-count")).to_contain_text("page 100 of")
        page.click("#page-next")
        expect(page.locator("#catalog-count")).to_contain_text("page 101 of")
        page.goto(f"{url}/ui/models/{target.split('@')[0]}")
        expect(page.locator("h1")).to_contain_text(target.split("@")[0])
        page.screenshot(path=str(ARTIFACTS / "dashboard-model-10k.png"))
        # Its references are links: follow the first model it needs or that needs it.
        linked = page.locator("#dependencies a, #dependents a").first
        other = linked.inner_text().split("@")[0].split(" ")[0]
        linked.click()
        expect(page.locator("h1")).to_contain_text(other)

        # Validation at this size: grouped, then filtered to warnings of one domain.
        page.goto(f"{url}/ui/validation")
        expect(page.locator("#validation-summary")).to_contain_text(f"{every} models")
        page.select_option("#filter-severity", "warning")
        page.select_option("#filter-domain", "fraud")
        page.click("#validation-filters button[type=submit]")
        expect(page.locator("#findings-count")).to_contain_text("shown")
        severities = page.locator("#findings tbody td:first-child").all_inner_texts()
        assert severities and set(severities) == {"warning"}, severities[:5]
        assert "severity=warning" in page.url and "domain=fraud" in page.url
        browser.close()
    assert errors == []
    assert (ARTIFACTS / "graph-overview.png").stat().st_size > 10_000
    assert (ARTIFACTS / "graph-focus.png").stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it)",
)
def test_deploy_jobs_at_10k_in_a_real_browser(
    api_ws: Workspace, tokens: Tokens, generated: Path, tmp_path: Path
) -> None:
    """A deploy planned, confirmed and followed to its end; then a job followed through a
    server killed (SIGKILL: nothing marks the job) and started again on the same port."""
    from playwright.sync_api import expect, sync_playwright

    api_ws.apply([generated])
    assert api_ws.root is not None
    fake = add_fake_target(api_ws.root)
    config_path = api_ws.root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text())
    maintainer = tokens[("maintainer", REC)]
    errors: list[str] = []
    workspace = Workspace.open(api_ws.root, db_url=api_ws.db_url)
    try:
        with fake_target_kind(fake), serving(workspace) as url, sync_playwright() as playwright:
            browser = _chromium(playwright)
            page = _logged_in(browser, url, maintainer, "/ui/deployments", errors)
            page.select_option("#deploy-form select[name=target]", "dev")
            page.fill("#deploy-form input[name=refs]", "recommendation/user_embedding")
            page.click("#deploy-form button[type=submit]")
            expect(page.locator("#plan-actions tr[data-action=load]")).to_contain_text(
                "recommendation.user_embedding", timeout=60_000
            )
            assert fake.ready == {}
            page.click("#confirm-deploy")
            expect(page.locator("#job-state")).to_have_text("succeeded", timeout=120_000)
            expect(page.locator("#job-models")).to_contain_text("recommendation.user_embedding")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "deploy-job-10k.png"))
            browser.close()
    finally:
        workspace.close()
    assert fake.ready == {"recommendation.user_embedding": [1]}

    # A "Triton" that accepts connections and never answers: its job stays running.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    del config["targets"]["dev"]
    config["targets"]["silent"] = {
        "url": f"http://127.0.0.1:{silent.getsockname()[1]}",
        "repository": "repo-silent",
        "profile": "local",
    }
    config_path.write_text(yaml.safe_dump(config))
    first = Server(api_ws, tmp_path / "first.log")
    second: Server | None = None
    try:
        with sync_playwright() as playwright:
            browser = _chromium(playwright)
            started = httpx.post(
                f"{first.url}/api/v1/jobs",
                json={"target": "silent", "refs": ["recommendation/user_embedding"]},
                headers=bearer(maintainer),
                timeout=60,
            )
            assert started.status_code == 202, started.text
            job = started.json()["id"]
            page = _logged_in(browser, first.url, maintainer, "/ui/deployments", errors)
            page.click(f"a[data-job='{job}']")
            expect(page.locator("#job-state")).to_have_text("running")
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            expect(page.locator("#job-error")).to_contain_text("not answering", timeout=20_000)
            expect(page.locator("#job-state")).to_have_text("running")
            second = Server(api_ws, tmp_path / "second.log", port=first.port)
            # The page asks again and the restarted server says how the job ended.
            expect(page.locator("#job-state")).to_have_text("interrupted", timeout=30_000)
            expect(page.locator("#job-error")).to_contain_text("stopped before it finished")
            listed = page.locator(f"#jobs tr:has(a[data-job='{job}'])")
            expect(listed).to_contain_text("interrupted")
            page.screenshot(path=str(ARTIFACTS / "deploy-job-restart-10k.png"))
            page.reload()
            expect(listed).to_contain_text("interrupted")
            browser.close()
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
        if second is not None:
            second.stop()
        silent.close()
    # A browser that lost its server logs the failed fetch; nothing else may go wrong.
    assert [e for e in errors if "ERR_CONNECTION_REFUSED" not in e] == []
