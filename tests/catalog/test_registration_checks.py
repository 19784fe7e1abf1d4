"""What registration refuses, whichever way a version comes in (apply, the API, import-triton):
a `triton` block that compiles to a config Triton refuses, numbers outside their documented
ranges, instance counts, path-like fields and examples that do not fit their tensor. And
what validate, report and compile do with such a version stored before these checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.catalog.spec import (
    GPU_MEMORY_MB_MAX,
    INSTANCE_COUNT_MAX,
    MEMORY_MB_MAX,
    ModelSpec,
    TensorSpec,
    range_problems,
    within_ranges,
)
from modelyard.cli.app import app
from modelyard.errors import InputError
from modelyard.placement.solver import demands_from_specs
from tests.support.api import bearer
from tests.support.workspaces import Cli, init_workspace


def manifest(extra: str = "", name: str = "m") -> str:
    return f"""\
name: {name}
version: "1.0"
model_type: classification
framework: python
domain: d
owner_team: t
artifact: model.py
{extra}"""


@pytest.fixture
def ws(tmp_path: Path, catalog_url: str) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    created = init_workspace(root, catalog_url)
    (root / "model.py").write_text("# a python backend model\n")
    yield created
    created.close()  # a PostgreSQL connection left to the collector warns at exit


def apply(ws: Workspace, text: str) -> None:
    assert ws.root is not None
    path = ws.root / "models.yaml"
    path.write_text(text)
    ws.apply([path])


# ------------------------------------------------------------------ point 3: whole config


@pytest.mark.parametrize(
    ("block", "field", "reason"),
    [
        ("triton: {max_batch_size: -5}", "triton.max_batch_size", "must be non-negative"),
        (
            "triton: {input: [{name: X, data_type: TYPE_FP32, dims: [-2]}]}",
            r"triton.input\[0\].dims\[0\]",
            "dimension must be integer >= 1, or -1",
        ),
        (
            "triton: {platform: ensemble}",
            "triton.ensemble_scheduling",
            "ensemble scheduling must be set",
        ),
        (
            "resource_requirements: {max_batch_size: 0}\n"
            "triton: {ensemble_scheduling: {step: [{model_name: x, model_version: -1, "
            "input_map: {A: X}, output_map: {B: Y}}]}}",
            "triton.ensemble_scheduling",
            "ensemble scheduling cannot be set for model 'd.m' whose platform is not ensemble",
        ),
    ],
)
def test_apply_refuses_a_config_triton_would_refuse(
    ws: Workspace, block: str, field: str, reason: str
) -> None:
    with pytest.raises(InputError, match=rf"models.yaml:1: {field}: .*d\.m.*{reason}") as caught:
        apply(ws, manifest(block))
    for problem in caught.value.problems:  # each names the file, the model and the field
        assert problem.model == "d/m@1.0" and problem.field and problem.line == 1
        assert problem.source is not None and problem.source.endswith("models.yaml")
    assert ws.store.versions() == [], "nothing registered"
    # The rest of the catalog stays compilable: the bad version never got in.
    apply(ws, manifest(name="good"))
    assert ws.validate().ok


def test_the_api_refuses_it_too(ws: Workspace) -> None:
    _, secret = ws.access.create_token("t", "maintainer", "t", actor="test")
    with TestClient(create_app(ws)) as client:
        response = client.post(
            "/api/v1/models",
            headers=bearer(secret),
            json={"manifest": manifest("triton: {max_batch_size: -5}").replace("model.py", "")},
        )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "triton.max_batch_size"
    assert "must be non-negative" in error["message"]
    assert response.json()["errors"][0]["model"] == "d/m@1.0"


def test_import_triton_refuses_a_python_model_with_ensemble_scheduling(
    ws: Workspace, tmp_path: Path
) -> None:
    config = model_config_pb2.ModelConfig(name="py", backend="python", max_batch_size=4)
    config.input.add(name="IN", data_type=model_config_pb2.TYPE_FP32, dims=[4])
    config.output.add(name="OUT", data_type=model_config_pb2.TYPE_FP32, dims=[4])
    step = config.ensemble_scheduling.step.add(model_name="other", model_version=-1)
    step.input_map["IN"] = "IN"
    step.output_map["OUT"] = "OUT"
    folder = tmp_path / "repo" / "py"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text("# model\n")
    (folder / "config.pbtxt").write_text(text_format.MessageToString(config))
    with pytest.raises(InputError, match="ensemble scheduling cannot be set for model 'py'"):
        ws.import_triton(tmp_path / "repo", domain="d", owner_team="t")
    assert ws.store.versions() == []


# ------------------------------------------------------------------ point 5: number ranges


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ("memory_mb: " + "9" * 400, "resource_requirements.memory_mb"),
        (f"memory_mb: {MEMORY_MB_MAX + 1}", "resource_requirements.memory_mb"),
        (f"gpu_memory_mb: {GPU_MEMORY_MB_MAX + 1}", "resource_requirements.gpu_memory_mb"),
        (f"instance_count: {INSTANCE_COUNT_MAX + 1}", "resource_requirements.instance_count"),
    ],
)
def test_numbers_outside_their_range_are_refused(ws: Workspace, resources: str, field: str) -> None:
    with pytest.raises(InputError, match=rf"{field}: input should be less than or equal to"):
        apply(ws, manifest(f"resource_requirements: {{{resources}}}"))
    assert ws.store.versions() == []


def test_the_largest_values_in_range_are_accepted(ws: Workspace) -> None:
    apply(
        ws,
        manifest(
            f"resource_requirements: {{memory_mb: {MEMORY_MB_MAX}, gpu_memory_mb: "
            f"{GPU_MEMORY_MB_MAX}, instance_count: {INSTANCE_COUNT_MAX}}}"
        ),
    )
    assert [v.spec.ref for v in ws.store.versions()] == ["d/m@1.0"]


def _store_unchecked(ws: Workspace, spec: ModelSpec) -> None:
    """What a catalog written before the ranges were checked holds."""
    with ws.store.transaction() as tx:
        tx.insert([(spec, "old.yaml")])


def _old_spec(**resources: int) -> ModelSpec:
    spec = ModelSpec(
        name="old", version="1.0", model_type="x", framework="python", domain="d", owner_team="t"
    )
    return spec.model_copy(
        update={"resource_requirements": spec.resource_requirements.model_copy(update=resources)}
    )


def test_a_stored_out_of_range_number_is_a_problem_not_a_crash(ws: Workspace) -> None:
    _store_unchecked(ws, _old_spec(memory_mb=10**400))
    apply(ws, manifest(name="good"))
    report = ws.validate()
    [problem] = [p for p in report.errors if p.code == "out-of-range"]
    assert problem.model == "d/old@1.0" and problem.field == "resource_requirements.memory_mb"
    assert "register a new version" in problem.message and len(problem.message) < 400
    # Capacity counts the bound meanwhile; the report renders; compile names the version.
    assert report.needs["total"]["memory_mb"] == MEMORY_MB_MAX + 2048
    assert ws.report().resources["total"]["memory_mb"] == MEMORY_MB_MAX + 2048


def test_the_cli_validates_and_reports_a_stored_out_of_range_number(
    ws: Workspace, tmp_path: Path
) -> None:
    _store_unchecked(ws, _old_spec(gpu_memory_mb=10**400))
    assert ws.root is not None
    cli = Cli(ws.root)
    out = cli("validate", expect=1).output
    assert "d/old@1.0: resource_requirements.gpu_memory_mb:" in out
    assert "internal error" not in out
    cli("report")
    cli("report", "--html", str(tmp_path / "html"))
    assert (tmp_path / "html" / "index.html").is_file()
    # doctor no longer calls such a catalog healthy: it names the version and the field.
    result = cli.runner.invoke(app, ["doctor", "--json", "--workspace", str(ws.root)])
    [finding] = [c for c in json.loads(result.stdout)["checks"] if c["area"] == "catalog ranges"]
    assert finding["status"] == "warn"
    assert "d/old@1.0 (resource_requirements.gpu_memory_mb" in finding["detail"]


def test_within_ranges_moves_only_the_offending_number() -> None:
    spec = _old_spec(memory_mb=10**400, gpu_memory_mb=-3)
    bounded = within_ranges(spec)
    assert bounded.resource_requirements.memory_mb == MEMORY_MB_MAX
    assert bounded.resource_requirements.gpu_memory_mb == 0
    assert bounded.resource_requirements.cpu_cores == spec.resource_requirements.cpu_cores
    assert [f for f, _ in range_problems(spec)] == [
        "resource_requirements.memory_mb",
        "resource_requirements.gpu_memory_mb",
    ]
    assert range_problems(bounded) == [] and within_ranges(bounded) is bounded


# ------------------------------------------------------------------ point 14: triton blocks


def test_an_instance_group_count_is_bounded(ws: Workspace) -> None:
    with pytest.raises(InputError, match=r"triton: instance_group\[0\]\.count: 100000 instances"):
        apply(ws, manifest("triton: {instance_group: [{count: 100000}]}"))
    with pytest.raises(InputError, match="instance_group: 2000 instances in all"):
        apply(ws, manifest("triton: {instance_group: [{count: 1000, gpus: [0, 1]}]}"))


def test_placement_counts_the_instances_the_triton_block_declares(ws: Workspace) -> None:
    apply(
        ws,
        manifest(
            "resource_requirements: {memory_mb: 100, gpu_memory_mb: 0, cpu_cores: 1}\n"
            "triton: {instance_group: [{kind: KIND_CPU, count: 3}, {kind: KIND_CPU}]}"
        ),
    )
    [stored] = ws.store.versions()
    assert stored.spec.declared_instances == 4
    [demand] = demands_from_specs({stored.spec.ref: stored.spec})
    assert demand.instance_count == 4 and demand.replica_memory_mb == 400
    assert ws.validate().needs["total"]["memory_mb"] == 400


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ('cc_model_filenames: {"7.5": "../../../etc/passwd"}', "triton.cc_model_filenames.7.5"),
        (
            "model_warmup: [{name: w, batch_size: 1, inputs: {X: {data_type: TYPE_FP32, "
            "dims: [1], input_data_file: ../../../etc/passwd}}}]",
            r"triton.model_warmup\[0\].inputs.X.input_data_file",
        ),
        (
            "output: [{name: Y, data_type: TYPE_FP32, dims: [1], label_filename: /etc/passwd}]",
            r"triton.output\[0\].label_filename",
        ),
        ('cc_model_filenames: {"7.5": ..}', "triton.cc_model_filenames.7.5"),
    ],
)
def test_every_path_like_field_must_be_a_plain_file_name(
    ws: Workspace, block: str, field: str
) -> None:
    with pytest.raises(InputError, match=rf"{field}: .*(is a path|is not a file name)"):
        apply(ws, manifest(f"triton: {{{block}}}"))
    assert ws.store.versions() == []


def test_plain_file_names_in_those_fields_are_accepted(ws: Workspace) -> None:
    apply(
        ws,
        manifest(
            'triton: {cc_model_filenames: {"7.5": model_75.py}, model_warmup: [{name: w, '
            "batch_size: 1, inputs: {X: {data_type: TYPE_FP32, dims: [1], "
            "input_data_file: x.bin}}}]}"
        ),
    )
    assert len(ws.store.versions()) == 1


@pytest.mark.parametrize(
    ("tensor", "reason"),
    [
        (
            "{name: X, data_type: FP32, dims: [1], example: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}",
            r"10 values for dims \[1\], which hold 1 value",
        ),
        (
            '{name: X, data_type: FP32, dims: [2], example: ["a", "b"]}',
            r"\[0\]: 'a' is not a number \(FP32\)",
        ),
        ("{name: X, data_type: INT8, dims: [1], example: [300]}", "outside INT8's range"),
        ("{name: X, data_type: INT32, dims: [1], example: [1.5]}", "is not an integer"),
        ("{name: X, data_type: BOOL, dims: [1], example: [1]}", "is not true or false"),
        ("{name: X, data_type: STRING, dims: [1], example: [1]}", "is not a string"),
        (
            "{name: X, data_type: FP32, dims: [-1, 3], example: [1, 2]}",
            "positive multiple of 3 values",
        ),
        ("{name: X, data_type: FP32, dims: [2], example: [[1], [2]]}", "is not a number"),
    ],
)
def test_an_example_must_fit_its_dims_and_data_type(
    ws: Workspace, tensor: str, reason: str
) -> None:
    with pytest.raises(InputError, match=rf"inputs\[0\]\.example: .*{reason}"):
        apply(ws, manifest(f"inputs: [{tensor}]"))


@pytest.mark.parametrize(
    "tensor",
    [
        "{name: X, data_type: FP32, dims: [2, 2], example: [1, 2.5, 3, 4]}",
        "{name: X, data_type: FP32, dims: [-1, 2], example: [1, 2, 3, 4, 5, 6]}",
        '{name: X, data_type: STRING, dims: [-1], example: ["a", "b"]}',
        "{name: X, data_type: UINT8, dims: [2], example: [0, 255]}",
        "{name: X, data_type: BOOL, dims: [1], example: [true]}",
    ],
)
def test_fitting_examples_are_accepted(ws: Workspace, tensor: str) -> None:
    apply(ws, manifest(f"inputs: [{tensor}]"))
    assert len(ws.store.versions()) == 1


def test_a_stored_example_that_does_not_fit_is_reported_by_validate(ws: Workspace) -> None:
    spec = _old_spec()
    spec = spec.model_copy(
        update={
            "inputs": [
                TensorSpec.model_construct(
                    name="X", data_type="FP32", dims=[1], example=list(range(10))
                )
            ]
        }
    )
    _store_unchecked(ws, spec)
    [problem] = [p for p in ws.validate().errors if p.code == "out-of-range"]
    assert problem.field == "inputs[0].example" and "10 values" in problem.message
