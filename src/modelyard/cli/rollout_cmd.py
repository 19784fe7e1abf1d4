"""Rollout commands: deploy, history, status, undeploy, serve."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from modelyard.cli import render
from modelyard.cli.options import (
    AliasOption,
    CommandGroup,
    DbOption,
    JsonOption,
    RefsArgument,
    WorkspaceOption,
    model_json,
    open_catalog,
    open_workspace,
    run,
)
from modelyard.errors import InputError, TritonError

if TYPE_CHECKING:
    from pathlib import Path

    from modelyard.deploy.runner import DeployOptions, DeployResult, Progress
    from modelyard.ops.canary import RolloutList
    from modelyard.ops.regions import RegionDeployResult
    from modelyard.store.history import DeploymentRecord

_T = TypeVar("_T")

commands = CommandGroup()


@commands.command()
def deploy(
    refs: RefsArgument = None,
    target: Annotated[
        str | None, typer.Option("--target", help="A target in modelyard.yaml, or local.")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="Every target of this region of modelyard.yaml, in its order; the first "
            "failure stops the rest (exit code: that target's).",
        ),
    ] = None,
    alias: AliasOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Loads at once.")] = 4,
    load_timeout: Annotated[float, typer.Option(min=1, help="Seconds one load may take.")] = 300,
    ready_timeout: Annotated[float, typer.Option(min=1, help="Seconds to become READY.")] = 60,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0, help="Seconds to wait for another deployment to this target to finish."
        ),
    ] = 0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    fleet: Annotated[
        bool,
        typer.Option(
            "--fleet",
            help="Place the selection on the fleet and "
            "deploy each server's share to it (servers need url "
            "and repository in modelyard.yaml).",
        ),
    ] = False,
    profile: Annotated[str, typer.Option(help="With --fleet: production or local.")] = "production",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll the selection out to a live Triton: dependencies first, no model offline during an
    upgrade, smoke-tested, rolled back on any failure.

    With REF..., only the named models and what they need change; the plan shows every
    other model on the target as keep (its files untouched, not reloaded, not unloaded).
    """
    from modelyard.deploy.runner import DeployOptions
    from modelyard.triton.config import PROFILES

    options = DeployOptions(
        concurrency=concurrency,
        load_timeout_s=load_timeout,
        ready_timeout_s=ready_timeout,
        wait_for_lease_s=wait,
    )
    if region is not None:
        if target is not None or fleet:
            render.render_error(
                InputError("--region deploys the region's targets; give no --target or --fleet"),
                as_json,
            )
            raise typer.Exit(2)
        _deploy_region(
            region, refs, alias, options, yes=yes, workspace=workspace, db=db, as_json=as_json
        )
        return
    target = target or "local"
    if fleet:
        if refs:
            render.render_error(
                InputError("--fleet deploys the whole selection; give no REF with it"), as_json
            )
            raise typer.Exit(2)
        if profile not in PROFILES:
            render.render_error(
                InputError(f"--profile: {profile!r} is not one of {', '.join(PROFILES)}"), as_json
            )
            raise typer.Exit(2)
        run(
            as_json,
            lambda: open_workspace(workspace, db).deploy_fleet(
                alias=alias,
                profile=profile,  # type: ignore[arg-type]
                options=options,
            ),
            render.render_fleet_deploy,
            lambda results: {
                "ok": True,
                "servers": {k: r.model_dump(mode="json") for k, r in results.items()},
            },
        )
        return

    def action() -> DeployResult:
        ws = open_catalog(workspace, db)  # with a server: a deploy job there, followed
        confirmed = None  # the digest of the plan confirmed: the deploy runs that one only
        if not yes and sys.stdin.isatty() and not as_json:
            preview = ws.rollout_plan(target, alias=alias, refs=refs, concurrency=concurrency)
            render.render_rollout_plan(preview)
            if not preview.changes:
                raise typer.Exit(0)
            typer.confirm(f"deploy to {target}?", abort=True)
            confirmed = preview.digest
        return _with_progress(
            as_json,
            lambda progress: ws.deploy(
                target,
                alias=alias,
                refs=refs,
                expect_digest=confirmed,
                options=options,
                progress=progress,
            ),
        )

    run(as_json, action, render.render_deploy, model_json)


def _with_progress(as_json: bool, deploy: Callable[[Progress | None], _T]) -> _T:
    """`deploy(progress)` with a progress display on the terminal; none under --json,
    whose output is the result alone."""
    if as_json:
        return deploy(None)
    with render.DeployProgress() as progress:
        return deploy(progress.update)


def _deploy_region(
    region: str,
    refs: list[str] | None,
    alias: str | None,
    options: DeployOptions,
    *,
    yes: bool,
    workspace: Path | None,
    db: str | None,
    as_json: bool,
) -> None:
    """`deploy --region`: each target's plan shown and the region confirmed once (on a
    terminal, without --yes), then the region's targets deployed in order."""

    def action() -> RegionDeployResult:
        ws = open_workspace(workspace, db)
        confirmed: dict[str, str] | None = None
        if not yes and sys.stdin.isatty() and not as_json:
            confirmed = {}
            for target in ws.region_targets(region):
                preview = ws.rollout_plan(
                    target, alias=alias, refs=refs, concurrency=options.concurrency
                )
                render.render_rollout_plan(preview)
                confirmed[target] = preview.digest
            typer.confirm(f"deploy to region {region} ({', '.join(confirmed)})?", abort=True)
        return _with_progress(
            as_json,
            lambda progress: ws.deploy_region(
                region,
                alias=alias,
                refs=refs,
                expect_digests=confirmed,
                options=options,
                progress=progress,
            ),
        )

    run(as_json, action, render.render_region_deploy, model_json)


