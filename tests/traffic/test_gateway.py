"""The gateway against real HAProxy and a real local Triton: splits, sticky users, weight
changes and restarts under load, candidates that never get weight, blue-green."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import RolloutFailed
from modelyard.store.access import AccessLog
from modelyard.store.experiments import ExperimentLog
from tests.support.gateway import GatewayBed, Loop, gateway_bed, needs_haproxy, send
from tests.support.rollout import FAILS_TO_ANSWER, GOOD_MODEL, python_model
from tests.support.workspaces import Cli

pytestmark = [pytest.mark.triton, pytest.mark.gateway, needs_haproxy]


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url) as opened:
        yield opened


def test_a_90_10_split_of_10000_requests(bed: GatewayBed) -> None:
    ws = bed.workspace
    started = time.monotonic()
    result = ws.start_experiment("tools/echo", ["1.0=90", "2.0=10"], target="test")
    print(f"start took {time.monotonic() - started:.1f} s")
    assert result.experiment.weights == {"1.0": 90, "2.0": 10}
    # Both arms are part of the selection now: a later deploy keeps them loaded.
    assert {a.action for a in ws.rollout_plan("test").actions} == {"keep"}
    started = time.monotonic()
    answers = send(bed.gateway_url, 10_000, users=500)
    print(f"10000 requests took {time.monotonic() - started:.1f} s")
    assert answers.failures == []
    assert abs(answers.share("2.0") - 0.10) <= 0.015, answers.arms
    # The header names the arm that answered: Triton version 1 is 1.0, 2 is 2.0.
    assert answers.values == {1.0: answers.arms["1.0"], 2.0: answers.arms["2.0"]}
    assert len(answers.request_ids) == 10_000
    status = ws.experiment_status("tools/echo", target="test").experiments[0]
    assert {a.version: a.requests for a in status.arms} == dict(answers.arms)
    assert {a.version: a.errors for a in status.arms} == {"1.0": 0, "2.0": 0}
    # `status` shows the experiment beside what the target serves (both arms: in sync).
    target_status = ws.status("test")
    assert target_status.in_sync
    assert [(e.model, e.weights) for e in target_status.experiments] == [
        ("tools/echo", {"1.0": 90, "2.0": 10})
    ]
    shown = Cli(bed.root)("status", "--target", "test").stdout
    assert f"experiment {status.id} ({status.kind}) on tools/echo: 1.0=90%, 2.0=10%" in shown


def test_sticky_users_keep_their_arm_and_only_move_into_a_grown_candidate(
    bed: GatewayBed,
) -> None:
    ws = bed.workspace
    # A header the gateway's configuration does not hash yet: a seamless reload adds it.
    ws.start_experiment(
        "tools/echo", ["1.0=90", "2.0=10"], sticky_header="X-Session-Id", target="test"
    )
    assert "x-session-id" in ws.gateway_status("test").sticky_headers
    first = send(bed.gateway_url, 10_000, users=500, header="x-session-id")
    assert first.failures == []
    assert {len(arms) for arms in first.by_user.values()} == {1}  # every user: one arm
    # With sticky buckets the share is that of the users, not of the requests: 500 users
    # give it a spread of 1.3 points, and these fixed ids (hashed with the model name)
    # land at 11.4 %.
    assert abs(first.share("2.0") - 0.10) <= 0.015, first.arms
    ws.set_weights("tools/echo", ["1.0=70", "2.0=30"], target="test")
    second = send(bed.gateway_url, 2_000, users=500, header="x-session-id")
    assert second.failures == []
    assert {len(arms) for arms in second.by_user.values()} == {1}
    moved_back = [u for u, arms in first.by_user.items() if arms == {"2.0"} != second.by_user[u]]
    moved_in = [u for u, arms in first.by_user.items() if arms == {"1.0"} != second.by_user[u]]
    assert moved_back == []
    assert 50 <= len(moved_in) <= 150, len(moved_in)  # about 20 % of 500 users
    print(f"candidate share {first.share('2.0'):.3f}; 70/30 moved {len(moved_in)} users in")


def test_weight_changes_and_restarts_under_load_lose_no_request(bed: GatewayBed) -> None:
    ws = bed.workspace
    ws.start_experiment("tools/echo", ["1.0=90", "2.0=10"], target="test")
    with Loop(bed.gateway_url) as loop:
        for change in (["1.0=50", "2.0=50"], "restart", ["1.0=0", "2.0=100"], "restart"):
            time.sleep(1.0)
            if change == "restart":
                ws.restart_gateway("test")
            else:
                ws.set_weights("tools/echo", change, target="test")
        ws.set_weights("tools/echo", ["1.0=70", "2.0=30"], target="test")
        time.sleep(1.0)
        ws.restart_gateway("test")
        time.sleep(1.0)
    assert loop.answers.failures == []
    answered = loop.total()
    assert answered > 100, answered
    # After the restarts the gateway routes as recorded: the map file, the running
    # process, and the requests themselves.
    status = ws.gateway_status("test")
    assert status.in_sync is True and status.routes == {"tools.echo": {"1.0": 70, "2.0": 30}}
    after = send(bed.gateway_url, 2_000)
    assert after.failures == [] and abs(after.share("2.0") - 0.30) <= 0.04, after.arms
    # Stopped and started again (no loop: clients are refused while it is down).
    ws.stop_gateway("test")
    assert ws.gateway_status("test").running is False
    bed.start_gateway()
    again = send(bed.gateway_url, 2_000)
    assert again.failures == [] and abs(again.share("2.0") - 0.30) <= 0.04, again.arms
    # The counters survive restarts (saved before each process goes; requests a process
    # answers after the save are not counted).
    counted = sum(
        a.requests for a in ws.experiment_status("tools/echo", target="test").experiments[0].arms
    )
    print(f"loop answered {answered}; counted {counted} of {answered + 4_000}")
    assert 0.8 * (answered + 4_000) <= counted <= answered + 4_000
    # Every change is audited with the weights before and after.
    entries = AccessLog(ws.store).entries(action="experiment.set")
    assert [e.after["weights"]["2.0"] for e in reversed(entries)] == [50, 100, 30]
    assert [e.before["weights"]["2.0"] for e in reversed(entries)] == [10, 50, 100]


FAILS_AT_LOAD = GOOD_MODEL.replace(
    'self.version = float(args["model_version"])', 'raise RuntimeError("weights are corrupt")'
)


def test_a_broken_candidate_never_gets_weight(bed: GatewayBed, tmp_path: Path) -> None:
    ws = bed.workspace
    for version, code, reason in (
        ("3.0", FAILS_AT_LOAD, "weights are corrupt"),
        ("4.0", FAILS_TO_ANSWER, "cannot answer"),
    ):
        ws.apply([python_model(tmp_path, "echo", version, code)])
        with Loop(bed.gateway_url) as loop, pytest.raises(RolloutFailed, match=reason) as refused:
            ws.start_experiment("tools/echo", ["2.0=90", f"{version}=10"], target="test")
        assert "no arm got any weight" in refused.value.message
        assert loop.answers.failures == []
        assert set(loop.answers.values) == {2.0}  # only the version served before
        assert loop.total() > 0
        assert ExperimentLog(ws.store).history() == []
        assert ws.gateway_status("test").routes == {}
        assert ws.gateway_status("test").in_sync is True  # the pin is gone
    refusals = AccessLog(ws.store).entries(action="experiment.refused")
    assert len(refusals) == 2 and "cannot answer" in refusals[0].after["error"]


def test_blue_green_switch_and_back_loses_no_request(bed: GatewayBed) -> None:
    cli = Cli(bed.root)
    with Loop(bed.gateway_url) as loop:
        time.sleep(0.5)
        switched = cli.json("switch", "tools/echo", "--to", "1.0", "--target", "test")
        assert switched["experiment"]["kind"] == "switch"
        assert switched["before"] is None  # unrouted: Triton's newest, 2.0
        now = send(bed.gateway_url, 200)
        assert now.values == {1.0: 200}  # every request at once
        time.sleep(0.5)
        back = cli.json("switch", "tools/echo", "--to", "2.0", "--target", "test")
        assert back["before"] == {"2.0": 0, "1.0": 100}
        assert send(bed.gateway_url, 200).values == {2.0: 200}
        time.sleep(0.5)
    assert loop.answers.failures == []
    assert set(loop.answers.values) == {1.0, 2.0}
    status = cli.json("experiment", "status", "--target", "test")["experiments"]
    assert [(a["version"], a["weight"]) for a in status[0]["arms"]] == [("2.0", 100), ("1.0", 0)]
    table = cli("experiment", "status", "--target", "test").stdout
    assert "switch" in table and "running" in table and "100%" in table
    stopped = cli.json("experiment", "stop", "tools/echo", "--keep", "2.0", "--target", "test")
    assert stopped["promoted"] == {"alias": "production", "version": "2.0"}
    assert [(a.name, a.version) for a in bed.workspace.store.aliases("tools/echo")] == [
        ("production", "2.0")
    ]
    assert send(bed.gateway_url, 100).values == {2.0: 100}
    # Stopped: `status` shows no experiment (1.0 stays loaded until the next deploy).
    assert bed.workspace.status("test").experiments == []
