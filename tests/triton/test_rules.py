"""Triton config rules against the real-file corpus and hand-written ensembles.

The corpus (/work/shared/corpus/triton-configs, or $MODELYARD_TRITON_CORPUS) holds config.pbtxt
files copied from Triton's own repositories; SOURCES.md there says which ones Triton accepts
and quotes the error Triton gives for each one it rejects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc.model_config_pb2 import ModelConfig

from modelyard.triton.rules import (
    ConfigIssue,
    check_ensemble_connections,
    check_model_config,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(
    os.environ.get("MODELYARD_TRITON_CORPUS", ROOT.parent / "shared" / "corpus" / "triton-configs")
)
SOURCES = CORPUS / "SOURCES.md"
NO_CORPUS = f"Triton config corpus not found at {CORPUS} (set MODELYARD_TRITON_CORPUS)"


def _sources_rows() -> dict[str, list[tuple[str, str]]]:
    """SOURCES.md's file tables: section ('valid'/'invalid') -> [(file, source path)]."""
    rows: dict[str, list[tuple[str, str]]] = {"valid": [], "invalid": []}
    if not SOURCES.exists():
        return rows
    section = ""
    for line in SOURCES.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].lower()
            section = "valid" if heading.startswith("valid") else ""
            section = "invalid" if heading.startswith("invalid") else section
            continue
        row = re.match(r"\| `([^`]+\.pbtxt)` \| [^|]*?`([^`]+)`", line)
        if section and row:
            rows[section].append((row.group(1), row.group(2)))
    return rows


ROWS = _sources_rows()
VALID = sorted(name for name, _ in ROWS["valid"])
INVALID_SOURCES = dict(ROWS["invalid"])

