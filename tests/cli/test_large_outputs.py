"""Commands over a large catalog print a screenful and say what they left out; --json
has everything."""

from __future__ import annotations

from pathlib import Path

from modelyard.cli.render import APPLY_LISTED
from tests.support.workspaces import Cli

MODELS = APPLY_LISTED + 25

MODEL_PY = """\
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return []
"""


def many_models(folder: Path, count: int) -> Path:
    (folder / "model.py").write_text(MODEL_PY)
    documents = [
        f'name: m{i:03d}\nversion: "1.0"\nmodel_type: classification\nframework: python\n'
        "domain: shop\nowner_team: shop_ml\nartifact: model.py\n"
        "inputs: [{name: x, data_type: FP32, dims: [4]}]\n"
        "outputs: [{name: y, data_type: FP32, dims: [1]}]\n"
        for i in range(count)
    ]
    manifest = folder / "models.yaml"
    manifest.write_text("---\n" + "---\n".join(documents))
    return manifest


def test_apply_compile_plan_and_list_summarise_and_json_is_complete(
    cli: Cli, tmp_path: Path
) -> None:
    manifest = many_models(tmp_path, MODELS)
    applied = cli("apply", str(manifest)).output
    assert f"... and {MODELS - 20} more (--json lists them all)" in applied

    out = tmp_path / "repo"
    compiled = cli("compile", "--out", str(out)).output
    assert f"... and {MODELS - 20} more model(s) (--json lists them all)" in compiled
    assert compiled.count("(shop/m0") == 20
    assert f"{MODELS} model(s) compiled" in compiled
    assert len(cli.json("compile", "--out", str(tmp_path / "again"))["models"]) == MODELS

    planned = cli("plan").output
    assert f"... and {MODELS - 20} more in wave 1 (--json lists them all)" in planned
    assert sum(len(wave) for wave in cli.json("plan")["waves"]) == MODELS

    listed = cli("list", "--limit", "30").output
    assert f"{MODELS} model(s), the first 30 shown" in listed
    assert listed.count("shop/m0") == 30
    assert cli("list", "--limit", "0").output.count("shop/m0") == MODELS
    assert len(cli.json("list", "--limit", "30")["models"]) == MODELS