@commands.command()
def history(
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deployments recorded in the catalog: who, when, where, what, outcome; then the
    canary rollouts with each of their steps."""

    def action() -> tuple[list[DeploymentRecord], RolloutList]:
        opened = open_catalog(workspace, db)
        return opened.history(target, limit), opened.rollout_status(target=target, limit=limit)

    def show(found: tuple[list[DeploymentRecord], RolloutList]) -> None:
        render.render_history(found[0])
        for status in found[1].rollouts:
            r = status.rollout
            state = "interrupted" if status.interrupted else r.state
            render.console.print(
                f"rollout {r.id} {r.started_at:%Y-%m-%d %H:%M} {r.model} on {r.target}: "
                f"{r.baseline} -> {r.candidate} {state} at step {r.step} ({r.weight} %)",
                soft_wrap=True,
            )
            for e in status.events:
                outcome = f" {e.outcome}" if e.outcome else ""
                render.console.print(
                    f"  step {e.step} {e.weight}% {e.kind}{outcome}"
                    + (f": {e.reason}" if e.reason else ""),
                    soft_wrap=True,
                )

    run(
        as_json,
        action,
        show,
        lambda found: {
            "ok": True,
            "deployments": [r.model_dump(mode="json") for r in found[0]],
            "rollouts": model_json(found[1])["rollouts"],
        },
    )


@commands.command()
def status(
    target: Annotated[str | None, typer.Option("--target")] = None,
    all_regions: Annotated[
        bool,
        typer.Option(
            "--all-regions",
            help="Every region of modelyard.yaml: the digests each target serves against "
            "the catalog's selection, and where regions differ.",
        ),
    ] = False,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Desired against live on a target: what is served, what drifted, what failed last.
    Exits 1 when anything drifted."""
    if all_regions:
        if target is not None:
            render.render_error(
                InputError("--all-regions reads every region's targets; give no --target"),
                as_json,
            )
            raise typer.Exit(2)
        regional = run(
            as_json,
            lambda: open_workspace(workspace, db).regions_status(alias=alias),
            render.render_regions_status,
            model_json,
        )
        if not regional.in_sync:
            raise typer.Exit(1)
        return
    target = target or "local"
    result = run(
        as_json,
        lambda: open_catalog(workspace, db).status(target, alias=alias),
        render.render_status,
        model_json,
    )
    if not result.in_sync:
        raise typer.Exit(1)


@commands.command()
def undeploy(
    reference: Annotated[str, typer.Argument(metavar="ID")],
    target: Annotated[str, typer.Option("--target")] = "local",
    cascade: Annotated[
        bool, typer.Option("--cascade", help="Unload the live models that need it first.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Unload a model from a target; refused while live models depend on it (see --cascade)."""
    run(
        as_json,
        lambda: open_workspace(workspace, db).undeploy(reference, target, cascade=cascade),
        lambda names: render.console.print("unloaded " + ", ".join(names)),
        lambda names: {"ok": True, "unloaded": names},
    )


@commands.command()
def serve(
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="HTTP port (default: the `local` target's in modelyard.yaml, else 8000).",
        ),
    ] = None,
    grpc_port: Annotated[int, typer.Option(min=1, max=65535, help="gRPC port.")] = 8001,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Prometheus metrics port (default: the `local` target's, else 8002).",
        ),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load/--no-load", help="Load every compiled model.")
    ] = True,
    alias: AliasOption = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop and exit 7 if any model fails to load (default: serve the rest)."
        ),
    ] = False,
    load_threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Triton's --model-load-thread-count: models loaded at once (default: the "
            "`local` target's `load_threads`, else 8).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a Triton server on this machine with the catalog (local profile) until Ctrl-C.

    Uses the tritonserver bundled in the nvidia-pytriton package, on CPU, in explicit
    model-control mode; the repository is compiled into .modelyard/triton/repository.
    Where it listens is recorded, so that `deploy`, `status` and `perf` reach it as the
    `local` target without flags.
    """
    # SIGTERM (from a supervisor or `timeout`) stops the server as Ctrl-C does, at any
    # moment from here on, instead of leaving tritonserver running in its own session.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        serving = run(
            as_json,
            lambda: open_workspace(workspace, db).serve_locally(
                http_port=port,
                grpc_port=grpc_port,
                metrics_port=metrics_port,
                load=load,
                alias=alias,
                strict=strict,
                load_threads=load_threads,
            ),
            render.render_serving,
            lambda s: {
                "ok": True,
                "url": s.server.url,
                "grpc_port": s.server.grpc_port,
                "metrics_port": s.server.metrics_port,
                "loaded": s.loaded,
                "failed": s.failed,
                "skipped": s.compiled.plan.skipped,
                "log": str(s.server.log_file),
            },
        )
    except KeyboardInterrupt:  # serve_locally already stopped what it had started
        render.err_console.print("interrupted; Triton stopped")
        raise typer.Exit(130) from None
    try:
        assert serving.server.process is not None
        code = serving.server.process.wait()
    except KeyboardInterrupt:
        render.err_console.print("stopping Triton...")
        return
    finally:
        serving.stop()
    # Triton ended by itself (killed, crashed): a supervisor must see a failure.
    render.render_error(
        TritonError(
            f"tritonserver exited with code {code} while serving; see {serving.server.log_file}"
        ),
        as_json,
    )
    raise typer.Exit(TritonError.exit_code)


def _raise_keyboard_interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt
