"""What a deployment will do: compare the desired repository with what a server serves.

Pure: the compiled plan, the files the target's repository holds now, and the server's
index in; a RolloutPlan out. Every action lists the models it waits for, so the runner
starts each load as soon as its own dependencies are ready, without wave barriers.

A targeted deploy (`deploy REF...`) compiles only the named models and what they need;
every other model keeps its files (`keeping_others`) and is shown as `keep`, never
unloaded. A plan's digest covers the files it publishes and every action, so that a plan
written down earlier (an exported script) can be checked against today's (`plan_changes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from modelyard.deploy.estimate import RolloutEstimate
from modelyard.errors import InputError
from modelyard.triton.compiler import CompilePlan
from modelyard.triton.repository import RepoFile

Action = Literal["load", "reload", "unload", "keep"]


class ModelAction(BaseModel):
    """What a rollout does to one Triton model (JSON: `model`, `catalog_model`, ...)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        serialize_by_alias=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    triton_name: str = Field(alias="model")
    model_id: str | None = Field(alias="catalog_model")
    action: Action
    versions: list[int]  # the integer versions wanted (empty for unload)
    live_versions: list[int]  # READY on the server now
    waits_for: list[str] = Field(default_factory=list)
    # sha256 of the model's files after the rollout (None: unloaded, or no files of ours).
    digest: str | None = None


class RolloutPlan(BaseModel):
    """Every model's action on one target: dependencies before dependents, unloads last."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    target: str
    actions: list[ModelAction]
    # Only the named models (and what they need) change; every other one is kept.
    targeted: bool = False
    # sha256 over the files the rollout publishes and every action (see plan_changes).
    digest: str = ""
    # How long the loads will take, from earlier rollouts (ops/estimate.py adds it).
    estimate: RolloutEstimate | None = None
    # Models left out because their artifacts cannot be used (`ref: reason`): each keeps
    # what the target serves, and the rollout reports them as failed.
    blocked: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in ("load", "reload", "unload", "keep")}

    def of(self, kind: Action) -> list[ModelAction]:
        return [a for a in self.actions if a.action == kind]

    @classmethod
    def from_json(cls, text: str, source: str) -> RolloutPlan:
        """A plan as `modelyard plan --target ... --json` writes it; InputError naming
        `source` otherwise."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            data.pop("summary", None)  # computed from the actions
            return cls.model_validate(data)
        except (ValueError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            raise InputError(
                f"{source}: not a rollout plan ({reason}); give what "
                "`modelyard plan --target NAME --json` prints"
            ) from None

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
    *,
    keep_others: bool = False,
) -> RolloutPlan:
    """Decide each model's action.

    Args:
        changed_models: Triton names whose files differ from the repository on disk now.
        dependencies: Triton name -> Triton names it needs (ensemble steps, catalog deps).
        keep_others: a served model outside `compiled` is kept as it is (a targeted
            deploy), not unloaded. A blocked model (`compiled.blocked`) is always kept.
    """
    live = live_versions(index)
    digests = model_digests(compiled.files)
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
                digest=digests.get(name),
            )
        )
    blocked = {b.triton_name: b.model_id for b in compiled.blocked.values()}
    for name in sorted(set(live) - set(desired)):
        kept = keep_others or name in blocked
        actions.append(
            ModelAction(
                triton_name=name,
                model_id=blocked.get(name),
                action="keep" if kept else "unload",
                versions=live[name] if kept else [],
                live_versions=live[name],
                digest=digests.get(name) if kept else None,
            )
        )
    return RolloutPlan(
        target=target,
        actions=actions,
        targeted=keep_others,
        digest=_plan_digest(compiled.files, actions),
        blocked=[f"{b.ref}: {b.reason}" for b in compiled.blocked.values()],
    )


def keeping_others(
    compiled: CompilePlan, published: Sequence[RepoFile] | None, *, targeted: bool = True
) -> CompilePlan:
    """`compiled` plus other models' files from the target's repository, unchanged: every
    other model's (`targeted`: what a targeted deploy publishes), or else the blocked
    models' only (what a whole deploy publishes: a model whose artifact cannot be used
    keeps serving what it served)."""
    if targeted:
        names = {model.triton_name for model in compiled.models.values()}
        kept = [f for f in published or () if f.path.split("/", 1)[0] not in names]
    else:
        blocked = compiled.blocked_names
        kept = [f for f in published or () if f.path.split("/", 1)[0] in blocked]
    return dataclasses.replace(compiled, kept_files=kept)


def needs_kept_files(compiled: CompilePlan, targeted: bool) -> bool:
    """Whether publishing `compiled` must carry files from the target (`keeping_others`)."""
    return targeted or bool(compiled.blocked)


def plan_changes(expected: RolloutPlan, now: RolloutPlan) -> list[str]:
    """What differs between a plan written down earlier and today's, one phrase a model
    (empty when the digests agree)."""
    if expected.digest == now.digest:
        return []
    before = {a.triton_name: a for a in expected.actions}
    after = {a.triton_name: a for a in now.actions}
    changes: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None:
            assert new is not None
            changes.append(f"{name}: new in the plan ({new.action})")
        elif new is None:
            changes.append(f"{name}: no longer in the plan (was {old.action})")
        elif old.action != new.action:
            changes.append(f"{name}: was {old.action}, now {new.action}")
        elif old.digest != new.digest:
            changes.append(f"{name}: its files changed")
        elif old.versions != new.versions or old.live_versions != new.live_versions:
            changes.append(f"{name}: versions {_versions(old)} then, {_versions(new)} now")
    return changes or ["files outside the plan's models changed"]


def _versions(action: ModelAction) -> str:
    wanted = ",".join(map(str, action.versions)) or "-"
    serving = ",".join(map(str, action.live_versions)) or "-"
    return f"{wanted} (serving {serving})"


def model_digests(files: Sequence[RepoFile]) -> dict[str, str]:
    """Triton name -> sha256 of its files' paths and digests."""
    return digests_by_model((f.path, f.digest) for f in files)


def digests_by_model(paths: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Triton name -> sha256 of its files' (repository path, SHA-256) pairs: one digest
    for everything a model's folder holds, the same whichever side the pairs come from
    (compiled files, or a target's record of what it published)."""
    by_model: dict[str, list[str]] = {}
    for path, digest in paths:
        by_model.setdefault(path.split("/", 1)[0], []).append(f"{path}\0{digest}")
    return {
        name: hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()
        for name, entries in by_model.items()
    }


def _plan_digest(files: Sequence[RepoFile], actions: Sequence[ModelAction]) -> str:
    content = {
        "files": sorted([f.path, f.digest] for f in files),
        "actions": [
            [a.triton_name, a.action, a.versions, a.live_versions, a.digest] for a in actions
        ],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