# file -> (field substring, message substring); the message phrase is Triton's quoted reason.
INVALID_CASES: dict[str, tuple[str, str]] = {
    "invalid_dali_default_model_filename_quote.pbtxt": (
        "default_model_filename",
        "contains an invalid character: '''",
    ),
    "invalid_dali_default_model_filename_traversal.pbtxt": (
        "default_model_filename",
        "contains an invalid character: '/'",
    ),
    "invalid_navigator_empty_dims.pbtxt": (
        "input[0].dims",
        "model input 'INPUT0' must specify 'dims'",
    ),
    "invalid_navigator_full_config_semantics.pbtxt": (
        "platform",
        "unexpected platform type 'tensorrt' for simple",
    ),
    "invalid_qa_batch_output_duplicate_target.pbtxt": (
        "batch_output[0].target_name",
        "target output name 'OUTPUT' can only be specified once",
    ),
    "invalid_qa_control_without_false_true.pbtxt": (
        "sequence_batching.control_input[1]",
        "sequence batching must specify either 'int32_false_true', 'fp32_false_true' or "
        "'bool_false_true' for CONTROL_SEQUENCE_READY for control_tensor_no_value",
    ),
    "invalid_qa_empty_reshape_nobatch.pbtxt": (
        "input[0].reshape",
        "model input 'input' cannot have empty reshape for non-batching model as scalar tensors "
        "are not supported for reshape_nobatch_empty0",
    ),
    "invalid_qa_ensemble_empty_scheduling.pbtxt": (
        "ensemble_scheduling.step",
        "must specify 'step' for ensemble 'no_step_2'",
    ),
    "invalid_qa_ensemble_has_backend.pbtxt": (
        "backend",
        "Ensemble model 'has_backend' must have platform type 'ensemble' and empty backend type",
    ),
    "invalid_qa_ensemble_instance_group.pbtxt": (
        "instance_group",
        "instance group should not be specified for ensemble 'instance_group_set'",
    ),
    "invalid_qa_ensemble_model_warmup.pbtxt": (
        "model_warmup",
        "model_warmup can not be specified for ensemble 'model_warmup_set'",
    ),
    "invalid_qa_ensemble_scheduling_on_non_ensemble.pbtxt": (
        "ensemble_scheduling",
        "ensemble scheduling cannot be set for model 'ensemble_scheduling_set' whose platform is "
        "not ensemble",
    ),
    "invalid_qa_ensemble_self_cycle.pbtxt": (
        "ensemble_scheduling.step[3].model_name",
        "circular dependency between ensembles: self_circular_dependency -> "
        "self_circular_dependency",
    ),
    "invalid_qa_ensemble_step_no_model_name.pbtxt": (
        "ensemble_scheduling.step[1].model_name",
        "must specify 'model_name' in step 1 of ensemble 'no_model_name'",
    ),
    "invalid_qa_ensemble_tensor_written_twice.pbtxt": (
        "ensemble_scheduling.step[2].output_map",
        "ensemble tensor 'temp_tensor_2' can appear in an output map only once for ensemble "
        "'output_to_tensor_overmapped'",
    ),
    "invalid_qa_ensemble_unused_input.pbtxt": (
        "input[1]",
        "ensemble input 'data_2' for ensemble 'unreachable_input' is not used",
    ),
    "invalid_qa_kind_cpu_with_gpus.pbtxt": (
        "instance_group[0].gpus",
        "instance group invalid_cpu_0 of model invalid_cpu has kind KIND_CPU but specifies one "
        "or more GPU",
    ),
    "invalid_qa_missing_datatype.pbtxt": (
        "input[0].data_type",
        "model input 'input' must specify 'data_type'",
    ),
    "invalid_qa_model_metrics_empty_buckets_partial.pbtxt": (
        "model_metrics.metric_control[0].histogram_options.buckets",
        "histogram options must specify non-empty 'buckets'",
    ),
    "invalid_qa_negative_gpu_id.pbtxt": (
        "instance_group[1].gpus[0]",
        "instance group negative_gpu_1 of model negative_gpu specifies invalid or unsupported "
        "gpu id -1",
    ),
    "invalid_qa_negative_max_batch_size.pbtxt": (
        "max_batch_size",
        "'max_batch_size' must be non-negative value for negative_max_batch_size",
    ),
    "invalid_qa_platform_typo.pbtxt": (
        "platform",
        "unexpected 'platform' and 'backend' pair, got:onnxruntim, onnxruntime",
    ),
    "invalid_qa_preserve_ordering_delay.pbtxt": (
        "dynamic_batching.default_queue_policy.timeout_action",
        "Queue policy can not have DELAY as timeout action when 'preserve_ordering' is true for "
        "preserve_ordering1",
    ),
    "invalid_qa_priority_queue_key_zero.pbtxt": (
        "dynamic_batching.priority_queue_policy[0]",
        "priority queue policy must have priority level in range [1, 3] for priority_level0",
    ),
    "invalid_qa_reshape_elementcount.pbtxt": (
        "input[0].reshape",
        "model input 'input' has different size for dims and reshape for reshape_elementcount0",
    ),
    "invalid_qa_runtime_path_escape.pbtxt": (
        "runtime",
        "backend library name '../dummy_runtime/libtriton_identity.so' escapes backend directory",
    ),
    "invalid_qa_zero_dim.pbtxt": (
        "input[0].dims",
        "model input 'input' dimension must be integer >= 1, or -1 to indicate a variable-size "
        "dimension for zerodims_input0",
    ),
    # A layout error first (tests/triton/test_importer.py:
    # test_config_in_a_version_folder_is_refused); its content, once moved up, still lacks
    # platform "ensemble".
    "invalid_tutorial_ensemble_config_in_version_dir.pbtxt": (
        "ensemble_scheduling",
        "whose platform is not ensemble",
    ),
}

# qa/L0_model_config/test.sh deletes the stored platform line of these cases and appends each
# of these platforms in turn; the rejection must not hinge on the placeholder.
HARNESS_PLATFORMS = ("tensorrt_plan", "onnxruntime_onnx", "pytorch_libtorch")
NOAUTOFILL = sorted(
    name for name, source in INVALID_SOURCES.items() if "/noautofill_platform/" in source
)


def _parse(text: str) -> ModelConfig:
    return text_format.Parse(text, ModelConfig())


def _corpus(name: str) -> ModelConfig:
    return _parse((CORPUS / name).read_text())


def _name_of(config: ModelConfig) -> str | None:
    """The name to check against: only where the file sets one."""
    return str(config.name) or None


def _has(issues: list[ConfigIssue], field: str, message: str) -> bool:
    return any(field in i.field and message in i.message for i in issues)


# --------------------------------------------------------------------------- corpus


