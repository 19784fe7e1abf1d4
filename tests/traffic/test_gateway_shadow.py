"""Shadow arms against real HAProxy, real nginx and a real local Triton: the shadow gets
its copies, no client sees its answers, it survives restarts and changes, ends with the
experiment, and a broken shadow is refused before it gets any copy."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard import RolloutFailed, Workspace
from modelyard.api import create_app
from modelyard.api.auth import COOKIE
from modelyard.ops.traffic import ShadowStatus
from modelyard.store.access import AccessLog
from modelyard.store.experiments import ExperimentLog
from tests.support.api import bearer
from tests.support.gateway import (
    MODEL,
    GatewayBed,
    Loop,
    gateway_bed,
    needs_haproxy,
    needs_nginx,
    send,
    served_count,
)
from tests.support.rollout import FAILS_TO_ANSWER, python_model
from tests.support.workspaces import Cli

pytestmark = [pytest.mark.triton, pytest.mark.gateway, needs_haproxy, needs_nginx]

SHADOW_TRITON_VERSION = 3  # echo 3.0 answers 3.0: an answer clients must never see


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url, versions=("1.0", "2.0", "3.0")) as opened:
        yield opened


def _shadow(ws: Workspace) -> ShadowStatus:
    """The shadow's counts once every copy sent has been answered or has failed (copies
    finish after the clients' answers)."""
    for _ in range(100):
        shadow = ws.experiment_status("tools/echo", target="test").experiments[0].shadow
        assert shadow is not None
        if shadow.copies_answered + shadow.copies_failed >= shadow.copies_sent:
            return shadow
        time.sleep(0.1)
    return shadow


def test_the_shadow_gets_its_copies_and_no_client_sees_them(bed: GatewayBed) -> None:
    ws = bed.workspace
    started = ws.start_experiment(
        "tools/echo", ["1.0=90", "2.0=10"], shadow="3.0=20", target="test"
    )
    assert started.experiment.shadow is not None
    assert started.experiment.shadow.percent == 20
    served_before = served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION)
    answers = send(bed.gateway_url, 4_000, users=500)
    assert answers.failures == []
    # Every answer is an arm's: the header and the body's version agree, never 3.0.
    assert set(answers.arms) == {"1.0", "2.0"} and set(answers.values) == {1.0, 2.0}
    assert answers.values == {1.0: answers.arms["1.0"], 2.0: answers.arms["2.0"]}
    shadow = _shadow(ws)
    received = served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION) - served_before
    print(f"copies sent {shadow.copies_sent}, answered {shadow.copies_answered}, Triton {received}")
    # 20 % of 4,000 requests drawn (sd 25 requests), each copy answered by the shadow.
    assert 700 <= shadow.copies_sent <= 900, shadow
    assert received >= 0.99 * shadow.copies_sent and received <= shadow.copies_sent
    assert shadow.copies_answered == received and shadow.copies_failed == 0
    # The arms' counts are the clients' requests, copies not among them.
    status = ws.experiment_status("tools/echo", target="test").experiments[0]
    assert {a.version: a.requests for a in status.arms} == dict(answers.arms)
    cli = Cli(bed.root)
    shown = cli.json("experiment", "status", "--target", "test")["experiments"][0]["shadow"]
    assert shown["version"] == "3.0" and shown["copies_sent"] == shadow.copies_sent
    table = cli("experiment", "status", "--target", "test").stdout
    assert (
        f"shadow 3.0 of experiment {status.id} (tools/echo): copies of 20% of requests; "
        f"{shadow.copies_sent} sent, {shadow.copies_answered} answered, 0 failed"
    ) in table
    gateway = ws.gateway_status("test")
    assert gateway.in_sync and gateway.shadows == {MODEL: {"3.0": 20}}
    assert len(gateway.shadow_proxy_pids) == 1
    start = AccessLog(ws.store).entries(action="experiment.start")[0]
    assert start.after["shadow"] == {"version": "3.0", "percent": 20}


def test_the_shadow_survives_restarts_changes_and_ends_with_the_experiment(
    bed: GatewayBed,
) -> None:
    ws = bed.workspace
    ws.start_experiment("tools/echo", ["1.0=50", "2.0=50"], shadow="3.0=50", target="test")
    with Loop(bed.gateway_url) as loop:
        time.sleep(0.5)
        ws.restart_gateway("test")
        time.sleep(0.5)
        ws.set_weights("tools/echo", [], shadow="3.0=100", target="test")
        time.sleep(0.5)
    assert loop.answers.failures == [] and set(loop.answers.values) == {1.0, 2.0}
    # Stopped and started again: HAProxy and nginx come back with the recorded shadow.
    ws.stop_gateway("test")
    assert ws.gateway_status("test").shadow_proxy_pids == []
    bed.start_gateway()
    sent_before = _shadow(ws).copies_sent
    served_before = served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION)
    again = send(bed.gateway_url, 500)
    assert again.failures == [] and set(again.values) <= {1.0, 2.0}
    shadow = _shadow(ws)
    assert shadow.percent == 100 and shadow.copies_sent - sent_before == 500
    assert served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION) - served_before >= 495
    changes = AccessLog(ws.store).entries(action="experiment.set")
    assert changes[0].before["shadow"] == {"version": "3.0", "percent": 50}
    assert changes[0].after["shadow"] == {"version": "3.0", "percent": 100}
    # --no-shadow: the arms go on, no more copies.
    ws.set_weights("tools/echo", [], no_shadow=True, target="test")
    assert ws.gateway_status("test").shadows == {}
    served_before = served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION)
    assert send(bed.gateway_url, 200).failures == []
    assert served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION) == served_before
    # A shadow again, then `experiment stop`: it ends the shadow with the arms.
    ws.set_weights("tools/echo", [], shadow="3.0=100", target="test")
    ws.stop_experiment("tools/echo", "2.0", target="test")
    served_before = served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION)
    after = send(bed.gateway_url, 200)
    assert after.failures == [] and after.values == {2.0: 200}
    assert served_count(bed.triton_url, MODEL, SHADOW_TRITON_VERSION) == served_before
    stop = AccessLog(ws.store).entries(action="experiment.stop")[0]
    assert "shadow" in stop.before and "shadow" not in stop.after
    assert ws.gateway_status("test").shadows == {}


