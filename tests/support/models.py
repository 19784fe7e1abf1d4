"""Small catalogs for deploy tests: python-backend models written into tmp_path, and the
compiled selection a rollout takes (what the ops layer builds from the catalog)."""

from __future__ import annotations

from pathlib import Path

from modelyard.errors import ValidationFailed
from modelyard.selection import select
from modelyard.store import CatalogStore
from modelyard.triton.compiler import CompilePlan, plan_compile
from modelyard.triton.config import Profile
from modelyard.triton.naming import triton_name

GOOD_MODEL = """
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.version = float(args["model_version"])

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "Y", np.full((1, 1), self.version, np.float32))]) for _ in requests]
"""


def python_model(
    tmp_path: Path, name: str, version: str, code: str, dependencies: str = ""
) -> Path:
    """The manifest of a python-backend model `tools/<name>@<version>` running `code`."""
    folder = tmp_path / f"{name}-{version}"
    folder.mkdir()
    (folder / "model.py").write_text(code)
    manifest = folder / "manifest.yaml"
    manifest.write_text(f"""\
name: {name}
version: "{version}"
model_type: regression
framework: python
domain: tools
owner_team: platform
artifact: model.py
{dependencies}
inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
""")
    return manifest


def compiled_selection(
    store: CatalogStore, *, alias: str | None = None, profile: Profile = "local"
) -> tuple[CompilePlan, dict[str, list[str]]]:
    """The catalog's selection compiled, and Triton name -> the Triton names it needs."""
    view = select(store, alias=alias)
    if view.problems():
        raise ValidationFailed.from_problems(view.problems(), "cannot compile")
    compiled = plan_compile(view.specs, view.triton_versions, view.resolution.resolved, profile)
    if compiled.problems:
        raise ValidationFailed.from_problems(compiled.problems, "cannot compile")
    names = {ref: triton_name(spec) for ref, spec in view.specs.items()}
    dependencies: dict[str, list[str]] = {}
    for ref in view.specs:
        needed = dependencies.setdefault(names[ref], [])
        for dep in view.graph.dependencies(ref):
            if names[dep] != names[ref] and names[dep] not in needed:
                needed.append(names[dep])
    return compiled, dependencies
