"""Feedback and experiment reports without a running gateway: the request records come from
the file the driver saves them to before a gateway process goes (traffic/haproxy.py), so
these need neither HAProxy nor Triton."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard import Workspace
from modelyard.errors import InputError, NotFound
from modelyard.ops import traffic
from modelyard.store.access import AccessLog
from modelyard.store.experiments import Arm, ExperimentLog, ExperimentRecord
from modelyard.store.outcomes import OutcomeLog
from modelyard.traffic import haproxy
from modelyard.traffic.statistics import sample_size_proportions
from modelyard.triton.server import free_port
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.workspaces import Cli, init_workspace


@pytest.fixture
def ws(tmp_path: Path, catalog_url: str) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{free_port()}', repository: repo, profile: local}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    workspace.apply([python_model(tmp_path, "echo", v, GOOD_MODEL) for v in ("1.0", "2.0")])
    yield workspace
    workspace.close()


def _experiment(ws: Workspace) -> ExperimentRecord:
    return ExperimentLog(ws.store).start(
        "tools/echo",
        "test",
        [Arm(version="1.0", weight=50), Arm(version="2.0", weight=50)],
        actor="ann",
    )


def _served(ws: Workspace, experiment: int, requests: dict[str, str]) -> None:
    """Record that the gateway served each request id (id -> version), as a stopped
    gateway process leaves them."""
    record = ExperimentLog(ws.store).get(experiment)  # arms by position, as HAProxy keeps them
    position = {arm.version: index for index, arm in enumerate(record.arms, 1)}
    files = traffic.gateway_files(ws.context(), "test")
    files.folder.mkdir(parents=True, exist_ok=True)
    with (files.folder / haproxy.REQUESTS_FILE).open("a") as handle:
        for request_id, version in requests.items():
            handle.write(f"{request_id} {experiment} {position[version]}\n")


def _counted(ws: Workspace, experiment: int, requests: dict[str, int]) -> None:
    """The gateway's saved counters: requests per arm."""
    files = traffic.gateway_files(ws.context(), "test")
    files.folder.mkdir(parents=True, exist_ok=True)
    (files.folder / haproxy.COUNTERS_FILE).write_text(
        json.dumps({f"{experiment}/{v}": [n, 0, 0] for v, n in requests.items()})
    )


def test_feedback_is_stored_by_request_id_and_a_second_one_replaces_it(ws: Workspace) -> None:
    record = _experiment(ws)
    _served(ws, record.id, {"req-a": "1.0", "req-b": "2.0"})
    first = ws.record_feedback("req-b", 0, target="test")
    assert (first.arm, first.value, first.replaced, first.experiment) == ("2.0", 0, None, record.id)
    assert AccessLog(ws.store).entries(action="experiment.feedback") == []
    second = ws.record_feedback("req-b", 1, target="test")
    assert (second.value, second.replaced) == (1, 0)
    assert OutcomeLog(ws.store).values(record.id) == {"2.0": [1.0]}
    replaced = AccessLog(ws.store).entries(action="experiment.feedback")
    assert [(e.before["value"], e.after["value"]) for e in replaced] == [(0, 1)]
    cli = Cli(ws.root)  # type: ignore[arg-type]
    shown = cli.json("experiment", "feedback", "req-a", "--value", "2.5", "--target", "test")
    assert shown["arm"] == "1.0" and shown["value"] == 2.5 and shown["replaced"] is None