def test_a_shadow_that_fails_its_smoke_inference_is_refused(
    bed: GatewayBed, tmp_path: Path
) -> None:
    ws = bed.workspace
    ws.apply([python_model(tmp_path, "echo", "4.0", FAILS_TO_ANSWER)])
    with Loop(bed.gateway_url) as loop, pytest.raises(RolloutFailed, match="cannot answer") as no:
        ws.start_experiment("tools/echo", ["1.0=90", "2.0=10"], shadow="4.0=20", target="test")
    assert "no arm got any weight" in no.value.message
    assert loop.answers.failures == [] and set(loop.answers.values) == {3.0}  # as before
    assert ExperimentLog(ws.store).history() == []
    gateway = ws.gateway_status("test")
    assert gateway.routes == {} and gateway.shadows == {} and gateway.in_sync is True
    assert gateway.shadow_proxy_pids == []  # nothing started for it
    # On a running experiment, `set --shadow` with it is refused the same way (the
    # selection deployed beside the arms: alias stable, 3.0, not the newest, 4.0).
    ws.set_alias("tools/echo", "stable", "3.0")
    ws.start_experiment("tools/echo", ["1.0=90", "2.0=10"], target="test", alias="stable")
    with Loop(bed.gateway_url) as loop, pytest.raises(RolloutFailed, match="cannot answer"):
        ws.set_weights("tools/echo", [], shadow="4.0=20", target="test", alias="stable")
    assert loop.answers.failures == [] and set(loop.answers.values) == {1.0, 2.0}
    record = ExperimentLog(ws.store).running("tools/echo", "test")
    assert record is not None and record.shadow is None
    assert ws.gateway_status("test").shadows == {}


def test_a_shadow_through_the_api_and_on_the_dashboard(bed: GatewayBed) -> None:
    ws = bed.workspace
    _, owner = ws.access.create_token("platform", "maintainer", actor="test")
    _, stranger = ws.access.create_token("search", "maintainer", actor="test")
    echo = "/api/v1/experiments/tools/echo"
    arms = [{"version": "1.0", "weight": 50}, {"version": "2.0", "weight": 50}]
    with TestClient(create_app(ws)) as client:
        started = client.post(
            echo,
            headers=bearer(owner),
            json={"arms": arms, "shadow": {"version": "3.0", "percent": 50}, "target": "test"},
        )
        assert started.status_code == 201, started.text
        assert started.json()["experiment"]["shadow"]["percent"] == 50
        answers = send(bed.gateway_url, 400)
        assert answers.failures == [] and set(answers.values) == {1.0, 2.0}
        shadow = _shadow(ws)
        assert 140 <= shadow.copies_sent <= 260 and shadow.copies_failed == 0
        listed = client.get(echo, headers=bearer(stranger), params={"target": "test"}).json()
        assert listed["experiments"][0]["shadow"]["copies_sent"] == shadow.copies_sent
        client.cookies.set(COOKIE, owner)
        experiment_id = started.json()["experiment"]["id"]
        row = re.search(
            r'<tr[^>]*data-shadow="3.0"[^>]*>(.*?)</tr>',
            client.get(f"/ui/experiments/{experiment_id}").text,
            re.S,
        )
        assert row is not None and "copies 50%" in row.group(1)
        assert f"{shadow.copies_sent} <span" in row.group(1)
        report = re.search(
            r'<tr[^>]*data-shadow="3.0"[^>]*>(.*?)</tr>', ws.html_report_page(), re.S
        )
        assert report is not None and f"{shadow.copies_sent} copies" in report.group(1)
        # Another team may not change the shadow; the owner changes it, then ends it.
        weights = f"{echo}/weights"
        body = {"shadow": {"version": "3.0", "percent": 100}, "target": "test"}
        assert client.put(weights, headers=bearer(stranger), json=body).status_code == 403
        changed = client.put(weights, headers=bearer(owner), json=body)
        assert changed.status_code == 200, changed.text
        assert ws.gateway_status("test").shadows == {MODEL: {"3.0": 100}}
        both = client.put(weights, headers=bearer(owner), json={**body, "no_shadow": True})
        assert both.status_code == 422 and "nothing changed" in both.json()["error"]["message"]
        ended = client.put(
            weights, headers=bearer(owner), json={"no_shadow": True, "target": "test"}
        )
        assert ended.status_code == 200, ended.text
        assert ended.json()["experiment"]["shadow"] is None
        assert ws.gateway_status("test").shadows == {}
