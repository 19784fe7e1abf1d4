"""The model page shows everything the catalog knows of a version: its spec, resources
and SLA against the latest measurements, artifact, tensors, links, and deployments."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api.auth import COOKIE
from modelyard.api.dashboard import megabytes, model_url
from modelyard.perf.figures import memory_drift
from modelyard.store.history import DeploymentLog
from modelyard.store.measurements import MeasurementLog
from tests.support.api import REC

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Tokens = dict[tuple[str, str], str]


def _section(page: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}".*?</\1>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(0)


def test_units_and_links() -> None:
    assert megabytes(6144) == "6,144 MB"
    assert megabytes(4_111_360) == "3.9 TB"
    assert megabytes(12 * 1024 + 300) == "12.3 GB"
    assert megabytes(None) == "not measured"
    assert model_url("recommendation/user_embedding@1.0") == (
        "/ui/models/recommendation/user_embedding?version=1.0"
    )
    assert model_url("search/query_understanding") == "/ui/models/search/query_understanding"


def test_model_page_without_measurements(client: TestClient, tokens: Tokens) -> None:
    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    ranker = client.get("/ui/models/recommendation/recommendation_ranker").text
    # An ensemble: no artifact of its own, its steps link to their models.
    assert "an ensemble" in _section(ranker, "artifact")
    steps = _section(ranker, "ensemble-steps")
    assert 'href="/ui/models/recommendation/user_embedding"' in steps
    dependencies = _section(ranker, "dependencies")
    assert 'href="/ui/models/recommendation/ranking_scorer?version=3.0"' in dependencies
    assert "not measured (modelyard perf)" in _section(ranker, "resources")
    assert "no deployment touched this model" in _section(ranker, "model-deployments")

    user = client.get("/ui/models/recommendation/user_embedding").text
    needed_by = _section(user, "dependents")
    assert 'href="/ui/models/recommendation/recommendation_ranker?version=3.0"' in needed_by
    artifact = _section(user, "artifact")
    assert ".onnx" in artifact and re.search(r"sha256 <code>[0-9a-f]{64}</code>", artifact)
    resources = _section(user, "resources")
    assert "6,144 MB" in resources  # the declared GPU memory, in readable units
    tensors = _section(user, "tensors")
    assert "<td>input</td>" in tensors and "<td>output</td>" in tensors


def test_model_page_judges_measurements_against_the_sla(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    log = MeasurementLog(api_ws.store)
    ref = ("recommendation/user_embedding", "1.0")  # declares p99 50 ms, 4,096 MB memory
    perf = {
        "levels": [
            {
                "concurrency": 4,
                "requests": 200,
                "throughput_rps": 900.0,
                "latency_ms": {"p50_ms": 30.0, "p90_ms": 60.0, "p99_ms": 72.5},
            }
        ]
    }
    log.record(*ref, "gpu-a", "perf", perf, AT)
    spec = api_ws.show("recommendation/user_embedding@1.0").spec
    drift = memory_drift(spec.resource_requirements, 1, [5000 * 1024 * 1024], {})
    log.record(*ref, "gpu-a", "memory", drift.model_dump(mode="json"), AT)
    deployments = DeploymentLog(api_ws.store)
    failed = deployments.start("local", "test", "newest")
    deployments.finish(
        failed,
        "failed",
        [
            {
                "model": spec.triton_name,
                "action": "load",
                "status": "failed",
                "seconds": 1.0,
                "error": "smoke inference failed",
            },
            {"model": "search.other", "action": "load", "status": "done"},
        ],
        "recommendation.user_embedding failed",
    )

    client.cookies.set(COOKIE, tokens[("viewer", REC)])
    page = client.get("/ui/models/recommendation/user_embedding").text
    resources = _section(page, "resources")
    assert "72.5 ms at concurrency 4 (missed)" in resources
    # Throughput counts only at a latency within the SLA, and the page says why.
    assert "0.0 rps at concurrency 4 (missed)" in resources
    assert "best throughput at any latency was 900.0 rps" in resources
    assert "over by" in resources  # memory measured above its declaration
    assert "measured on gpu-a" in page
    history = _section(page, "model-deployments")
    assert f"#{failed}" in history and "load: failed (smoke inference failed)" in history
    # Another model's page does not list a deployment that did not touch it.
    other = client.get("/ui/models/recommendation/content_embedding").text
    assert "no deployment touched this model" in _section(other, "model-deployments")
