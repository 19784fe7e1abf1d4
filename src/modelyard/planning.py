"""Deployment order for a selection: waves (topological levels) and the critical path.

A wave holds the models whose dependencies all sit in earlier waves. The rollout
engine does not wait for whole waves (a model starts as soon as its own dependencies
are ready); waves are the readable summary, and the critical path is the chain of
loads that bounds the rollout however many run in parallel. No time is made up here:
load times come from measurements of real rollouts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field

from modelyard.errors import ValidationFailed
from modelyard.selection import CatalogView


class PlannedModel(BaseModel):
    """One model version in a wave, and what it depends on (JSON: `model` is its id)."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    ref: str
    model_id: str = Field(serialization_alias="model")
    version: str
    dependencies: list[str]


class DeploymentPlan(BaseModel):
    """Waves (each after the one before) and the critical path of a selection."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )

    ok: bool = True
    waves: list[list[PlannedModel]]
    critical_path: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def models(self) -> int:
        return sum(len(wave) for wave in self.waves)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def critical_path_length(self) -> int:
        return len(self.critical_path)


def plan_deployment(view: CatalogView) -> DeploymentPlan:
    """Waves and critical path of a selection.

    Raises:
        ValidationFailed: the selection has unresolved dependencies or a cycle.
    """
    problems = view.problems()
    if problems:
        raise ValidationFailed.from_problems(problems, "cannot plan a deployment")
    graph = view.graph
    # One validation of the whole plan builds its 10,000 models inside pydantic-core,
    # faster than a constructor call per model (and than dataclasses; bench/catalog.py).
    waves = [
        [
            {
                "ref": ref,
                "model_id": ref.rsplit("@", 1)[0],
                "version": ref.rsplit("@", 1)[1],
                "dependencies": graph.dependencies(ref),
            }
            for ref in wave
        ]
        for wave in graph.waves()
    ]
    _, critical = graph.critical_path(lambda _ref: 1.0)
    return DeploymentPlan.model_validate({"waves": waves, "critical_path": critical})
