"""A compile that yields no model fails, naming why each model was skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import ValidationFailed, Workspace
from tests.support.workspaces import Cli

META_ONLY = """\
name: {name}
version: "1.0"
model_type: ranker
framework: onnx
domain: shop
owner_team: shop_ml
resource_requirements: {{gpu_memory_mb: 1024, memory_mb: 512, cpu_cores: 1}}
sla_requirements: {{max_latency_p99_ms: 50, availability: 0.999, min_throughput_rps: 10}}
"""


def test_a_catalog_whose_every_model_is_skipped_does_not_compile(
    workspace: Workspace, cli: Cli, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("a", "b"):
        (models / f"{name}.yaml").write_text(META_ONLY.format(name=name))
    workspace.apply([models])
    out = tmp_path / "repo"
    with pytest.raises(ValidationFailed, match="nothing to compile") as failed:
        workspace.compile(out)
    assert [(p.model, p.code) for p in failed.value.problems] == [
        ("shop/a", "nothing-compiled"),
        ("shop/b", "nothing-compiled"),
    ]
    assert all("no artifact" in p.message for p in failed.value.problems)
    assert not out.exists() and not (tmp_path / ".repo.generations").exists()
    result = cli("compile", "--out", str(out), expect=1)
    assert "shop/a" in result.stderr and "no artifact" in result.stderr
    assert not out.exists()


def test_an_empty_catalog_does_not_compile(workspace: Workspace, cli: Cli, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="holds no model"):
        workspace.compile(tmp_path / "repo")
    assert "modelyard apply" in cli("compile", "--out", str(tmp_path / "repo"), expect=1).stderr
