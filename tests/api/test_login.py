"""The dashboard's login (point 13 of issue 18): a POSTed form, `next` only to this
site, and failed token attempts throttled per address (api.limits)."""

from __future__ import annotations

import asyncio
import re

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.api.auth import COOKIE
from modelyard.api.dashboard import safe_next
from modelyard.api.limits import AttemptLimits, FailedAttempts
from modelyard.errors import TooManyAttempts
from tests.support.api import REC, bearer
from tests.support.asgi import acall, call

Tokens = dict[tuple[str, str], str]

OFF_SITE = [
    "/\\evil.example/phish",
    "/%5Cevil.example/phish",
    "/%255Cevil.example/phish",
    "/%25255C%25255Cevil.example",
    "//evil.example/phish",
    "/%2Fevil.example",
    "%2F%2Fevil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "HTTPS:evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    " //evil.example",
    "/ui/../..//evil.example",
    "/ui/%2e%2e/%2e%2e//evil.example",
    "evil.example",
    "",
]


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) == "/ui/catalog"


def test_next_keeps_paths_of_this_site() -> None:
    for target in (
        "/ui/deployments",
        "/ui/models/search/ranker?version=2.0",
        "/ui/catalog?team=a%26b",
    ):
        assert safe_next(target) == target


def test_login_redirects_only_to_this_site(client: TestClient, tokens: Tokens) -> None:
    page = client.get("/ui/login", params={"next": "/\\evil.example/phish"})
    assert page.status_code == 200 and "evil.example" not in page.text
    # The URL of the issue, exactly as a browser sends it.
    page = client.get("/ui/login?next=/%5Cevil.example/phish")
    assert "evil.example" not in page.text
    assert 'name="next" value="/ui/catalog"' in page.text
    secret = tokens[("viewer", REC)]
    for target in OFF_SITE:
        posted = client.post(
            "/ui/login", data={"token": secret, "next": target}, follow_redirects=False
        )
        assert posted.status_code == 303 and posted.headers["location"] == "/ui/catalog", target
    kept = client.post(
        "/ui/login",
        data={"token": secret, "next": "/ui/models/search/content_retrieval"},
        follow_redirects=False,
    )
    assert kept.headers["location"] == "/ui/models/search/content_retrieval"
    page = client.get("/ui/login", params={"next": "/ui/deployments"})
    assert 'name="next" value="/ui/deployments"' in page.text


def test_the_login_form_posts_and_sets_the_cookie(client: TestClient, tokens: Tokens) -> None:
    page = client.get("/ui/login").text
    form = re.search(r"<form id=\"login-form\"[^>]*>", page)
    assert form is not None
    assert 'method="post"' in form.group(0) and 'action="/ui/login"' in form.group(0)
    secret = tokens[("maintainer", REC)]
    posted = client.post("/ui/login", data={"token": secret}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == "/ui/catalog"
    cookie = posted.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={secret};") and "samesite=strict" in cookie.lower()
    catalog = client.get("/ui/catalog", follow_redirects=False)
    assert catalog.status_code == 200 and "maintainer · team " + REC in catalog.text
    # Without JavaScript, a wrong token comes back as the page with the reason.
    client.cookies.clear()
    wrong = client.post("/ui/login", data={"token": "myd_wrong"}, follow_redirects=False)
    assert wrong.status_code == 401 and "unknown token" in wrong.text
    assert "set-cookie" not in wrong.headers


def test_a_token_in_the_url_is_refused(client: TestClient, tokens: Tokens) -> None:
    secret = tokens[("admin", REC)]
    for answer in (
        client.get("/ui/login", params={"token": secret}),
        client.post("/ui/login", params={"token": secret}, data={"token": secret}),
    ):
        assert answer.status_code == 400 and "never accepted in a URL" in answer.text
        assert secret not in answer.text and "set-cookie" not in answer.headers


def test_a_stale_cookie_is_forgotten(client: TestClient) -> None:
    client.cookies.set(COOKIE, "myd_unknown")
    redirect = client.get("/ui/catalog", follow_redirects=False)
    assert redirect.status_code == 303 and f'{COOKIE}=""' in redirect.headers["set-cookie"]


def test_two_thousand_guesses_are_throttled(api_ws: Workspace, tokens: Tokens) -> None:
    clock = FakeClock()
    app = create_app(api_ws, failed_attempts=FailedAttempts(clock=clock))
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    async def guess_all() -> dict[int, int]:
        statuses: dict[int, int] = {}
        for guess in range(2000):
            # Through the login form and the API alike: one budget per address.
            if guess % 2:
                answer = await acall(
                    app, "POST", "/ui/login", headers=form, chunks=[f"token=myd_{guess}".encode()]
                )
            else:
                answer = await acall(app, "GET", "/api/v1/me", headers=bearer(f"myd_{guess}"))
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            if answer.status == 429:
                assert int(answer.headers["retry-after"]) >= 1
        return statuses

    assert asyncio.run(guess_all()) == {401: 10, 429: 1990}
    # Another address is not affected.
    assert call(app, "GET", "/api/v1/me", headers=bearer("myd_x"), client="10.0.0.9").status == 401
    admin = bearer(tokens[("admin", REC)])
    throttled = call(app, "GET", "/api/v1/me", headers=admin)
    # Even the right token: a throttled address learns nothing about its guesses.
    body = throttled.json()
    assert throttled.status == 429 and body["status"] == 429
    assert body["error"]["code"] == "too_many_attempts"
    assert "10 attempts, then one every 6 s" in body["error"]["message"]
    assert throttled.headers["retry-after"] == "6"
    clock.now_s += 6
    assert call(app, "GET", "/api/v1/me", headers=admin).status == 200
    assert call(app, "GET", "/api/v1/me", headers=bearer("myd_guess")).status == 401
    assert call(app, "GET", "/api/v1/me", headers=bearer("myd_guess")).status == 429


def test_failed_attempts_bucket() -> None:
    clock = FakeClock()
    attempts = FailedAttempts(AttemptLimits(burst=3, refill_s=10, max_clients=2), clock=clock)
    for _ in range(3):
        attempts.check("10.0.0.1")
        attempts.failed("10.0.0.1")
    with pytest.raises(TooManyAttempts, match="try again in 10 s") as raised:
        attempts.check("10.0.0.1")
    assert raised.value.retry_after_s == 10 and raised.value.http_status == 429
    attempts.check("10.0.0.2")  # another address has its own bucket
    clock.now_s += 10
    attempts.check("10.0.0.1")  # one attempt came back
    attempts.failed("10.0.0.1")
    with pytest.raises(TooManyAttempts):
        attempts.check("10.0.0.1")
    attempts.failed("10.0.0.2")
    attempts.failed("10.0.0.3")  # at most two addresses: the least recent is forgotten
    attempts.check("10.0.0.1")
    # Guesses in flight together all pass the check; each failure still costs its 10 s.
    for _ in range(5):
        attempts.check("10.0.0.4")
    for _ in range(5):
        attempts.failed("10.0.0.4")
    with pytest.raises(TooManyAttempts) as raised:
        attempts.check("10.0.0.4")
    assert raised.value.retry_after_s == 30
