"""What a deployment will do: compare the desired repository with what a server serves.

Pure: the compiled plan, the files the target's repository holds now, and the server's
index in; a RolloutPlan out. Every action lists the models it waits for, so the runner
starts each load as soon as its own dependencies are ready, without wave barriers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from modelyard.deploy.estimate import RolloutEstimate
from modelyard.triton.compiler import CompilePlan

Action = Literal["load", "reload", "unload", "keep"]


class ModelAction(BaseModel):
    """What a rollout does to one Triton model (JSON: `model`, `catalog_model`, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    triton_name: str = Field(serialization_alias="model")
    model_id: str | None = Field(serialization_alias="catalog_model")
    action: Action
    versions: list[int]  # the integer versions wanted (empty for unload)
    live_versions: list[int]  # READY on the server now
    waits_for: list[str] = Field(default_factory=list)


class RolloutPlan(BaseModel):
    """Every model's action on one target: dependencies before dependents, unloads last."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    target: str
    actions: list[ModelAction]
    # How long the loads will take, from earlier rollouts (ops/estimate.py adds it).
    estimate: RolloutEstimate | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in ("load", "reload", "unload", "keep")}

    def of(self, kind: Action) -> list[ModelAction]:
        return [a for a in self.actions if a.action == kind]

    @property
    def changes(self) -> list[ModelAction]:
        return [a for a in self.actions if a.action != "keep"]


def live_versions(index: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    """READY versions per model from Triton's repository index."""
    ready: dict[str, list[int]] = {}
    for entry in index:
        if entry.get("state") == "READY" and entry.get("version"):
            ready.setdefault(str(entry["name"]), []).append(int(entry["version"]))
    return {name: sorted(versions) for name, versions in ready.items()}


def plan_rollout(
    target: str,
    compiled: CompilePlan,
    changed_models: set[str],
    index: Sequence[Mapping[str, Any]],
    dependencies: Mapping[str, Sequence[str]],
) -> RolloutPlan:
    """Decide each model's action.

    Args:
        changed_models: Triton names whose files differ from the repository on disk now.
        dependencies: Triton name -> Triton names it needs (ensemble steps, catalog deps).
    """
    live = live_versions(index)
    desired = {model.triton_name: model for model in compiled.models.values()}
    actions: list[ModelAction] = []
    for model in compiled.models.values():  # compile order: dependencies first
        name = model.triton_name
        wanted = sorted(model.versions.values())
        serving = live.get(name, [])
        if not serving:
            kind: Action = "load"
        elif name in changed_models or serving != wanted:
            kind = "reload"
        else:
            kind = "keep"
        waits = [d for d in dependencies.get(name, ()) if d in desired]
        actions.append(
            ModelAction(
                triton_name=name,
                model_id=model.model_id,
                action=kind,
                versions=wanted,
                live_versions=serving,
                waits_for=waits,
            )
        )
    for name in sorted(set(live) - set(desired)):
        actions.append(
            ModelAction(
                triton_name=name,
                model_id=None,
                action="unload",
                versions=[],
                live_versions=live[name],
            )
        )
    return RolloutPlan(target=target, actions=actions)
