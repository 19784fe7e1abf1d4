"""The rollout estimate: list scheduling of the plan's loads, measured and guessed figures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard import InputError
from modelyard.deploy.estimate import (
    DEFAULT_LOAD_S,
    LoadFigure,
    RolloutEstimate,
    estimate_rollout,
    load_figures,
)
from modelyard.deploy.plan import Action, ModelAction


def action(name: str, kind: Action = "load", waits_for: tuple[str, ...] = ()) -> ModelAction:
    return ModelAction(
        triton_name=name,
        model_id=None,
        action=kind,
        versions=[1],
        live_versions=[1] if kind != "load" else [],
        waits_for=list(waits_for),
    )


def measured(**seconds: float) -> dict[str, LoadFigure]:
    return {
        name: LoadFigure(seconds=value, basis="measured", samples=1, how="median of 1")
        for name, value in seconds.items()
    }


def starts(estimate: RolloutEstimate) -> dict[str, tuple[float, float]]:
    return {load.model: (load.start_s, load.finish_s) for load in estimate.loads}


def test_the_longest_dependency_chain_bounds_the_rollout() -> None:
    actions = [
        action("a"),
        action("d"),
        action("b", waits_for=("a",)),
        action("c", waits_for=("b",)),
    ]
    estimate = estimate_rollout(actions, measured(a=1, b=2, c=3, d=4), concurrency=4)
    assert estimate.seconds == 6.0
    assert estimate.critical_path == ["a", "b", "c"]
    assert starts(estimate) == {
        "a": (0.0, 1.0),
        "d": (0.0, 4.0),
        "b": (1.0, 3.0),
        "c": (3.0, 6.0),
    }


def test_concurrency_and_triton_load_threads_bound_the_workers() -> None:
    actions = [action(name) for name in "abcde"]
    figures = measured(a=1, b=1, c=1, d=1, e=1)
    two = estimate_rollout(actions, figures, concurrency=2)
    assert (two.workers, two.seconds) == (2, 3.0)
    # Loads start in the plan's order as workers free up; the path runs through them.
    assert [starts(two)[n][0] for n in "abcde"] == [0.0, 0.0, 1.0, 1.0, 2.0]
    assert two.critical_path == ["a", "c", "e"]
    # Eight at once from the deployer, but Triton loads four at once by default.
    eight = estimate_rollout(actions, figures, concurrency=8)
    assert (eight.workers, eight.load_threads, eight.seconds) == (4, 4, 2.0)
    assert eight.warning is not None
    assert "--concurrency 8 is above the server's 4 load threads" in eight.warning
    assert "Triton's default" in eight.warning and "--load-threads 8" in eight.warning
    wide = estimate_rollout(actions, figures, concurrency=8, load_threads=16)
    assert (wide.workers, wide.seconds, wide.warning) == (8, 1.0, None)
    assert two.warning is None


def test_only_loads_and_reloads_take_time_and_kept_models_are_not_waited_for() -> None:
    actions = [
        action("base", "keep"),
        action("old", "unload"),
        action("ranker", "reload", waits_for=("base",)),
        action("ensemble", waits_for=("ranker", "base")),
    ]
    estimate = estimate_rollout(actions, measured(ranker=2, ensemble=0.5), concurrency=4)
    assert [load.model for load in estimate.loads] == ["ranker", "ensemble"]
    assert starts(estimate) == {"ranker": (0.0, 2.0), "ensemble": (2.0, 2.5)}
    assert estimate.loads[1].waits_for == ["ranker"]
    assert estimate.seconds == 2.5 and estimate.critical_path == ["ranker", "ensemble"]


def test_nothing_to_load_takes_no_time() -> None:
    estimate = estimate_rollout([action("a", "keep")], {}, concurrency=4)
    assert (estimate.seconds, estimate.loads, estimate.critical_path) == (0.0, [], [])


def test_measured_figures_are_medians_and_the_rest_are_labelled_guesses() -> None:
    recorded = {"py.a": [1.0, 3.0, 2.0], "py.b": [4.0], "onnx.c": [10.0, 12.0]}
    backends = {
        "py.a": "python",
        "py.b": "python",
        "py.new": "python",
        "onnx.c": "onnxruntime",
        "trt.new": "tensorrt",
    }
    figures = load_figures(["py.a", "py.new", "trt.new"], recorded, backends)
    assert figures["py.a"] == LoadFigure(
        seconds=2.0, basis="measured", samples=3, how="median of 3 recorded load(s)"
    )
    # Same backend first: the medians of py.a (2 s) and py.b (4 s).
    assert figures["py.new"] == LoadFigure(
        seconds=3.0,
        basis="guess",
        samples=2,
        how="guess: median of 2 measured python model(s)",
    )
    # No tensorrt model measured: every measured model (2, 4, 11 s).
    assert figures["trt.new"] == LoadFigure(
        seconds=4.0,
        basis="guess",
        samples=3,
        how="guess: median of 3 measured model(s), none tensorrt",
    )
    nothing = load_figures(["py.a"], {}, backends)["py.a"]
    assert (nothing.seconds, nothing.basis, nothing.samples) == (DEFAULT_LOAD_S, "guess", 0)
    assert nothing.how == "guess: default 2 s (no load recorded on this target)"


def test_the_estimate_counts_measured_and_guessed_loads() -> None:
    figures = load_figures(["a", "b"], {"a": [1.5]}, {"a": "python", "b": "python"})
    estimate = estimate_rollout(
        [action("a"), action("b", waits_for=("a",))], figures, concurrency=4
    )
    assert (estimate.measured, estimate.guessed, estimate.seconds) == (1, 1, 3.0)
    dumped = estimate.model_dump(mode="json")
    assert dumped["measured"] == 1 and dumped["loads"][1]["basis"] == "guess"


def test_loads_that_wait_for_each_other_cannot_be_ordered() -> None:
    actions = [action("a", waits_for=("b",)), action("b", waits_for=("a",))]
    with pytest.raises(InputError, match="cannot order the loads of a, b"):
        estimate_rollout(actions, measured(a=1, b=1), concurrency=4)


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[ModelAction], dict[str, LoadFigure], int]:
    size = draw(st.integers(1, 12))
    names = [f"m{i}" for i in range(size)]
    actions = []
    for index, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:index]), unique=True)) if index else []
        actions.append(action(name, draw(st.sampled_from(["load", "reload", "keep"])), deps))
    seconds = {n: draw(st.floats(0.1, 20, allow_nan=False)) for n in names}
    return actions, measured(**seconds), draw(st.integers(1, 6))


@settings(max_examples=200, deadline=None)
@given(dags())
def test_every_schedule_respects_dependencies_and_the_worker_bound(
    case: tuple[list[ModelAction], dict[str, LoadFigure], int],
) -> None:
    actions, figures, concurrency = case
    estimate = estimate_rollout(actions, figures, concurrency=concurrency)
    at = starts(estimate)
    loads = [a for a in actions if a.action != "keep"]
    assert set(at) == {a.triton_name for a in loads}
    for load in estimate.loads:
        for dependency in load.waits_for:
            assert at[dependency][1] <= load.start_s + 1e-9
    for load in estimate.loads:  # never more loads at once than workers
        overlapping = sum(1 for s, f in at.values() if s <= load.start_s < f)
        assert overlapping <= estimate.workers
    total = sum(figures[a.triton_name].seconds for a in loads)
    assert estimate.seconds >= total / estimate.workers - 0.001 * len(loads)  # rounded to ms
    assert estimate.seconds == max((f for _, f in at.values()), default=0.0)
    # The critical path is a chain of loads, each starting as the one before it ends.
    path = estimate.critical_path
    assert not path or at[path[0]][0] == 0.0 and at[path[-1]][1] == estimate.seconds
    for before, after in zip(path, path[1:], strict=False):
        assert abs(at[before][1] - at[after][0]) < 1e-6
