"""A/B outcomes end to end: requests through real HAProxy to a real local Triton, feedback
by the request ids the gateway answered, and the report's arms with their counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.errors import NotFound
from tests.support.gateway import BODY, INFER, GatewayBed, gateway_bed, needs_haproxy
from tests.support.workspaces import Cli

pytestmark = [pytest.mark.triton, pytest.mark.gateway, needs_haproxy]


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url) as opened:
        yield opened


def _ask(url: str, requests: int, chosen: str | None = None) -> dict[str, str]:
    """request id -> the arm that answered it, as the response headers say."""
    served = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(requests):
            headers = {"x-request-id": chosen} if chosen and i == 0 else {}
            response = http.post(INFER, json=BODY, headers=headers)
            response.raise_for_status()
            served[response.headers["x-request-id"]] = response.headers["x-modelyard-arm"]
    return served


def test_feedback_by_the_gateways_request_ids_reaches_the_report(
    bed: GatewayBed, tmp_path: Path
) -> None:
    ws = bed.workspace
    ws.start_experiment("tools/echo", ["1.0=50", "2.0=50"], target="test")
    served = _ask(bed.gateway_url, 300, chosen="client-chosen.1")
    assert "client-chosen.1" in served and len(served) == 300
    arms = Counter(served.values())
    assert set(arms) == {"1.0", "2.0"}
    cli = Cli(bed.root)
    ids = sorted(served)
    shown = cli.json("experiment", "feedback", ids[0], "--value", "1", "--target", "test")
    assert shown["arm"] == served[ids[0]]
    # Every answer's arm is the one the feedback lands on; 2.0 converts more often.
    converted: Counter[str] = Counter({served[ids[0]]: 1})
    for i, request_id in enumerate(ids[1:]):
        value = 1 if (i % 3 == 0 if served[request_id] == "2.0" else i % 6 == 0) else 0
        result = ws.record_feedback(request_id, value, target="test")
        assert result.arm == served[request_id]
        converted[result.arm] += value
    # A restarted gateway still knows the requests of the process before it.
    ws.restart_gateway("test")
    again = ws.record_feedback(ids[0], 1, target="test")
    assert again.replaced == 1 and again.arm == served[ids[0]]
    later = _ask(bed.gateway_url, 20)
    first_new = sorted(later)[0]
    assert ws.record_feedback(first_new, 0, target="test").arm == later[first_new]
    with pytest.raises(NotFound, match="recorded no experiment arm"):
        ws.record_feedback("not-a-request-of-this-gateway", 1, target="test")

    report = cli.json("experiment", "report", "tools/echo", "--target", "test", "--mde", "0.1")
    total = arms + Counter(later.values())
    assert [(a["version"], a["requests"]) for a in report["arms"]] == [
        ("1.0", total["1.0"]),
        ("2.0", total["2.0"]),
    ]
    assert [a["outcomes"] for a in report["arms"]] == [
        arms["1.0"] + (later[first_new] == "1.0"),
        arms["2.0"] + (later[first_new] == "2.0"),
    ]
    assert [a["successes"] for a in report["arms"]] == [converted["1.0"], converted["2.0"]]
    (comparison,) = report["comparisons"]
    assert comparison["version"] == "2.0" and 0 < comparison["p_value"] < 1
    assert report["look"] == 1 and report["required_during"] > 0
    page = tmp_path / "page"
    cli("experiment", "report", "tools/echo", "--target", "test", "--html", str(page))
    assert 'data-arm="2.0"' in (page / "index.html").read_text()