def test_corpus_matches_sources() -> None:
    if not SOURCES.exists():
        pytest.skip(NO_CORPUS)
    on_disk = {p.name for p in CORPUS.glob("*.pbtxt")}
    assert len(VALID) == 52
    assert len(INVALID_SOURCES) == 28
    assert set(VALID) | set(INVALID_SOURCES) == on_disk
    assert set(INVALID_CASES) == set(INVALID_SOURCES)


@pytest.mark.parametrize("name", VALID)
def test_valid_corpus_file_has_no_issue(name: str) -> None:
    config = _corpus(name)
    assert check_model_config(config, model_name=_name_of(config)) == []


@pytest.mark.parametrize("name", sorted(INVALID_SOURCES))
def test_invalid_corpus_file_gets_tritons_reason(name: str) -> None:
    field, message = INVALID_CASES[name]
    config = _corpus(name)
    issues = check_model_config(config, model_name=_name_of(config))
    assert _has(issues, field, message), issues


@pytest.mark.parametrize("platform", HARNESS_PLATFORMS)
@pytest.mark.parametrize("name", NOAUTOFILL)
def test_invalid_case_fails_with_each_harness_platform(name: str, platform: str) -> None:
    config = _corpus(name)
    config.platform = platform
    field, message = INVALID_CASES[name]
    issues = check_model_config(config, model_name=_name_of(config))
    assert _has(issues, field, message), issues
    assert not _has(issues, "platform", "unexpected platform type")


# --------------------------------------------------------------------------- single config


def test_name_must_match_folder_and_be_valid() -> None:
    issues = check_model_config(_parse('name: "a" backend: "python"'), model_name="b")
    assert issues == [
        ConfigIssue(
            "name",
            "'name' is 'a' but the model folder is 'b'; when 'name' is set Triton requires it to "
            "equal the folder name (or leave it out)",
        )
    ]
    assert _has(check_model_config(_parse('name: ".." backend: "python"')), "name", "'..'")
    assert _has(check_model_config(_parse('name: "a/b" backend: "python"')), "name", "'/'")
    assert _has(check_model_config(_parse('name: "  " backend: "python"')), "name", "empty")


def test_platform_and_backend_pairs() -> None:
    assert check_model_config(_parse('platform: "onnxruntime_onnx" backend: "onnxruntime"')) == []
    assert check_model_config(_parse('platform: "anything" backend: "my_custom"')) == []
    assert check_model_config(_parse('platform: "tensorrt_plan"')) == []
    mismatch = check_model_config(_parse('platform: "pytorch_libtorch" backend: "onnxruntime"'))
    assert _has(mismatch, "platform", "got:pytorch_libtorch, onnxruntime")
    unknown = check_model_config(_parse('default_model_filename: "weights.bin"'))
    assert _has(unknown, "backend", "must specify 'platform' or 'backend'")


def test_instance_group_rules() -> None:
    config = _parse(
        """
        name: "m" platform: "onnxruntime_onnx"
        instance_group [
          { kind: KIND_MODEL gpus: [ 0 ] },
          { kind: KIND_GPU count: -1 },
          { kind: KIND_GPU profile: [ "0" ] }
        ]
        """
    )
    issues = check_model_config(config)
    assert [i.field for i in issues] == [
        "instance_group[0].gpus",
        "instance_group[1].count",
        "instance_group[2].profile",
    ]
    assert "has kind KIND_MODEL but specifies one or more GPUs" in issues[0].message
    assert "only supported for TensorRT models" in issues[2].message


def test_scheduler_rules() -> None:
    config = _parse(
        """
        name: "m" backend: "python" max_batch_size: 4
        dynamic_batching {
          preferred_batch_size: [ 8 ] priority_levels: 2 default_priority_level: 3
        }
        """
    )
    issues = check_model_config(config)
    assert [i.field for i in issues] == [
        "dynamic_batching.preferred_batch_size[0]",
        "dynamic_batching.default_priority_level",
    ]
    sequence = _parse(
        """
        name: "s" backend: "python" max_batch_size: 4
        sequence_batching {
          control_input [
            { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 } ] },
            { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0 ] } ] }
          ]
        }
        """
    )
    issues = check_model_config(sequence)
    assert _has(issues, "control_input[0].control[0].data_type", "Allowed data types are")
    assert _has(issues, "control_input[1].control[0].fp32_false_true", "exactly 2 entries")


