"""Regions: groups of targets (`regions:` in modelyard.yaml) meant to serve the same
catalog selection. Deploy a region target by target; compare, per region and target,
the digests each serves with the catalog's selection and with the other regions.

A served digest is the SHA-256 over a model's repository files (path and SHA-256 of each,
deploy/plan.py's `digests_by_model`) as the target recorded them when it published, for a
model its server has READY: what a request to that model runs. The catalog's digest is
the same over the files the selection compiles to for that target's profile, so two
targets of one profile serving the same versions show the same digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from modelyard.deploy.plan import digests_by_model, live_versions, model_digests
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress
from modelyard.errors import InputError, ModelyardError, NotFound, RegionDeployFailed
from modelyard.ops import rollout
from modelyard.ops.build import Build
from modelyard.ops.context import Context
from modelyard.targets.registry import open_target
from modelyard.triton.repository import with_bytecode_guards

SHORT_DIGEST = 12  # hex characters of a digest in messages; --json has them whole

ServedState = Literal[
    "serving", "missing", "other digest", "other versions", "blocked", "not in the selection"
]


class RegionDeployResult(BaseModel):
    """One region deployed: each target's rollout, in the region's order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    region: str
    targets: list[str]
    deployments: dict[str, DeployResult]


class ServedModel(BaseModel):
    """One Triton model on one target: the digest the catalog's selection wants there
    against the digest served (None: not compiled for it, or not READY)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    catalog_model: str | None
    desired_digest: str | None
    served_digest: str | None
    desired_versions: list[int]
    live_versions: list[int]
    state: ServedState


class TargetDigests(BaseModel):
    """What one target of a region serves, or why it could not be read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str
    url: str | None = None
    profile: str | None = None
    models: list[ServedModel] = []
    error: str | None = None


