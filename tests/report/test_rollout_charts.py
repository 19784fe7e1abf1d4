"""Per-arm rollout charts (pure): one point per analysis for each arm, a gap where a
figure was not known, each analysis's outcome and the decision marked."""

from __future__ import annotations

import re

from modelyard import Workspace
from modelyard.report.rollout_charts import rollout_charts, rollout_points
from modelyard.store.canary import CanaryLog
from tests.support.canary import recorded_rollout
from tests.support.netflix import USER_EMBEDDING_11

MODEL = "recommendation/user_embedding"


def test_each_arm_is_drawn_over_the_analyses_with_the_decision(netflix: Workspace) -> None:
    netflix.apply_text(USER_EMBEDDING_11, actor="test")
    rollout = recorded_rollout(netflix, MODEL, "1.0", "1.1")
    events = CanaryLog(netflix.store).events(rollout)
    points = rollout_points(events)
    assert [(p.label, p.outcome) for p in points] == [
        ("step 1 (10 %)", "passed"),
        ("step 2 (50 %)", "inconclusive"),
        ("step 2 (50 %)", "failed"),
    ]
    assert [p.weight for p in points] == [
        {"baseline": 90, "candidate": 10},
        {"baseline": 50, "candidate": 50},
        {"baseline": 50, "candidate": 50},
    ]
    assert points[2].error_rate == {"baseline": 2 / 1900, "candidate": 60 / 600}
    assert points[1].p99_ms == {"baseline": None, "candidate": None}
    charts = {c["id"]: c["svg"] for c in rollout_charts(events)}
    assert list(charts) == ["weight", "error-rate", "p99"]
    for svg in charts.values():
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert len(re.findall(r'<circle class="point candidate"', svg)) in (2, 3)
        assert '<line class="decision decision-failed"' in svg and "rolled back" in svg
        assert re.findall(r'class="outcome outcome-(\w+)"', svg) == [
            "passed",
            "inconclusive",
            "failed",
        ]
    # The p99 line breaks where the second look knew no p99: two points per arm, no line.
    assert len(re.findall(r'<circle class="point baseline"', charts["p99"])) == 2
    assert "<polyline" not in charts["p99"]
    assert "candidate at step 2 (50 %): 10 %" in charts["error-rate"]
    assert '<polyline class="line candidate"' in charts["weight"]


def test_a_rollout_without_an_analysis_has_no_chart(netflix: Workspace) -> None:
    log = CanaryLog(netflix.store)
    record = log.start(
        MODEL,
        "local",
        baseline="1.0",
        candidate="1.1",
        steps=[100],
        interval_s=5,
        settings={},
        holder="x@y:1/z",
        actor="ann",
    )
    log.add_event(record, "weight", step=1, weight=100, actor="ann")
    assert rollout_charts(log.events(record.id)) == []
