"""What a deployment will do: compare the desired repository with what a server serves.

Pure: the compiled plan, the files the target's repository holds now, and the server's
index in; a RolloutPlan out. Every action lists the models it waits for, so the runner
starts each load as soon as its own dependencies are ready, without wave barriers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modelyard.triton.compiler import CompilePlan

Action = Literal["load", "reload", "unload", "keep"]


@dataclass(frozen=True)
class ModelAction:
    triton_name: str
    model_id: str | None
    action: Action
    versions: list[int]  # the integer versions wanted (empty for unload)
    live_versions: list[int]  # READY on the server now
    waits_for: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.triton_name,
            "catalog_model": self.model_id,
            "action": self.action,
            "versions": self.versions,
            "live_versions": self.live_versions,
            "waits_for": self.waits_for,
        }


@dataclass(frozen=True)
class RolloutPlan:
    target: str
    actions: list[ModelAction]  # dependencies before dependents; unloads last

    def of(self, kind: Action) -> list[ModelAction]:
        return [a for a in self.actions if a.action == kind]

    @property
    def changes(self) -> list[ModelAction]:
        return [a for a in self.actions if a.action != "keep"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "target": self.target,
            "summary": {kind: len(self.of(kind)) for kind in ("load", "reload", "unload", "keep")},
            "actions": [a.to_dict() for a in self.actions],
        }


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
        actions.append(ModelAction(name, model.model_id, kind, wanted, serving, waits))
    for name in sorted(set(live) - set(desired)):
        actions.append(ModelAction(name, None, "unload", [], live[name]))
    return RolloutPlan(target, actions)
