"""The rollout pages in a real browser (Debian's headless Chromium): the list, one
rollout's per-arm charts (screenshot in test-artifacts/), and its team's abort."""

from __future__ import annotations

import os

import pytest

from modelyard import Workspace
from modelyard.store.canary import CanaryLog
from tests.support.api import SEARCH
from tests.support.browser import ARTIFACTS, CHROMIUM, serving
from tests.support.canary import recorded_rollout
from tests.support.experiments import MODEL, SEARCH_16

Tokens = dict[tuple[str, str], str]


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it)",
)
def test_a_rollout_page_in_a_real_browser(api_ws: Workspace, tokens: Tokens) -> None:
    from playwright.sync_api import expect, sync_playwright

    api_ws.apply_text(SEARCH_16, actor="test")
    finished = recorded_rollout(api_ws, MODEL, "1.5", "1.6")
    running = CanaryLog(api_ws.store).start(
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
    errors: list[str] = []
    with serving(api_ws) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/ui/login?next=/ui/rollouts")
        page.fill("#token", tokens[("maintainer", SEARCH)])
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/ui/rollouts")
        expect(page.locator("#rollouts tbody tr")).to_have_count(2)
        page.click(f'#rollouts a[href="/ui/rollouts/{finished}"]')
        page.wait_for_url(f"{url}/ui/rollouts/{finished}")
        for chart in ("weight", "error-rate", "p99"):
            expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
        expect(page.locator("#rollout-decision")).to_contain_text("failed")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "rollout.png"), full_page=True)
        # The running one: its team aborts it from the page.
        page.goto(f"{url}/ui/rollouts/{running.id}")
        page.click("#abort-form button[type=submit]")
        expect(page.locator("#change-result")).to_contain_text("every request back to 1.5")
        browser.close()
    assert errors == []
    assert (ARTIFACTS / "rollout.png").stat().st_size > 10_000
    assert CanaryLog(api_ws.store).get(running.id).state == "aborted"