@pytest.mark.parametrize(
    ("request_id", "value", "expect", "message"),
    [
        ("never-seen", "1", 3, "request never-seen: the gateway of target 'test' recorded no"),
        ("bad id;show", "1", 2, "expected the gateway's x-request-id"),
        ("x" * 129, "1", 2, "at most 128"),
        ("req-a", "nan", 2, "--value nan: an outcome is a finite number"),
    ],
)
def test_bad_feedback_is_one_line_and_changes_nothing(
    ws: Workspace, request_id: str, value: str, expect: int, message: str
) -> None:
    record = _experiment(ws)
    _served(ws, record.id, {"req-a": "1.0"})
    before = len(AccessLog(ws.store).entries())
    result = Cli(ws.root)(  # type: ignore[arg-type]
        "experiment", "feedback", request_id, "--value", value, "--target", "test", expect=expect
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert OutcomeLog(ws.store).values(record.id) == {}
    assert len(AccessLog(ws.store).entries()) == before


def _conversions(ws: Workspace, record: ExperimentRecord, rates: dict[str, float], n: int) -> None:
    """`n` requests per arm, the converted ones with feedback 1 (a random share `rate`)."""
    rng = np.random.default_rng(7)
    served: dict[str, str] = {}
    for version, rate in rates.items():
        for i in np.flatnonzero(rng.random(n) < rate):
            served[f"{version}-{i}"] = version
    _served(ws, record.id, served)
    _counted(ws, record.id, dict.fromkeys(rates, n))
    for request_id in served:
        ws.record_feedback(request_id, 1, target="test")


def test_the_report_compares_conversion_and_counts_each_new_look_once(
    ws: Workspace, tmp_path: Path
) -> None:
    record = _experiment(ws)
    _conversions(ws, record, {"1.0": 0.10, "2.0": 0.16}, 1000)
    report = ws.experiment_report("tools/echo", target="test", mde=0.02, baseline_rate=0.10)
    assert report.metric == "conversion" and report.experiment == record.id
    assert [(a.version, a.n, a.requests) for a in report.arms] == [
        ("1.0", 1000, 1000),
        ("2.0", 1000, 1000),
    ]
    base, candidate = report.arms
    assert base.low < base.value < base.high and base.successes == round(base.value * 1000)
    assert report.required_before == sample_size_proportions(0.10, 0.02)
    assert report.required_during == sample_size_proportions(base.value, 0.02)
    assert report.information_fraction == pytest.approx(1000 / report.required_during)
    (comparison,) = report.comparisons
    assert comparison.effect == pytest.approx(candidate.value - base.value)
    assert comparison.test == "two-proportion score" and comparison.p_value < 0.01
    # At about a quarter of the planned sample the first look needs a far smaller p than
    # 0.05: a plain test would call this significant, the corrected one not yet.
    assert report.look == 1 and comparison.nominal_alpha is not None
    assert comparison.nominal_alpha < 0.001
    assert comparison.uncorrected_significant and not comparison.significant
    # The same data again is the same look: nothing more is spent, nothing recorded.
    again = ws.experiment_report(str(record.id), target="test")
    assert again.look is None and len(again.looks) == 1
    assert again.comparisons[0].significant is comparison.significant
    # JSON and the HTML page through the CLI.
    cli = Cli(ws.root)  # type: ignore[arg-type]
    out = tmp_path / "page"
    shown = cli.json("experiment", "report", "tools/echo", "--target", "test", "--html", str(out))
    assert [a["n"] for a in shown["arms"]] == [1000, 1000]
    page = (out / "index.html").read_text()
    assert 'data-arm="1.0"' in page and 'data-candidate="2.0"' in page
    assert "Lan-DeMets" in page
    text = cli("experiment", "report", "tools/echo", "--target", "test").stdout
    assert "2.0 vs 1.0: effect" in text and "needed per arm for the MDE" in text


def test_a_reward_report_uses_means_and_welch(ws: Workspace) -> None:
    record = _experiment(ws)
    served = {f"a{i}": "1.0" for i in range(40)} | {f"b{i}": "2.0" for i in range(40)}
    _served(ws, record.id, served)
    for i in range(40):
        ws.record_feedback(f"a{i}", 1.0 + (i % 5) * 0.5, target="test")
        ws.record_feedback(f"b{i}", 3.0 + (i % 5) * 0.5, target="test")
    report = ws.experiment_report("tools/echo", target="test", mde=0.5)
    assert report.metric == "reward"
    assert [(a.n, a.value) for a in report.arms] == [(40, 2.0), (40, 4.0)]
    assert report.comparisons[0].test == "welch t" and report.comparisons[0].effect == 2.0
    assert report.required_during is not None and report.required_during > 1
    assert all(math.isfinite(a.low) for a in report.arms)


def test_report_refuses_bad_parameters_and_unknown_experiments(ws: Workspace) -> None:
    _experiment(ws)
    with pytest.raises(InputError, match="--alpha"):
        ws.experiment_report("tools/echo", target="test", alpha=0.9)
    with pytest.raises(InputError, match="--mde"):
        ws.experiment_report("tools/echo", target="test", mde=0)
    with pytest.raises(NotFound, match="no experiment 99"):
        ws.experiment_report("99", target="test")
    with pytest.raises(NotFound, match="tools/echo has no experiment on target 'local'"):
        ws.experiment_report("tools/echo")


def test_a_crossing_stays_and_each_look_with_more_information_is_the_next(
    ws: Workspace,
) -> None:
    record = _experiment(ws)
    _conversions(ws, record, {"1.0": 0.10, "2.0": 0.30}, 1000)
    first = ws.experiment_report("tools/echo", target="test")
    assert first.look == 1 and first.comparisons[0].crossed_at_look == 1
    # More requests, no more conversions on the candidate: the effect shrinks, but the
    # sequential test stopped at its first crossing, so the verdict stands.
    _counted(ws, record.id, {"1.0": 4000, "2.0": 4000})
    second = ws.experiment_report("tools/echo", target="test")
    assert second.look == 2 and [x.look for x in second.looks] == [1, 2]
    assert second.looks[1].fraction > second.looks[0].fraction
    assert second.comparisons[0].significant and second.comparisons[0].crossed_at_look == 1
