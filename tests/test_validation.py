"""Cross-model validation: capacity, SLA chains, cycles, naming, strict mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import Fleet, ValidationFailed, Workspace, parse_manifest_text
from modelyard.errors import Severity
from modelyard.selection import select
from modelyard.validation import validate_view
from tests.support.netflix import NETFLIX_MODELS
from tests.support.workspaces import init_workspace


def model(
    name: str,
    *,
    deps: tuple[str, ...] = (),
    p99: float = 100,
    avail: float = 0.999,
    rps: float = 10,
    gpu: int = 1024,
    mem: int = 1024,
    cpu: float = 1,
    count: int = 1,
    version: str = "1.0",
    domain: str = "shop",
) -> str:
    dep_lines = "".join(f"\n  - {d}" for d in deps)
    return f"""---
name: {name}
version: "{version}"
model_type: classification
framework: onnx
domain: {domain}
owner_team: shop_ml
dependencies:{dep_lines or " []"}
resource_requirements: {{gpu_memory_mb: {gpu}, memory_mb: {mem}, cpu_cores: {cpu}, instance_count: {count}}}
sla_requirements: {{max_latency_p99_ms: {p99}, availability: {avail}, min_throughput_rps: {rps}}}
"""


def apply_text(workspace: Workspace, tmp_path: Path, text: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    workspace.apply([path])


def codes(workspace: Workspace, **kwargs: object) -> dict[tuple[str, str | None], str]:
    report = workspace.validate(**kwargs)  # type: ignore[arg-type]
    return {(p.code, p.model): str(p.severity) for p in report.problems}


def test_latency_budget_along_the_longest_chain(workspace: Workspace, tmp_path: Path) -> None:
    apply_text(
        workspace,
        tmp_path,
        model("a", p99=10)
        + model("b", deps=("shop/a",), p99=25)
        + model("c", deps=("shop/a",), p99=15)
        + model("top", deps=("shop/b", "shop/c"), p99=30),
    )
    report = workspace.validate()
    [chain] = [p for p in report.problems if p.code == "sla-latency-chain"]
    assert chain.model == "shop/top@1.0"
    assert chain.details["chain"] == ["shop/top@1.0", "shop/b@1.0", "shop/a@1.0"]
    assert chain.details["needed_ms"] == 35 and chain.details["overrun_ms"] == 5
    assert "over by 5 ms" in chain.message
    assert chain.severity is Severity.WARNING


def test_availability_counts_shared_dependencies_once(workspace: Workspace, tmp_path: Path) -> None:
    apply_text(
        workspace,
        tmp_path,
        model("base", avail=0.99)
        + model("left", deps=("shop/base",), avail=1.0)
        + model("right", deps=("shop/base",), avail=1.0)
        + model("top", deps=("shop/left", "shop/right"), avail=0.985),
    )
    report = workspace.validate()
    # 0.99 counted once (0.99 >= 0.985): no warning for top; base fails left/right's 1.0.
    flagged = {p.model for p in report.problems if p.code == "sla-availability-chain"}
    assert flagged == {"shop/left@1.0", "shop/right@1.0"}


def test_throughput_demand_of_dependents(workspace: Workspace, tmp_path: Path) -> None:
    apply_text(
        workspace,
        tmp_path,
        model("base", rps=50)
        + model("x", deps=("shop/base",), rps=30)
        + model("y", deps=("shop/base",), rps=30),
    )
    [problem] = [p for p in workspace.validate().problems if p.code == "sla-throughput"]
    assert problem.model == "shop/base@1.0" and problem.details["demand_rps"] == 60


def test_capacity_against_the_declared_fleet(workspace: Workspace, tmp_path: Path) -> None:
    # The example fleet: two servers, two 24 GiB GPUs each, 32 cores and 128 GiB each.
    apply_text(
        workspace,
        tmp_path,
        model("big", gpu=30000) + model("many", gpu=9000, count=8) + model("cpu_hungry", cpu=40),
    )
    report = workspace.validate()
    by_code = {p.code: p for p in report.problems if p.severity is Severity.ERROR}
    assert by_code["capacity"].details["resource"] == "gpu_memory_mb"
    assert by_code["capacity"].details["need"] == 30000 + 72000 + 1024
    assert "short by" in by_code["capacity"].message
    singles = {
        (p.model, p.details["resource"]) for p in report.problems if p.code == "capacity-single"
    }
    assert singles == {("shop/big@1.0", "gpu_memory_mb"), ("shop/cpu_hungry@1.0", "cpu_cores")}
    assert not report.ok


def test_high_utilisation_is_a_warning(workspace: Workspace, tmp_path: Path) -> None:
    apply_text(
        workspace,
        tmp_path,
        "".join(model(name, gpu=20000, avail=0.99) for name in ("a", "b", "c", "d")),
    )
    report = workspace.validate()
    assert [p.code for p in report.warnings] == ["capacity-high"]
    assert report.ok


def test_without_a_fleet_needs_are_information(tmp_path: Path, catalog_url: str) -> None:
    workspace = init_workspace(tmp_path / "bare", catalog_url)
    workspace.apply([NETFLIX_MODELS])
    report = workspace.validate()
    [info] = [p for p in report.problems if p.code == "capacity-needs"]
    assert info.severity is Severity.INFO
    assert "33,792 MB" in info.message and "ranking_scorer@3.0" in info.message
    assert report.needs["largest"]["gpu_memory_mb"]["value"] == 12288
    [local] = [p for p in report.problems if p.code == "capacity-local"]
    assert local.severity is Severity.INFO and "this machine (" in local.message
    workspace.close()


def test_naming_convention_warning(workspace: Workspace, tmp_path: Path) -> None:
    apply_text(workspace, tmp_path, model("bad-name") + model("2fast"))
    flagged = {p.model for p in workspace.validate().problems if p.code == "naming"}
    assert flagged == {"shop/bad-name@1.0", "shop/2fast@1.0"}


def test_strict_turns_warnings_into_errors(netflix: Workspace) -> None:
    relaxed = netflix.validate()
    strict = netflix.validate(strict=True)
    assert relaxed.ok and not strict.ok
    assert len(strict.errors) == len(relaxed.warnings)


def test_a_cycle_in_the_database_is_reported_with_its_path(store: object) -> None:
    from modelyard.store import CatalogStore

    assert isinstance(store, CatalogStore)
    docs = parse_manifest_text(
        model("a", deps=("shop/b",)) + model("b", deps=("shop/c",)) + model("c", deps=("shop/a",))
    )
    with store.transaction() as tx:  # bypasses apply's checks, as an old catalog might
        tx.insert([(d.spec, None) for d in docs])
    report = validate_view(select(store), Fleet())
    [cycle] = [p for p in report.errors if p.code == "cycle"]
    assert cycle.message == "dependency cycle: shop/a@1.0 -> shop/b@1.0 -> shop/c@1.0 -> shop/a@1.0"
    from modelyard import plan_deployment

    with pytest.raises(ValidationFailed, match="shop/a@1.0 -> shop/b@1.0"):
        plan_deployment(select(store))


def test_alias_selects_versions_and_resolves_dependencies(
    workspace: Workspace, tmp_path: Path
) -> None:
    apply_text(
        workspace,
        tmp_path,
        model("emb", version="1.0")
        + model("emb", version="2.0")
        + model("rank", deps=("shop/emb<2",)),
    )
    workspace.set_alias("shop/rank", "production", "1.0")
    plan = workspace.plan(alias="production")
    assert [[m.ref for m in wave] for wave in plan.waves] == [["shop/emb@1.0"], ["shop/rank@1.0"]]
    newest = workspace.plan()
    refs = {m.ref for wave in newest.waves for m in wave}
    assert refs == {"shop/emb@1.0", "shop/emb@2.0", "shop/rank@1.0"}


def test_a_deep_chain_names_a_bounded_part_of_each_chain(
    workspace: Workspace, tmp_path: Path
) -> None:
    """One problem per model is linear only if each names a bounded part of its chain: a
    whole chain per model made validate quadratic (4,000 models: 27.6 s, 744 MB)."""
    from modelyard.validation import CHAIN_SHOWN

    depth = 200
    text = model("m0", p99=10, avail=0.9999) + "".join(
        model(f"m{i}", deps=(f"shop/m{i - 1}",), p99=10, avail=0.9999) for i in range(1, depth)
    )
    apply_text(workspace, tmp_path, text)
    report = workspace.validate()
    latency = {p.model: p for p in report.problems if p.code == "sla-latency-chain"}
    availability = {p.model: p for p in report.problems if p.code == "sla-availability-chain"}
    assert len(latency) == len(availability) == depth - 2  # m1 just fits: m0 is its chain
    for problems in (latency, availability):
        assert max(len(p.details["chain"]) for p in problems.values()) == CHAIN_SHOWN
        assert sum(len(p.message) for p in problems.values()) < 2_000 * depth
    deepest = latency[f"shop/m{depth - 1}@1.0"]
    assert deepest.details["chain_length"] == depth
    assert deepest.details["needed_ms"] == 10 * (depth - 1)
    assert deepest.message.count(" -> ") == CHAIN_SHOWN and f"({depth - CHAIN_SHOWN} more)" in (
        deepest.message
    )
    assert availability[f"shop/m{depth - 1}@1.0"].details["chain_length"] == depth
