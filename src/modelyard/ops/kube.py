"""Export use case: the selection's placement as Kubernetes objects, written into a folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from modelyard.errors import CapacityError, InputError, NotFound
from modelyard.kube import files as kube_files
from modelyard.kube.defaults import (
    DEFAULT_GATEWAY_IMAGE,
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_NAMESPACE,
    DEFAULT_S3_SECRET,
    DEFAULT_TRITON_IMAGE,
)
from modelyard.kube.manifests import (
    FORMATS,
    KubeModel,
    KubeOptions,
    check_kubernetes_version,
    file_name,
    layout,
    parse_s3_url,
    render_manifests,
)
from modelyard.ops.build import Build, place_view
from modelyard.ops.context import Context, paused_gc


class KubeGroupSummary(BaseModel):
    """One Triton Deployment (or InferenceService): its servers, pods and what they load."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    servers: list[str]
    replicas: int
    gpus: int
    memory_mb: int
    cpu_cores: float
    node_selector: dict[str, str]
    models: list[str]
    repository: str


class KubeExportResult(BaseModel):
    """What `export kubernetes` wrote into `out`, left as it was, and removed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    out: str
    format: str
    kubernetes_version: str
    namespace: str
    files: list[str]
    written: list[str]
    unchanged: list[str]
    removed: list[str]
    groups: list[KubeGroupSummary]
    notes: list[str]


def export_kubernetes(
    ctx: Context,
    out: str | Path,
    *,
    alias: str | None = None,
    repository: str | None = None,
    target: str | None = None,
    format: str = "kubernetes",
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    namespace: str = DEFAULT_NAMESPACE,
    s3_secret: str = DEFAULT_S3_SECRET,
    triton_image: str = DEFAULT_TRITON_IMAGE,
    gateway_image: str = DEFAULT_GATEWAY_IMAGE,
    calibrated: bool = False,
) -> KubeExportResult:
    """Render the placement `modelyard place` computes for the selection as Kubernetes
    objects (`format` kubernetes: Deployments, Services, PodDisruptionBudgets, the
    gateway; kserve: InferenceServices) and write one YAML file each into `out`.

    The repository the pods read is `repository` (an s3:// URL), else the S3 repository
    of `target` in modelyard.yaml. Re-running on an unchanged catalog writes nothing.

    Raises:
        InputError: a bad flag, `out` not a folder, no S3 repository; nothing was written.
        NotFound: an unknown alias or target.
        CapacityError: the fleet cannot hold the selection.
        ValidationFailed: the selection does not compile.
    """
    if format not in FORMATS:
        raise InputError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    version = check_kubernetes_version(kubernetes_version)
    location = parse_s3_url(_repository_url(ctx, repository, target))
    options = KubeOptions(
        repository=location,
        namespace=namespace,
        kubernetes_version=version,
        format=format,  # type: ignore[arg-type]
        s3_secret=s3_secret,
        triton_image=triton_image,
        gateway_image=gateway_image,
    )
    folder = Path(out)
    kube_files.check_out(folder)  # a bad --out is said first, whatever the catalog holds
    build = Build(ctx, alias)
    fleet = ctx.require_fleet("export kubernetes")
    with paused_gc():
        # The placement `modelyard place` shows (with --calibrated: on measured memory).
        placement = place_view(ctx, build.view, calibrated=calibrated)
        if not placement.feasible:
            raise CapacityError(
                "the fleet cannot hold the selection; nothing was written:\n  "
                + "\n  ".join(str(s) for s in placement.unplaced)
            )
        compiled = build.compiled("production", "cannot export")
    models = {
        model_id: KubeModel(
            model.triton_name,
            max(
                spec.sla_requirements.availability
                for spec in build.view.specs.values()
                if spec.id == model_id
            ),
        )
        for model_id, model in compiled.models.items()
    }
    objects = render_manifests(placement, fleet, models, options)
    plan = layout(placement, fleet, models)
    texts = {file_name(obj): kube_files.to_yaml(obj) for obj in objects}
    result = kube_files.write_objects(
        folder,
        texts,
        {"format": format, "kubernetes_version": version, "namespace": namespace},
    )
    return KubeExportResult(
        ok=True,
        out=str(folder),
        format=format,
        kubernetes_version=version,
        namespace=namespace,
        files=sorted(texts),
        written=result.written,
        unchanged=result.unchanged,
        removed=result.removed,
        groups=[
            KubeGroupSummary(
                name=g.name,
                servers=list(g.servers),
                replicas=g.replicas,
                gpus=g.gpus,
                memory_mb=g.memory_mb,
                cpu_cores=g.cpu_cores,
                node_selector=g.node_selector,
                models=list(g.models),
                repository=location.url(g.servers[0]),
            )
            for g in plan.groups
        ],
        notes=list(plan.notes),
    )


def _repository_url(ctx: Context, repository: str | None, target: str | None) -> str:
    if repository is not None:
        return repository
    if target is None:
        raise InputError(
            "export kubernetes needs the S3 repository Triton in the cluster reads: "
            "--repository s3://bucket/path (or --target NAME of an S3 target)"
        )
    config = ctx.config.targets.get(target)
    if config is None:
        known = ", ".join(sorted(ctx.config.targets)) or "none"
        raise NotFound(f"no target {target!r} in modelyard.yaml (known: {known})")
    if not config.repository.startswith("s3://"):
        raise InputError(
            f"target {target!r}: its repository {config.repository!r} is a folder, which a "
            "cluster cannot read; give --repository s3://bucket/path"
        )
    return config.repository
