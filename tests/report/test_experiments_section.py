"""The HTML report's experiments section: current and past experiments, each change with
the weights before and after as the catalog recorded them."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.store.experiments import Arm, ExperimentLog
from tests.support.netflix import USER_EMBEDDING_11

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"),
    reason="Graphviz `dot` is not installed (make test installs it)",
)
MODEL = "recommendation/user_embedding"


def _section(page: str) -> str:
    start = page.index('<h2 id="experiments">')
    return page[start : page.index("<h2", start + 1)]


@needs_dot
def test_the_report_shows_current_and_past_experiments_with_their_changes(
    netflix: Workspace, tmp_path: Path
) -> None:
    empty = _section(netflix.html_report(tmp_path / "before").read_text())
    assert "No traffic experiment has run from this catalog" in empty
    netflix.apply_text(USER_EMBEDDING_11, actor="test")
    log = ExperimentLog(netflix.store)
    past = log.start(
        MODEL, "local", [Arm(version="1.0", weight=90), Arm(version="1.1", weight=10)], actor="ann"
    )
    log.reweigh(
        past.id, [Arm(version="1.0", weight=50), Arm(version="1.1", weight=50)], actor="bob"
    )
    log.stop(past.id, "1.1", actor="<b>carl</b>")
    current = log.start(
        MODEL,
        "local",
        [Arm(version="1.1", weight=80), Arm(version="1.0", weight=20)],
        kind="switch",
        sticky_header="x-user-id",
        actor="dan",
        before={"weights": {"1.1": 100}},
    )
    page = netflix.html_report(tmp_path / "after").read_text()
    assert '<a href="#experiments">experiments</a>' in page
    section = _section(page)
    rows = re.findall(r'<tr class="experiment-(\w+)" data-experiment="(\d+)">', section)
    # Newest first, one row per arm.
    assert rows == [("running", str(current.id))] * 2 + [("stopped", str(past.id))] * 2
    assert "switch (sticky: x-user-id)" in section and "stopped (kept 1.1)" in section
    changes = {
        int(number): re.findall(r"<tr><td>[\d: -]+</td>(.*?)</tr>", table, re.S)
        for number, table in re.findall(
            r'<table class="experiment-changes" data-experiment="(\d+)">(.*?)</table>',
            section,
            re.S,
        )
    }
    cells = {
        number: [re.findall(r"<td>(.*?)</td>", row) for row in found]
        for number, found in changes.items()
    }
    assert cells[past.id] == [
        ["experiment.start", "ann", "unrouted", "1.0=90, 1.1=10"],
        ["experiment.set", "bob", "1.0=90, 1.1=10", "1.0=50, 1.1=50"],
        [
            "experiment.stop (kept 1.1)",
            "&lt;b&gt;carl&lt;/b&gt;",
            "1.0=50, 1.1=50",
            "1.0=0, 1.1=100",
        ],
    ]
    assert cells[current.id] == [["switch", "dan", "1.1=100", "1.1=80, 1.0=20"]]
    assert "<b>carl</b>" not in page  # escaped, like every value


def _rollouts(page: str) -> str:
    start = page.index('<h2 id="rollouts">')
    return page[start : page.index("<h2", start + 1)]


@needs_dot
def test_the_report_shows_each_rollout_with_per_arm_charts(
    netflix: Workspace, tmp_path: Path
) -> None:
    from tests.support.canary import recorded_rollout

    empty = _rollouts(netflix.html_report(tmp_path / "before").read_text())
    assert "No canary rollout has run from this catalog" in empty
    netflix.apply_text(USER_EMBEDDING_11, actor="test")
    rollout = recorded_rollout(netflix, MODEL, "1.0", "1.1", actor="<b>carl</b>")
    section = _rollouts(netflix.html_report(tmp_path / "after").read_text())
    assert re.findall(r'<tr class="rollout-(\w+)" data-rollout="(\d+)">', section) == [
        ("failed", str(rollout))
    ]
    for chart in ("weight", "error-rate", "p99"):
        assert f'<div id="rollout-{rollout}-{chart}"><svg' in section
    assert "(3 analyses): failed" in section
    assert "step 2 (50 %) failed, rolled back to 1.0" in section
    assert "&lt;b&gt;carl&lt;/b&gt;" in section and "<b>carl</b>" not in section