def test_paths_caches_and_batch_io() -> None:
    config = _parse(
        """
        name: "m" backend: "identity" runtime: "/opt/lib/libtriton_identity.so"
        max_batch_size: 4
        input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]
        output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
        batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: "N" data_type: TYPE_INT64
                        source_input: [ "IN", "MISSING" ] } ]
        model_transaction_policy { decoupled: true }
        response_cache { enable: true }
        """
    )
    assert [i.field for i in check_model_config(config)] == [
        "batch_input[0].source_input",
        "batch_input[0].data_type",
        "batch_input[0].source_input[1]",
        "response_cache.enable",
        "runtime",
    ]


def test_reshape_with_wildcards() -> None:
    good = _parse(
        'backend: "python" max_batch_size: 2 '
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 2, 4, -1, 6 ] '
        "reshape { shape: [ 8, -1, 1, 6 ] } } ]"
    )
    assert check_model_config(good) == []
    bad = _parse(
        'backend: "python" max_batch_size: 2 '
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 2, -1 ] reshape { shape: [ 4, -1 ] } } ]'
    )
    assert _has(check_model_config(bad), "input[0].reshape", "different size for dims and reshape")


def test_ensemble_data_flow_rules() -> None:
    unused = _parse(
        """
        name: "e" platform: "ensemble"
        input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]
        output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
        ensemble_scheduling { step [
          { model_name: "a" input_map { key: "x" value: "IN" }
            output_map [ { key: "y" value: "OUT" }, { key: "z" value: "spare" } ] } ] }
        """
    )
    issues = check_model_config(unused)
    assert issues == [
        ConfigIssue(
            "ensemble_scheduling.step[0].output_map[z]",
            "ensemble tensor 'spare' is unused in ensemble 'e': step 0 writes it but no step "
            "reads it and it is not an ensemble output",
        )
    ]
    cyclic = _parse(
        """
        name: "c" platform: "ensemble"
        input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]
        output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
        ensemble_scheduling { step [
          { model_name: "a" input_map [ { key: "x" value: "IN" }, { key: "w" value: "t2" } ]
            output_map { key: "y" value: "t1" } },
          { model_name: "b" input_map { key: "x" value: "t1" }
            output_map [ { key: "y" value: "t2" }, { key: "z" value: "OUT" } ] } ] }
        """
    )
    issues = check_model_config(cyclic)
    assert len(issues) == 1
    assert "can never be computed" in issues[0].message


# --------------------------------------------------------------------------- connections

PRE = """
name: "pre" backend: "python" max_batch_size: 8
input [ { name: "RAW" data_type: TYPE_UINT8 dims: [ -1 ] } ]
output [ { name: "PIXELS" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
"""
CLS = """
name: "cls" platform: "onnxruntime_onnx" max_batch_size: 16
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, -1, -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1000 ] } ]
"""
ENSEMBLE = """
name: "pipeline" platform: "ensemble" max_batch_size: 8
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ -1 ] } ]
output [ { name: "SCORES" data_type: TYPE_FP32 dims: [ 1000 ] } ]
ensemble_scheduling { step [
  { model_name: "pre" model_version: -1
    input_map { key: "RAW" value: "IMAGE" } output_map { key: "PIXELS" value: "pixels" } },
  { model_name: "cls" model_version: -1
    input_map { key: "x" value: "pixels" } output_map { key: "y" value: "SCORES" } } ] }
"""


def _connections(
    ensemble: str = ENSEMBLE, pre: str | None = PRE, cls: str | None = CLS
) -> list[ConfigIssue]:
    composing = {}
    for text in (pre, cls):
        if text is not None:
            config = _parse(text)
            composing[str(config.name)] = config
    return check_ensemble_connections(_parse(ensemble), composing)


def _only(issues: list[ConfigIssue]) -> ConfigIssue:
    assert len(issues) == 1, issues
    return issues[0]


def test_two_step_ensemble_is_consistent() -> None:
    for text in (ENSEMBLE, PRE, CLS):
        config = _parse(text)
        assert check_model_config(config, model_name=str(config.name)) == []
    assert _connections() == []


