"""What the catalog knows about one model version beyond its manifest: its measurements
judged against the SLA it declares now, and the deployments that touched it. The model
page of the dashboard shows it next to the spec."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.spec import ModelSpec, TensorSpec
from modelyard.errors import ModelyardError
from modelyard.ops.build import latest_measurements
from modelyard.ops.context import Context
from modelyard.ops.rollout import history
from modelyard.perf.figures import MemoryDrift, SlaCheck
from modelyard.perf.findings import sla_checks
from modelyard.triton.onnx_io import read_onnx_io

# Deployments read to find the ones that touched a model: the page shows the newest of
# these, so an old deployment of a rarely changed model can fall out of the window.
DEPLOYMENTS_SCANNED = 200
DEPLOYMENTS_SHOWN = 20


class ModelDeployment(BaseModel):
    """One deployment as it concerns one model: what it did to it and how that ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: int
    target: str
    started_at: datetime
    outcome: str  # the whole deployment's
    action: str  # this model's
    status: str
    error: str | None


class ModelFacts(BaseModel):
    """Measurements and deployments of one model version (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measured_at: datetime | None
    measured_on: str | None
    sla: list[SlaCheck]
    memory_measured_at: datetime | None
    memory: MemoryDrift | None
    deployments: list[ModelDeployment]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    # Where the tensors come from: "manifest", "artifact" (an ONNX file's graph, as
    # compile reads it), or why they could not be read.
    tensors_from: str


def model_facts(ctx: Context, spec: ModelSpec) -> ModelFacts:
    """The newest perf and memory measurement of exactly this version (on any target; the
    verdicts use today's SLA), and the newest deployments whose actions name its Triton model."""
    perf = latest_measurements(ctx, "perf", [spec]).get(spec.ref)
    memory = latest_measurements(ctx, "memory", [spec]).get(spec.ref)
    deployments: list[ModelDeployment] = []
    for record in history(ctx, limit=DEPLOYMENTS_SCANNED):
        for action in record.actions:
            if action.get("model") != spec.triton_name:
                continue
            deployments.append(
                ModelDeployment(
                    deployment=record.id,
                    target=record.target,
                    started_at=record.started_at,
                    outcome=record.outcome,
                    action=str(action.get("action", "")),
                    status=str(action.get("status", "")),
                    error=action.get("error"),
                )
            )
        if len(deployments) >= DEPLOYMENTS_SHOWN:
            break
    inputs, outputs, tensors_from = _tensors(spec)
    return ModelFacts(
        measured_at=perf.measured_at if perf else None,
        measured_on=perf.target if perf else None,
        sla=sla_checks(spec, perf) if perf else [],
        memory_measured_at=memory.measured_at if memory else None,
        memory=MemoryDrift.from_dict(memory.summary) if memory else None,
        deployments=deployments[:DEPLOYMENTS_SHOWN],
        inputs=inputs,
        outputs=outputs,
        tensors_from=tensors_from,
    )


def _tensors(spec: ModelSpec) -> tuple[list[TensorSpec], list[TensorSpec], str]:
    """The manifest's tensors; where it declares none, a local ONNX artifact's, as the
    compiler reads them (an object on S3 is not fetched for a page)."""
    local_onnx = spec.framework == "onnx" and spec.artifact and "://" not in spec.artifact
    if spec.inputs or spec.outputs or not local_onnx:
        return list(spec.inputs), list(spec.outputs), "manifest"
    assert spec.artifact is not None
    file_name = str(spec.triton.get("default_model_filename") or "model.onnx")
    try:
        inputs, outputs = read_onnx_io(
            Path(spec.artifact), spec.resource_requirements.max_batch_size, file_name
        )
    except ModelyardError as exc:
        return [], [], f"not readable: {exc.message}"
    return inputs, outputs, "artifact"
