"""What a real Triton does with an ensemble step's `model_version` when two versions of
the step are loaded: the fact the dependency-aware canaries rest on (README)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton
from tests.support.rollout import GOOD_MODEL

pytestmark = pytest.mark.triton

STEP = "tools.step"
IO = """
input [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] } ]
"""


def _ensemble(name: str, step: str, step_version: int) -> str:
    return f"""name: "{name}"
platform: "ensemble"
max_batch_size: 0
{IO}
ensemble_scheduling {{ step [ {{ model_name: "{step}" model_version: {step_version}
  input_map {{ key: "X" value: "X" }} output_map {{ key: "Y" value: "Y" }} }} ] }}
"""


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonClient]:
    root = tmp_path_factory.mktemp("ensemble-versions")
    repo = root / "repo"
    step = repo / STEP
    for version in (1, 2):
        (step / str(version)).mkdir(parents=True)
        (step / str(version) / "model.py").write_text(GOOD_MODEL)
    (step / "config.pbtxt").write_text(
        f'name: "{STEP}"\nbackend: "python"\nmax_batch_size: 0\n{IO}'
        "version_policy { specific { versions: [ 1, 2 ] } }\n"
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
    )
    for name, version in (
        ("tools.latest", -1),
        ("tools.pinned", 1),
        # A generated variant: `~` and `@` are legal in Triton names and folders.
        ("tools.pinned~tools.step@2.0", 2),
    ):
        (repo / name / "1").mkdir(parents=True)
        (repo / name / "config.pbtxt").write_text(_ensemble(name, STEP, version))
    server = LocalTriton(repo, root / "state")
    client = server.start()
    try:
        yield client
    finally:
        client.close()
        server.stop()


def _answer(client: TritonClient, model: str) -> float:
    outputs = client.infer(model, {"X": ("FP32", [1], [0.0])})
    return float(outputs["Y"][0])


def test_an_unversioned_step_runs_the_highest_loaded_version(triton: TritonClient) -> None:
    triton.load("tools.latest")  # loads its step, both versions, first
    assert triton.is_ready(STEP, 1) and triton.is_ready(STEP, 2)
    # -1 is "latest": the baseline ensemble would follow a candidate the moment it loads.
    assert {_answer(triton, "tools.latest") for _ in range(20)} == {2.0}


def test_a_pinned_step_runs_its_version_and_a_variant_name_can_pin_another(
    triton: TritonClient,
) -> None:
    triton.load("tools.pinned")
    triton.load("tools.pinned~tools.step@2.0")
    assert {_answer(triton, "tools.pinned") for _ in range(20)} == {1.0}
    assert {_answer(triton, "tools.pinned~tools.step@2.0") for _ in range(20)} == {2.0}
    assert _answer(triton, "tools.step") == 2.0  # the step's own unversioned clients
    # Triton's client API quotes nothing: the name travels in the path as it is.
    assert triton.is_ready("tools.pinned~tools.step@2.0")
