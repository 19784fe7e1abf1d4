"""Export commands: the placed fleet as Kubernetes objects."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli import render
from modelyard.cli.options import (
    AliasOption,
    CommandGroup,
    DbOption,
    JsonOption,
    WorkspaceOption,
    model_json,
    open_workspace,
    run,
)
from modelyard.kube.defaults import (
    DEFAULT_GATEWAY_IMAGE,
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_NAMESPACE,
    DEFAULT_S3_SECRET,
    DEFAULT_TRITON_IMAGE,
)

if TYPE_CHECKING:
    from modelyard.ops.kube import KubeExportResult

commands = CommandGroup()
export_app = commands.group("export", "Write the catalog's fleet for other systems to run.")


@export_app.command("kubernetes")
def export_kubernetes(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The folder for the YAML files (one object each).",
            show_default=False,
        ),
    ],
    repository: Annotated[
        str | None,
        typer.Option(
            "--repository",
            metavar="S3_URL",
            help="s3://bucket/path (or s3://host:port/bucket/path) holding "
            "`compile --per-server` output; each group reads <path>/<server>/.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Instead of --repository: this S3 target's repository."),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="kubernetes: Deployments, Services, PodDisruptionBudgets and the gateway; "
            "kserve: a KServe InferenceService (Triton runtime) per server group.",
        ),
    ] = "kubernetes",
    kubernetes_version: Annotated[
        str, typer.Option("--kubernetes-version", help="The cluster's version (1.25 to 1.37).")
    ] = DEFAULT_KUBERNETES_VERSION,
    namespace: Annotated[str, typer.Option(help="The namespace of every object.")] = (
        DEFAULT_NAMESPACE
    ),
    s3_secret: Annotated[
        str,
        typer.Option(
            "--s3-secret",
            help="The Secret holding AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
            "(and AWS_DEFAULT_REGION).",
        ),
    ] = DEFAULT_S3_SECRET,
    triton_image: Annotated[str, typer.Option("--triton-image")] = DEFAULT_TRITON_IMAGE,
    gateway_image: Annotated[str, typer.Option("--gateway-image")] = DEFAULT_GATEWAY_IMAGE,
    calibrated: Annotated[
        bool,
        typer.Option(
            "--calibrated",
            help="Place and size pods with the measured memory (modelyard perf) where known.",
        ),
    ] = False,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render the placement (`modelyard place`) as Kubernetes objects in OUT.

    One YAML file per object; a re-run on an unchanged catalog writes nothing, and files
    an earlier export wrote that are no longer needed are removed (listed in
    OUT/.modelyard-export.json; other files in OUT are left alone).
    """
    run(
        as_json,
        lambda: open_workspace(workspace, db).export_kubernetes(
            out,
            alias=alias,
            repository=repository,
            target=target,
            format=format,
            kubernetes_version=kubernetes_version,
            namespace=namespace,
            s3_secret=s3_secret,
            triton_image=triton_image,
            gateway_image=gateway_image,
            calibrated=calibrated,
        ),
        _show,
        model_json,
    )


def _show(result: KubeExportResult) -> None:
    for group in result.groups:
        selector = ", ".join(f"{k}={v}" for k, v in group.node_selector.items()) or "any node"
        render.print_text(
            f"{group.name}: {group.replicas} pod(s) ({', '.join(group.servers)}), "
            f"{group.gpus} GPU(s), {group.memory_mb:,} MiB, on {selector}; "
            f"loads {', '.join(group.models)}\n"
        )
    for note in result.notes:
        render.print_text(f"note: {note}\n")
    changes = (
        f"{len(result.written)} written, {len(result.unchanged)} unchanged, "
        f"{len(result.removed)} removed"
    )
    render.print_text(
        f"{len(result.files)} objects for Kubernetes {result.kubernetes_version} "
        f"({result.format}) in {result.out}: {changes}\n"
    )
