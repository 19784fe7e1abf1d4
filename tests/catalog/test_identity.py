"""Content identity: a version's digest covers what its author wrote, not the defaults,
so adding an optional field to the spec changes no registered version's identity."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import Field

from modelyard import parse_manifest_text
from modelyard.catalog.spec import ModelSpec, Resources, differing_fields
from tests.support.digests import whole_spec_digest
from tests.support.netflix import NETFLIX_MODELS

RANKER = """
name: ranker
version: "1.0"
model_type: classification
framework: onnx
domain: shop
owner_team: shop_ml
resource_requirements: {gpu_memory_mb: 2048}
sla_requirements: {max_latency_p99_ms: 40}
"""


class _ResourcesWithNuma(Resources):
    numa_node: int | None = None


class _SpecWithCanary(ModelSpec):
    """ModelSpec as a later feature might grow it: new defaulted fields, also nested."""

    canary_weight: float | None = None
    rollout_notes: list[str] = Field(default_factory=list)
    resource_requirements: _ResourcesWithNuma = Field(default_factory=_ResourcesWithNuma)


def _netflix_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(NETFLIX_MODELS.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def _spec(text: str) -> ModelSpec:
    return parse_manifest_text(text)[0].spec


def test_a_new_defaulted_field_keeps_every_netflix_digest() -> None:
    documents = _netflix_documents()
    assert len(documents) == 6
    for data in documents:
        spec = ModelSpec.model_validate(data)
        grown = _SpecWithCanary.model_validate(data)
        assert grown.content_digest() == spec.content_digest(), spec.ref
        assert grown.content() == spec.content()
        # The old rule (defaults included) gave every version a new identity.
        assert whole_spec_digest(grown) != whole_spec_digest(spec)


def test_a_new_field_written_with_a_value_is_content() -> None:
    data = _netflix_documents()[0]
    plain = _SpecWithCanary.model_validate(data)
    weighted = _SpecWithCanary.model_validate({**data, "canary_weight": 0.1})
    numa = _SpecWithCanary.model_validate(
        {**data, "resource_requirements": {**data["resource_requirements"], "numa_node": 1}}
    )
    assert len({plain.content_digest(), weighted.content_digest(), numa.content_digest()}) == 3
    assert differing_fields(plain, weighted) == ["canary_weight"]
    assert differing_fields(plain, numa) == ["resource_requirements.numa_node"]


def test_writing_a_default_counts_as_leaving_it_out() -> None:
    explicit = RANKER.replace(
        "resource_requirements: {gpu_memory_mb: 2048}",
        "resource_requirements: {gpu_memory_mb: 2048, memory_mb: 2048, cpu_cores: 2.0, "
        "instance_count: 1}",
    ) + (
        'description: ""\ndependencies: []\nlabels: {}\ntriton: {}\ninputs: []\n'
        "placement: {replicas: null, requires: {}}\nartifact_sha256: null\n"
        "triton_version: null\nensemble: null\n"
    )
    # The seed's JSON writes null for "the defaults".
    seed_nulls = RANKER + "description: null\nlabels: null\ntriton: null\n"
    all_defaults = RANKER.replace(
        "sla_requirements: {max_latency_p99_ms: 40}",
        "sla_requirements: {max_latency_p99_ms: 40, min_throughput_rps: 10, availability: 0.999}",
    )
    digest = _spec(RANKER).content_digest()
    assert _spec(explicit).content_digest() == digest
    assert _spec(seed_nulls).content_digest() == digest
    assert _spec(all_defaults).content_digest() == digest
    assert _spec(RANKER.replace("gpu_memory_mb: 2048", "gpu_memory_mb: 4096")).content() == {
        "name": "ranker",
        "version": "1.0.0",
        "model_type": "classification",
        "framework": "onnx",
        "domain": "shop",
        "owner_team": "shop_ml",
        "sla_requirements": {"max_latency_p99_ms": 40.0},
    }


def test_validated_values_are_what_is_hashed() -> None:
    with_io = RANKER + (
        "dependencies: ['shop/parser >= 1.0, <2']\n"
        "inputs: [{name: x, data_type: TYPE_FP32, dims: [4]}]\n"
    )
    normalised = RANKER.replace('version: "1.0"', 'version: "1.0.0"') + (
        "dependencies: ['shop/parser>=1.0,<2']\n"
        "inputs: [{name: x, data_type: FP32, dims: [4], example: null}]\n"
    )
    assert _spec(with_io).content_digest() == _spec(normalised).content_digest()
    # An integer where a float is declared is the same number once validated.
    assert (
        _spec(RANKER.replace("max_latency_p99_ms: 40", "max_latency_p99_ms: 40.0")).content_digest()
        == _spec(RANKER).content_digest()
    )


def test_the_artifact_path_is_not_content_but_its_digest_is() -> None:
    sha = "ab" * 32
    pinned = _spec(RANKER + f"artifact_sha256: {sha}\n")
    moved = pinned.model_copy(update={"artifact": "/elsewhere/model.onnx"})
    assert moved.content_digest() == pinned.content_digest()
    assert pinned.content()["artifact_sha256"] == sha
    assert pinned.content_digest() != _spec(RANKER).content_digest()


def test_differing_fields_names_dotted_paths() -> None:
    old = _spec(RANKER + "labels: {tier: gold}\ntriton: {parameters: {}}\n")
    new = _spec(
        RANKER.replace("owner_team: shop_ml", "owner_team: search_ml")
        .replace("gpu_memory_mb: 2048", "gpu_memory_mb: 4096")  # back to the default
        .replace("max_latency_p99_ms: 40", "max_latency_p99_ms: 40.0")  # the same number
        + "labels: {tier: gold, zone: eu}\ntriton: {max_batch_size: 8}\n"
    )
    assert differing_fields(old, new) == [
        "labels.zone",
        "owner_team",
        "resource_requirements.gpu_memory_mb",
        "triton.max_batch_size",
        "triton.parameters",
    ]
    assert differing_fields(new, old) == differing_fields(old, new)
    assert differing_fields(old, old) == []
