"""An experiment's versions join the selection of its own target only: the gateway of one
target routes to that target's Triton, so another target neither loads the arms nor pins
the ensembles that run the model (a `compile` with no target still sees every target's)."""

from __future__ import annotations

from modelyard import Workspace
from modelyard.ops.build import Build
from modelyard.store.experiments import Arm, ExperimentLog
from tests.support.netflix import USER_EMBEDDING_11

MODEL = "recommendation/user_embedding"


def _versions(build: Build) -> list[str]:
    return sorted(spec.version for spec in build.view.specs.values() if spec.id == MODEL)


def test_an_experiment_on_one_target_changes_only_that_targets_selection(
    netflix: Workspace,
) -> None:
    netflix.apply_text(USER_EMBEDDING_11, actor="test")
    everywhere = Build(netflix.context())
    assert everywhere.on("edge") is everywhere  # no experiment anywhere: one build
    assert _versions(everywhere) == ["1.1"]
    ExperimentLog(netflix.store).start(
        MODEL, "edge", [Arm(version="1.1", weight=90), Arm(version="1.0", weight=10)], actor="t"
    )
    build = Build(netflix.context())
    edge, other = build.on("edge"), build.on("central")
    assert _versions(edge) == ["1.0", "1.1"] and _versions(other) == ["1.1"]
    assert _versions(build) == ["1.0", "1.1"]  # no target: every target's experiments
    assert build.on("central") is other and build.on("edge") is edge
    assert other.selected is build.selected  # the selection is read once
    # The ranker ensemble runs the step: pinned to the baseline, with a variant for the
    # candidate, on the experiment's target only.
    assert [s.model for s in edge.step_experiments] == [MODEL]
    assert edge.step_experiments[0].pin == "1.1"
    assert edge.step_experiments[0].variant_versions == ("1.0",)
    assert other.step_experiments == []
    # Only this target's experiments: the build for its own target is the same build.
    assert edge.on("edge") is edge