class RegionStatus(BaseModel):
    """A region's targets and its drift, one phrase each (empty: in sync)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    in_sync: bool
    targets: list[TargetDigests]
    drift: list[str]


class RegionsStatus(BaseModel):
    """Every region against the catalog's selection, and where regions serve different
    digests of one model (`differences`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    in_sync: bool
    regions: list[RegionStatus]
    differences: list[str]


def region_targets(ctx: Context, region: str) -> tuple[str, ...]:
    """The targets of `region`, in its order (NotFound naming the declared regions)."""
    regions = ctx.config.regions
    if region not in regions:
        known = ", ".join(sorted(regions)) or "none declared"
        raise NotFound(
            f"no region {region!r} in modelyard.yaml (regions: {known}); declare it under "
            "`regions:` as a list of targets"
        )
    return regions[region]


def deploy_region(
    ctx: Context,
    region: str,
    *,
    alias: str | None = None,
    refs: Sequence[str] | None = None,
    expect_digests: Mapping[str, str] | None = None,
    options: DeployOptions | None = None,
    progress: Progress | None = None,
) -> RegionDeployResult:
    """Deploy the selection (or `refs`) to every target of `region`, one after the other
    in the region's order, each as `modelyard deploy --target` does (its own lease,
    history, rollback). The first failure stops the rest: that target is rolled back by
    its rollout, the ones before it keep what they now serve, the others are not touched.

    Args:
        expect_digests: target -> the digest of the plan a user confirmed for it.

    Raises:
        NotFound: no such region.
        RegionDeployFailed: a target failed; it names that target, those deployed and
            those not started, and carries the failing target's exit code.
    """
    targets = region_targets(ctx, region)
    done: dict[str, DeployResult] = {}
    for position, target in enumerate(targets):
        try:
            done[target] = rollout.deploy(
                ctx,
                target,
                alias=alias,
                refs=refs,
                expect_digest=(expect_digests or {}).get(target),
                options=options,
                progress=progress,
            )
        except ModelyardError as exc:
            deployed = ", ".join(done) or "none"
            untouched = ", ".join(targets[position + 1 :]) or "none"
            raise RegionDeployFailed(
                f"region {region!r}: deploying to target {target!r} "
                f"({position + 1} of {len(targets)}) failed: {_one_line(exc.message)}; "
                f"deployed before it: {deployed}; not started: {untouched}",
                exc,
                result=RegionDeployResult(
                    ok=False, region=region, targets=list(targets), deployments=done
                ),
            ) from exc
    return RegionDeployResult(region=region, targets=list(targets), deployments=done)


def regions_status(
    ctx: Context, *, alias: str | None = None, timeout_s: float = 30.0
) -> RegionsStatus:
    """Each region's targets, the digests they serve against the catalog's selection
    (compiled once per profile), and the models whose served digests differ between
    regions. A target that cannot be read is drift of its region, never a failure.

    Raises:
        InputError: modelyard.yaml declares no regions.
    """
    if not ctx.config.regions:
        raise InputError(
            "modelyard.yaml declares no regions; add `regions:` mapping each region to its "
            "targets (e.g. `regions: {eu: [eu-triton], us: [us-triton]}`)"
        )
    build = Build(ctx, alias)
    regions = [
        _region_status(region, [_target_digests(ctx, build, t, timeout_s) for t in targets])
        for region, targets in ctx.config.regions.items()
    ]
    differences = _differences(regions)
    return RegionsStatus(
        in_sync=not differences and all(r.in_sync for r in regions),
        regions=regions,
        differences=differences,
    )


def _target_digests(ctx: Context, build: Build, target: str, timeout_s: float) -> TargetDigests:
    try:
        config, compiled, _ = rollout.deployment_inputs(build, target)
        with open_target(target, config, timeout_s=timeout_s) as opened:
            live = live_versions(opened.index())
            published = digests_by_model(opened.published_digests().items())
    except ModelyardError as exc:
        return TargetDigests(target=target, error=_one_line(exc.message))
    models: list[ServedModel] = []
    for model in compiled.models.values():
        name = model.triton_name
        wanted = sorted(model.versions.values())
        desired = model_digests(with_bytecode_guards(model.files))[name]
        serving = live.get(name, [])
        served = published.get(name) if serving else None
        state: ServedState = (
            "missing"
            if served is None
            else "other digest"
            if served != desired
            else "other versions"
            if serving != wanted
            else "serving"
        )
        models.append(
            ServedModel(
                model=name,
                catalog_model=model.model_id,
                desired_digest=desired,
                served_digest=served,
                desired_versions=wanted,
                live_versions=serving,
                state=state,
            )
        )
    blocked = {b.triton_name: b.model_id for b in compiled.blocked.values()}
    for name in sorted(set(live) - {m.model for m in models}):
        models.append(
            ServedModel(
                model=name,
                catalog_model=blocked.get(name),
                desired_digest=None,
                served_digest=published.get(name),
                desired_versions=[],
                live_versions=live[name],
                state="blocked" if name in blocked else "not in the selection",
            )
        )
    return TargetDigests(target=target, url=config.url, profile=config.profile, models=models)


def _region_status(region: str, targets: list[TargetDigests]) -> RegionStatus:
    drift: list[str] = []
    for t in targets:
        if t.error is not None:
            drift.append(f"{t.target}: cannot be read: {t.error}")
            continue
        for m in t.models:
            phrase = _drift_phrase(m)
            if phrase:
                drift.append(f"{t.target}: {m.model} {phrase}")
    return RegionStatus(region=region, in_sync=not drift, targets=targets, drift=drift)


def _drift_phrase(m: ServedModel) -> str | None:
    wants = f"the catalog's selection has {_short(m.desired_digest)}"
    if m.state == "missing":
        return f"is not served ({wants}, versions {_versions(m.desired_versions)})"
    if m.state == "other digest":
        return f"serves {_short(m.served_digest)}, {wants}"
    if m.state == "other versions":
        return (
            f"serves versions {_versions(m.live_versions)}, the catalog's selection "
            f"{_versions(m.desired_versions)}"
        )
    if m.state == "blocked":
        return f"serves {_short(m.served_digest)}; its catalog version is blocked (see validate)"
    if m.state == "not in the selection":
        return f"serves {_short(m.served_digest)} but is not in the catalog's selection"
    return None


def _differences(regions: Sequence[RegionStatus]) -> list[str]:
    """Per model, the regions that serve it differently: each region's served digests
    (over its readable targets; `nothing` where a target does not serve it)."""
    # A region none of whose targets could be read says nothing about what it serves.
    compared = [r for r in regions if any(t.error is None for t in r.targets)]
    if len(compared) < 2:
        return []
    seen: dict[str, dict[str, frozenset[str | None]]] = {}
    for region in compared:
        readable = [t for t in region.targets if t.error is None]
        names = {m.model for t in readable for m in t.models if m.served_digest or m.desired_digest}
        for name in names:
            served = frozenset(
                next((m.served_digest for m in t.models if m.model == name), None) for t in readable
            )
            seen.setdefault(name, {})[region.region] = served
    differences: list[str] = []
    for name, by_region in sorted(seen.items()):
        full = {r.region: by_region.get(r.region, frozenset({None})) for r in compared}
        if len(set(full.values())) > 1:
            shown = "; ".join(f"{region} serves {_served(d)}" for region, d in full.items())
            differences.append(f"{name}: {shown}")
    return differences


def _served(digests: frozenset[str | None]) -> str:
    return " and ".join(sorted(_short(d) for d in digests))


def _short(digest: str | None) -> str:
    return digest[:SHORT_DIGEST] if digest else "nothing"


def _versions(versions: Sequence[int]) -> str:
    return ",".join(map(str, versions)) or "-"


def _one_line(message: str) -> str:
    return " ".join(message.split())