def test_non_batching_step_full_shape_matches_batching_ensemble() -> None:
    cls = CLS.replace("max_batch_size: 16", "max_batch_size: 0").replace(
        "dims: [ 3, -1, -1 ]", "dims: [ -1, 3, 224, 224 ]"
    )
    assert _connections(cls=cls.replace("dims: [ 1000 ]", "dims: [ -1, 1000 ]")) == []


def test_mismatched_data_type() -> None:
    cls = CLS.replace('"x" data_type: TYPE_FP32', '"x" data_type: TYPE_FP16')
    issue = _only(_connections(cls=cls))
    assert issue.field == "ensemble_scheduling.step[1].input_map[x]"
    assert issue.message == (
        "in ensemble pipeline, ensemble tensor pixels: inconsistent data type: TYPE_FP32 is "
        "inferred from model pre while TYPE_FP16 is inferred from model cls"
    )


def test_mismatched_shape() -> None:
    issue = _only(_connections(cls=CLS.replace("dims: [ 3, -1, -1 ]", "dims: [ 4, -1, -1 ]")))
    assert issue.field == "ensemble_scheduling.step[1].input_map[x]"
    assert issue.message == (
        "in ensemble pipeline, ensemble tensor pixels: inconsistent shape: [-1,3,224,224] is "
        "inferred from model pre while [-1,4,-1,-1] is inferred from model cls"
    )


def test_unmapped_required_step_input() -> None:
    mask = 'input [ { name: "mask" data_type: TYPE_BOOL dims: [ 1 ] } ]'
    issue = _only(_connections(cls=CLS + mask))
    assert issue.field == "ensemble_scheduling.step[1].input_map"
    assert issue.message == (
        "in ensemble pipeline, input mask in model cls is not mapped to any ensemble tensors"
    )
    optional = 'input [ { name: "mask" data_type: TYPE_BOOL dims: [ 1 ] optional: true } ]'
    assert _connections(cls=CLS + optional) == []


def test_unknown_step_input_name() -> None:
    ensemble = ENSEMBLE.replace(
        'input_map { key: "x" value: "pixels" }',
        'input_map [ { key: "x" value: "pixels" }, { key: "bogus" value: "pixels" } ]',
    )
    issue = _only(_connections(ensemble))
    assert issue.field == "ensemble_scheduling.step[1].input_map[bogus]"
    assert issue.message.startswith(
        "in ensemble pipeline, ensemble tensor pixels is mapping to non-existing input bogus in "
        "model cls"
    )


def test_unknown_step_output_name() -> None:
    ensemble = ENSEMBLE.replace('key: "PIXELS"', 'key: "NOPE"')
    issue = _only(_connections(ensemble))
    assert issue.field == "ensemble_scheduling.step[0].output_map[NOPE]"
    assert issue.message.startswith(
        "in ensemble pipeline, ensemble tensor pixels is mapped from non-existing output NOPE in "
        "model pre"
    )


def test_missing_composing_model() -> None:
    issue = _only(_connections(cls=None))
    assert issue.field == "ensemble_scheduling.step[1].model_name"
    assert "uses model 'cls', which is not among the composing models" in issue.message


def test_ensemble_max_batch_size_above_a_step() -> None:
    issue = _only(_connections(ENSEMBLE.replace("max_batch_size: 8", "max_batch_size: 12")))
    assert issue.field == "max_batch_size"
    assert issue.message.startswith(
        "ensemble pipeline allows maximum batch size 12, but it contains model pre which only "
        "allows maximum batch size to be 8"
    )


def test_two_ensemble_cycle() -> None:
    template = """
    name: "{me}" platform: "ensemble"
    input [ {{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }} ]
    output [ {{ name: "OUT" data_type: TYPE_FP32 dims: [ 4 ] }} ]
    ensemble_scheduling {{ step [ {{ model_name: "{other}"
      input_map {{ key: "IN" value: "IN" }} output_map {{ key: "OUT" value: "OUT" }} }} ] }}
    """
    a = _parse(template.format(me="a", other="b"))
    b = _parse(template.format(me="b", other="a"))
    assert check_model_config(a) == [] and check_model_config(b) == []
    issue = _only(check_ensemble_connections(a, {"a": a, "b": b}))
    assert issue == ConfigIssue(
        "ensemble_scheduling.step[0].model_name",
        "circular dependency between ensembles: a -> b -> a",
    )
