"""A canary of a model that an ensemble runs reaches the ensemble's clients, against real
HAProxy and a real local Triton: `tools/user_embedding` (a python model answering its
own version) is a step of `tools/recommendation_ranker`, itself a step of
`tools/homepage`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import RolloutFailed
from modelyard.store.experiments import ExperimentLog
from tests.support.gateway import GatewayBed, Loop, gateway_bed, needs_haproxy, send
from tests.support.rollout import FAST, GOOD_MODEL, python_model, ready_models

pytestmark = [pytest.mark.triton, pytest.mark.gateway, needs_haproxy]

STEP = "tools.user_embedding"
RANKER = "tools.recommendation_ranker"
HOME = "tools.homepage"


def _ensemble(tmp_path: Path, name: str, step: str, constraint: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    manifest = folder / "manifest.yaml"
    manifest.write_text(f"""\
name: {name}
version: "1.0"
model_type: ensemble
framework: ensemble
domain: tools
owner_team: platform
dependencies: ["tools/{step}{constraint}"]
inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
ensemble:
  steps:
    - {{model: tools/{step}, input_map: {{X: X}}, output_map: {{Y: Y}}}}
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
""")
    return manifest


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url, versions=()) as opened:
        ws = opened.workspace
        ws.apply(
            [
                python_model(tmp_path, "user_embedding", "1.0", GOOD_MODEL),
                _ensemble(tmp_path, "recommendation_ranker", "user_embedding", ">=1.0,<2"),
                _ensemble(tmp_path, "homepage", "recommendation_ranker", ">=1.0"),
            ]
        )
        ws.deploy("test", options=FAST)
        # The candidate is registered after the deploy: the server still serves 1.0.
        ws.apply([python_model(tmp_path, "user_embedding", "1.1", GOOD_MODEL)])
        yield opened


def _served(bed: GatewayBed) -> dict[str, list[int]]:
    from modelyard.triton.client import TritonClient

    with TritonClient(bed.triton_url) as client:
        return ready_models(client)


def test_a_canary_of_a_step_reaches_the_clients_of_its_ensembles(bed: GatewayBed) -> None:
    ws = bed.workspace
    with Loop(bed.gateway_url, model=RANKER) as loop:
        started = ws.start_experiment(
            "tools/user_embedding",
            ["1.0=90", "1.1=10"],
            sticky_header="x-user-id",
            target="test",
        )
    assert started.experiment.ensembles == [RANKER, HOME]
    assert loop.answers.failures == [] and loop.total() > 0
    served = _served(bed)
    assert f"{RANKER}~{STEP}@1.1" in served and f"{HOME}~{STEP}@1.1" in served
    # 10,000 requests through the ranker: the step version answers (the model answers
    # its Triton version: 1 is 1.0, 2 is 1.1), and the header names it. Without the
    # sticky header each request draws a bucket: 10 % with a binomial spread of 0.3 points.
    answers = send(bed.gateway_url, 10_000, model=RANKER)
    assert answers.failures == []
    assert answers.values == {1.0: answers.arms["1.0"], 2.0: answers.arms["1.1"]}
    assert abs(answers.share("1.1") - 0.10) <= 0.015, answers.arms
    # With it, each user is on one arm, the same through the step, the ranker and the
    # homepage (500 users: the share of users spreads 1.3 points around 10 %).
    sticky = send(bed.gateway_url, 2_000, users=500, model=RANKER)
    direct = send(bed.gateway_url, 1_000, users=500, model=STEP)
    nested = send(bed.gateway_url, 1_000, users=500, model=HOME)
    assert sticky.failures == direct.failures == nested.failures == [], direct.failures[:3]
    assert abs(sticky.share("1.1") - 0.10) <= 0.04, sticky.arms
    print(
        f"candidate share through the ranker: {answers.share('1.1'):.4f} of 10000 requests, "
        f"{sticky.share('1.1'):.4f} of 500 sticky users"
    )
    assert {len(arms) for arms in sticky.by_user.values()} == {1}
    for user, arms in sticky.by_user.items():
        assert direct.by_user[user] == arms == nested.by_user[user], user
    with Loop(bed.gateway_url, model=RANKER) as loop:
        ws.set_weights("tools/user_embedding", ["1.0=50", "1.1=50"], target="test")
        half = send(bed.gateway_url, 2_000, model=RANKER)  # no sticky header: rand(100)
    assert loop.answers.failures == [] and half.failures == []
    assert abs(half.share("1.1") - 0.5) <= 0.05, half.arms
    # Stopped keeping the candidate: the ensembles run it themselves, the variants go.
    with Loop(bed.gateway_url, model=RANKER) as loop, Loop(bed.gateway_url, model=HOME) as outer:
        stopped = ws.stop_experiment("tools/user_embedding", "1.1", target="test")
    assert stopped.experiment.state == "stopped"
    assert loop.answers.failures == [] and outer.answers.failures == []
    assert loop.total() > 0 and outer.total() > 0
    served = _served(bed)
    assert not [name for name in served if "~" in name], served
    after = send(bed.gateway_url, 500, model=RANKER)
    assert after.failures == [] and after.values == {2.0: 500}
    assert send(bed.gateway_url, 200, model=HOME).values == {2.0: 200}
    assert ws.gateway_status("test").in_sync is True
    # A later deploy compiles the ensembles as the stop left them; it retires 1.0 of the
    # step, as after any stopped experiment (only the kept arm stays routed).
    plan = {a.triton_name: a.action for a in ws.rollout_plan("test").actions}
    assert plan == {STEP: "reload", RANKER: "keep", HOME: "keep"}, plan


FAILS_TO_ANSWER = GOOD_MODEL.replace(
    "return [pb_utils.InferenceResponse([pb_utils.Tensor(",
    "raise RuntimeError('cannot embed')\n        return [pb_utils.InferenceResponse([pb_utils.Tensor(",
)


def test_a_step_candidate_that_fails_its_smoke_test_changes_nothing(
    bed: GatewayBed, tmp_path: Path
) -> None:
    ws = bed.workspace
    ws.apply([python_model(tmp_path, "user_embedding", "1.2", FAILS_TO_ANSWER)])
    before = _served(bed)
    with (
        Loop(bed.gateway_url, model=RANKER) as loop,
        pytest.raises(RolloutFailed, match="cannot embed"),
    ):
        ws.start_experiment("tools/user_embedding", ["1.0=90", "1.2=10"], target="test")
    assert loop.answers.failures == [] and set(loop.answers.values) == {1.0}
    assert ExperimentLog(ws.store).history() == []
    assert ws.gateway_status("test").routes == {}
    assert _served(bed) == before
