"""What stored measurements say about the Netflix selection: no server needed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelyard import Workspace
from modelyard.catalog.spec import Resources
from modelyard.perf.figures import memory_drift
from modelyard.store.measurements import MeasurementLog

MB = 1024 * 1024
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _perf(p99_ms: float, rps: float, concurrency: int = 1) -> dict[str, Any]:
    return {
        "levels": [
            {
                "concurrency": concurrency,
                "requests": 200,
                "throughput_rps": rps,
                "latency_ms": {"p50_ms": p99_ms / 2, "p90_ms": p99_ms * 0.9, "p99_ms": p99_ms},
            }
        ]
    }


def _codes(workspace: Workspace, **kwargs: Any) -> set[tuple[str, str | None]]:
    return {
        (p.code, p.model)
        for p in workspace.validate(live=True, **kwargs).problems
        if p.code.startswith(("sla-live", "memory-over"))
    }


def test_live_findings_follow_the_measurements(netflix: Workspace) -> None:
    log = MeasurementLog(netflix.store)
    assert _codes(netflix) == set()
    coverage = next(p for p in netflix.validate(live=True).problems if p.code == "live-coverage")
    assert coverage.message.startswith("0 of 6 model version(s)")

    # content_embedding declares 75 ms and 50 rps; measured 120 ms at 60 rps.
    log.record("recommendation/content_embedding", "2.1", "gpu", "perf", _perf(120, 60), AT)
    assert _codes(netflix) == {
        ("sla-live-latency", "recommendation/content_embedding@2.1"),
        ("sla-live-throughput", "recommendation/content_embedding@2.1"),
        # The ranker's budget is 100 ms; one of its steps alone takes 120 ms.
        ("sla-live-chain", "recommendation/recommendation_ranker@3.0"),
    }
    problems = netflix.validate(live=True).problems
    latency = next(p for p in problems if p.code == "sla-live-latency")
    assert "p99 latency 120.00 ms misses the declared 75 ms (margin -45.00 ms" in latency.message
    assert latency.details["target"] == "gpu"
    chain = next(p for p in problems if p.code == "sla-live-chain")
    assert chain.details["chain"][:2] == [
        "recommendation/recommendation_ranker@3.0",
        "recommendation/content_embedding@2.1",
    ]
    assert _codes(netflix, target="local") == set()
    assert not netflix.validate(live=True).errors
    strict = netflix.validate(live=True, strict=True)
    assert {p.code for p in strict.errors} >= {"sla-live-latency", "sla-live-chain"}

    # A newer measurement that meets the SLA replaces it.
    log.record(
        "recommendation/content_embedding", "2.1", "gpu", "perf", _perf(40, 80), AT.replace(hour=13)
    )
    assert _codes(netflix) == set()


def test_memory_over_declaration_warns_and_calibrates_placement(
    netflix: Workspace, cli: Any
) -> None:
    log = MeasurementLog(netflix.store)
    declared = Resources(memory_mb=4096, gpu_memory_mb=6144)
    measured = memory_drift(declared, 1, [], {"CPU": 5000 * MB, "GPU": 9000 * MB})
    log.record(
        "recommendation/user_embedding",
        "1.0",
        "gpu",
        "memory",
        measured.model_dump(mode="json"),
        AT,
    )
    findings = [p for p in netflix.validate(live=True).problems if p.code == "memory-over-declared"]
    assert {p.field for p in findings} == {
        "resource_requirements.memory_mb",
        "resource_requirements.gpu_memory_mb",
    }
    gpu = next(p for p in findings if p.field == "resource_requirements.gpu_memory_mb")
    assert (
        "uses 9,000 MB of GPU memory per instance, more than the 6,144 MB declared" in gpu.message
    )

    def used(placement: dict[str, Any], key: str) -> int:
        return sum(int(server[key]) for server in placement["servers"])

    plain = netflix.place(exact=False).model_dump(mode="json")
    calibrated = netflix.place(exact=False, calibrated=True).model_dump(mode="json")
    replicas = (
        sum(1 for a in calibrated["assignments"] if a["ref"] == "recommendation/user_embedding@1.0")
        or 1
    )
    assert (
        used(calibrated, "used_gpu_memory_mb") - used(plain, "used_gpu_memory_mb")
        == (9000 - 6144) * replicas
    )
    assert (
        used(calibrated, "used_memory_mb") - used(plain, "used_memory_mb")
        == (5000 - 4096) * replicas
    )
    assert (
        netflix.place(exact=False, calibrated=True, target="local").model_dump(mode="json") == plain
    )
    placed = cli.json("place", "--calibrated", "--first-fit")
    assert placed["calibrated"]["recommendation/user_embedding@1.0"]["gpu_memory_mb"] == {
        "declared": 6144,
        "measured": 9000,
    }
    assert (
        "calibrated recommendation/user_embedding@1.0: memory_mb 4,096 -> 5,000"
        in cli("place", "--calibrated", "--first-fit").stdout
    )
    assert "calibrated" not in cli.json("place", "--first-fit")


def test_report_shows_measured_vs_declared(netflix: Workspace, tmp_path: Any) -> None:
    MeasurementLog(netflix.store).record(
        "search/query_understanding", "1.5", "gpu", "perf", _perf(30, 250), AT
    )
    page = netflix.html_report(tmp_path / "report").read_text()
    table = page[page.index('id="measured-table"') : page.index('<h2 id="findings">')]
    assert "search/query_understanding@1.5" in table and "250" in table
    assert 'class="overrun"' not in table  # 30 ms within 80 ms, 250 rps above 200
