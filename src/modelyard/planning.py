"""Deployment order for a selection: waves (topological levels) and the critical path.

A wave holds the models whose dependencies all sit in earlier waves. The rollout
engine does not wait for whole waves (a model starts as soon as its own dependencies
are ready); waves are the readable summary, and the critical path is the chain of
loads that bounds the rollout however many run in parallel. No time is made up here:
load times come from measurements of real rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.errors import ValidationFailed
from modelyard.selection import CatalogView


@dataclass(frozen=True)
class PlannedModel:
    ref: str
    model_id: str
    version: str
    dependencies: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "model": self.model_id,
            "version": self.version,
            "dependencies": self.dependencies,
        }


@dataclass(frozen=True)
class DeploymentPlan:
    waves: list[list[PlannedModel]]
    critical_path: list[str]

    @property
    def models(self) -> int:
        return sum(len(wave) for wave in self.waves)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "models": self.models,
            "waves": [[m.to_dict() for m in wave] for wave in self.waves],
            "critical_path": self.critical_path,
            "critical_path_length": len(self.critical_path),
        }


def plan_deployment(view: CatalogView) -> DeploymentPlan:
    """Waves and critical path of a selection.

    Raises:
        ValidationFailed: the selection has unresolved dependencies or a cycle.
    """
    problems = view.problems()
    if problems:
        raise ValidationFailed.from_problems(problems, "cannot plan a deployment")
    graph = view.graph
    waves = [
        [
            PlannedModel(
                ref, ref.rsplit("@", 1)[0], ref.rsplit("@", 1)[1], list(graph.dependencies(ref))
            )
            for ref in wave
        ]
        for wave in graph.waves()
    ]
    _, critical = graph.critical_path(lambda _ref: 1.0)
    return DeploymentPlan(waves, critical)
