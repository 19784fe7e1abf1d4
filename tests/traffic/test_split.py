"""Arms, weights and the bucket rule (pure), and the gateway's configuration text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard import InputError
from modelyard.traffic.dependents import ensemble_route, ensemble_users
from modelyard.traffic.haproxy import parse_table, render_config, render_map
from modelyard.traffic.split import (
    MAX_ARMS,
    Route,
    RouteArm,
    arm_for_bucket,
    check_sticky_header,
    check_weights,
    parse_arms,
    reweighted,
)


def test_arms_parse_in_order() -> None:
    assert parse_arms(["3.0=90", " 3.1 = 10% "]) == [("3.0", 90), ("3.1", 10)]


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        (["3.0"], "expected VERSION=PERCENT"),
        (["3.0=ninety"], "expected VERSION=PERCENT"),
        (["3=90"], "MAJOR.MINOR"),
        (["3.0=101"], "0 to 100"),
        (["3.0=50", "3.0.0=50"], "given twice"),
    ],
)
def test_bad_arms_are_refused(arms: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_arms(arms)


def test_weights_must_add_up_to_100() -> None:
    check_weights([("3.0", 90), ("3.1", 10)])
    with pytest.raises(InputError, match=r"add up to 100, got 95 \(3.0=90, 3.1=5\)"):
        check_weights([("3.0", 90), ("3.1", 5)])
    with pytest.raises(InputError, match=f"at most {MAX_ARMS} arms"):
        check_weights([(f"1.{i}", 20) for i in range(5)])


def test_reweighted_keeps_the_layout_and_zeroes_unnamed_arms() -> None:
    assert reweighted(["3.0", "3.1"], {"3.1": 100}) == {"3.0": 0, "3.1": 100}
    assert list(reweighted(["3.0", "3.1"], {"3.1": 30, "3.0": 70})) == ["3.0", "3.1"]
    with pytest.raises(
        InputError, match=r"3.2 is not an arm of this experiment \(arms: 3.0, 3.1\)"
    ):
        reweighted(["3.0", "3.1"], {"3.2": 100})


def test_sticky_header_names() -> None:
    assert check_sticky_header("X-User-Id") == "x-user-id"
    with pytest.raises(InputError, match="--sticky-header"):
        check_sticky_header("x user")


def _route(weights: list[int]) -> Route:
    return Route("m", tuple(RouteArm(i + 1, f"1.{i}", w) for i, w in enumerate(weights)))


def test_buckets_follow_the_layout() -> None:
    route = _route([90, 10])
    assert {arm_for_bucket(route, b).label for b in range(90)} == {"1.0"}
    assert {arm_for_bucket(route, b).label for b in range(90, 100)} == {"1.1"}
    assert route.entry() == (
        "m/versions/1|90|1.0|m/versions/2|100|1.1|m/versions/2|100|1.1|m/versions/2|100|1.1"
        "|-|-|m|-|0|-"
    )


weights_of_arms = st.lists(st.integers(0, 100), min_size=2, max_size=MAX_ARMS).filter(
    lambda ws: sum(ws[:-1]) <= 100
)


@given(weights_of_arms, st.integers(0, 100))
def test_growing_the_last_arm_moves_users_only_into_it(weights: list[int], grow: int) -> None:
    weights = [*weights[:-1], 100 - sum(weights[:-1])]
    before = _route(weights)
    # The candidate takes `grow` points from the arms before it, the nearest first.
    taken, after_weights = grow, list(weights)
    for i in range(len(after_weights) - 2, -1, -1):
        step = min(taken, after_weights[i])
        after_weights[i] -= step
        after_weights[-1] += step
        taken -= step
    after = _route(after_weights)
    last = before.arms[-1].label
    for bucket in range(100):
        was, now = arm_for_bucket(before, bucket).label, arm_for_bucket(after, bucket).label
        assert was == now or now == last, (bucket, weights, after_weights)
    # Each arm's share of the buckets is its weight.
    shares = [
        sum(arm_for_bucket(after, b).label == a.label for b in range(100)) for a in after.arms
    ]
    assert shares == after_weights


def test_the_configuration_routes_through_the_map(tmp_path: Path) -> None:
    config = render_config(
        tmp_path, port=9000, upstream="127.0.0.1:8000", sticky_headers=["x-user-id", "x-session"]
    )
    assert "bind 127.0.0.1:9000" in config
    assert "server triton 127.0.0.1:8000" in config
    assert f"map({tmp_path / 'routes.map'})" in config
    assert "expose-fd listeners" in config
    # Buckets hash the route's bucket model: the model itself, or an ensemble's step.
    assert config.count("req.hdr(x-session),concat(@,txn.buckets),crc32(1),mod(100)") == 1
    assert "set-path /v2/models/%[var(txn.arm)]/infer" in config
    first = render_map([_route([100]), _route([50, 50])]).splitlines()[0]
    assert first.startswith("m m/versions/1|")


def test_counters_are_read_from_show_table() -> None:
    text = (
        "# table: modelyard_arms, type: string, size:102400, used:2\n"
        "0x55: key=7/3.0 use=0 exp=0 http_req_cnt=1995 http_err_cnt=1 http_fail_cnt=3\n"
        "0x56: key=7/3.1 use=0 exp=0 shard=0 http_req_cnt=5 http_err_cnt=0 http_fail_cnt=0\n"
    )
    counts = parse_table(text)
    assert counts["7/3.0"].requests == 1995 and counts["7/3.0"].errors == 3
    assert counts["7/3.0"].client_errors == 1 and counts["7/3.1"].requests == 5


def test_an_ensemble_follows_its_steps_experiment() -> None:
    step = Route(
        "s", (RouteArm(1, "1.0", 90), RouteArm(2, "1.1", 10)), sticky_header="x-user-id", key="7"
    )
    ranker = ensemble_route("e", step, {"1.1": "e~s@1.1"})
    # The baseline to the ensemble itself, the candidate to its variant; Triton picks
    # the version; the header, counters and sticky buckets are the step's.
    assert ranker.entry().split("|")[:6] == ["e", "90", "1.0", "e~s@1.1", "100", "1.1"]
    assert ranker.entry().endswith("|x-user-id|7|s|-|0|-")
    assert ranker.weights == step.weights


def test_the_ensembles_that_run_a_model_inner_ones_first() -> None:
    steps = {"outer": {"ranker", "other"}, "ranker": {"embed", "score"}, "lone": {"score"}}
    assert ensemble_users(steps, "embed") == ["ranker", "outer"]
    assert ensemble_users(steps, "score") == ["lone", "ranker", "outer"]
    assert ensemble_users(steps, "other") == ["outer"]
    assert ensemble_users(steps, "nobody") == []
