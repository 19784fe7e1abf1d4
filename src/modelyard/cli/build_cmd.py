"""Build commands: validate, plan, report, fleet detect, place, compile."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli import render
from modelyard.cli.options import (
    AliasOption,
    CommandGroup,
    DbOption,
    JsonOption,
    RefsArgument,
    WorkspaceOption,
    is_remote,
    local_only,
    model_json,
    open_catalog,
    open_workspace,
    run,
)
from modelyard.errors import InputError

if TYPE_CHECKING:
    from modelyard.deploy.plan import RolloutPlan
    from modelyard.ops.build import CompileResult

commands = CommandGroup()


@commands.command()
def validate(
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Also check the latest measurements "
            "(modelyard perf): SLA misses, measured chains over "
            "budget, memory above the declaration.",
        ),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", help="With --live: only this target's measurements (default: any)."
        ),
    ] = None,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the catalog: dependencies, cycles, capacity, SLA budgets, naming.

    Exit code 1 when there are errors (with --strict, warnings count as errors).
    """
    report = run(
        as_json,
        lambda: open_catalog(workspace, db).validate(
            strict=strict, alias=alias, live=live, target=target
        ),
        render.render_validation,
        model_json,
    )
    if not report.ok:
        raise typer.Exit(1)


@commands.command()
def plan(
    refs: RefsArgument = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", help="Compare with what this target serves: load, reload, unload or keep."
        ),
    ] = None,
    script: Annotated[
        Path | None,
        typer.Option(
            "--script",
            metavar="FILE",
            dir_okay=False,
            help="With --target: write the rollout as a bash script using curl, with smoke "
            "tests and rollback; it refuses to run once the plan no longer holds.",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="With --target: the deploy's loads at once, for the estimate."
        ),
    ] = 4,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deployment order: waves, each model's dependencies and the critical path.

    With --target, what a deploy would do on that server, in dependency order, and how
    long its loads will take: scheduled as the deploy runs them, from the load times of
    earlier deployments there (a guess for a model never loaded there); with REF..., what
    a targeted deploy of those models would do (the others: keep).
    """
    if target is None:
        if script is not None or refs:
            what = "--script" if script is not None else "REF"
            render.render_error(
                InputError(f"{what} needs --target (the server to deploy to)"), as_json
            )
            raise typer.Exit(2)
        run(
            as_json,
            lambda: open_catalog(workspace, db).plan(alias=alias),
            render.render_plan,
            model_json,
        )
        return

    def action() -> RolloutPlan:
        ws = open_catalog(workspace, db)
        if script is None:
            return ws.rollout_plan(target, alias=alias, refs=refs, concurrency=concurrency)
        from modelyard.workspace import Workspace

        if not isinstance(ws, Workspace):
            raise local_only("--script FILE")
        compile_args = [
            "compile",
            "--target",
            target,
            "--expect-plan",
            "-",
            *(["--workspace", str(ws.root)] if ws.root else []),
            *(["--db", db] if db else []),
            *(["--alias", alias] if alias else []),
            *(refs or []),
        ]
        rollout, text = ws.export_script(
            target, alias=alias, refs=refs, modelyard=_cli_command(), compile_args=compile_args
        )
        script.write_text(text)
        script.chmod(0o755)
        return rollout

    run(as_json, action, render.render_rollout_plan, model_json)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise InputError(f"--expect-plan {path}: cannot read it ({exc.strerror or exc})") from exc


def _cli_command() -> list[str]:
    """How a script runs this CLI again: the `modelyard` program that runs now, else this
    Python with `-m modelyard.cli`."""
    program = Path(sys.argv[0])
    if program.name == "modelyard" and program.exists():
        return [str(program.absolute())]
    return [sys.executable, "-m", "modelyard.cli"]


@commands.command()
def report(
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="DIR",
            file_okay=False,
            help="Write a self-contained HTML report to "
            "DIR/index.html (graph, charts, SLA, fleet).",
        ),
    ] = None,
    repository: Annotated[
        Path | None,
        typer.Option(
            "--repository",
            help="A compiled Triton repository to show as a tree in the HTML report.",
        ),
    ] = None,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Structure by domain, resource usage by domain/framework/team, SLA statistics.

    With --html DIR, the same and more as one HTML page that opens from disk.
    """
    if html is not None:

        def html_report() -> Path:
            if is_remote():
                raise local_only("--html DIR")
            return open_workspace(workspace, db).html_report(
                html, alias=alias, repository=repository
            )

        run(
            as_json,
            html_report,
            lambda path: render.console.print(f"report written to {path}"),
            lambda path: {"ok": True, "html": str(path)},
        )
        return
    run(
        as_json,
        lambda: open_catalog(workspace, db).report(alias=alias),
        render.render_report,
        model_json,
    )


fleet_app = commands.group("fleet", "The servers and GPUs models run on.")


@fleet_app.command("detect")
def fleet_detect(
    name: Annotated[str | None, typer.Option(help="Server name (default: the host name).")] = None,
    url: Annotated[
        str, typer.Option(help="This server's Triton HTTP endpoint.")
    ] = "http://127.0.0.1:8000",
    as_json: JsonOption = False,
) -> None:
    """Describe this machine (GPUs through NVML, CPU cores, memory) as a fleet entry.

    Prints the YAML to paste under `fleet: servers:` in modelyard.yaml (or JSON).
    """
    from modelyard.fleet_detect import detect_local_server

    def show(found: tuple[Any, str | None]) -> None:
        server, note = found
        entry = server.model_dump(mode="json", exclude_none=True)
        import yaml  # only here: imported by every command's start otherwise

        render.print_text(yaml.safe_dump([entry], sort_keys=False))
        if note:
            render.err_console.print(f"note: no GPUs listed: {note}")

    run(
        as_json,
        lambda: detect_local_server(name, url),
        show,
        lambda found: {"ok": True, "server": found[0].model_dump(mode="json"), "note": found[1]},
    )


@commands.command("place")
def place_models(
    exact: Annotated[
        bool | None,
        typer.Option(
            "--exact/--first-fit",
            help="Solve for the "
            "fewest GPUs (MIP, HiGHS), or first-fit-decreasing; "
            "default: exact up to 40 replicas.",
        ),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds the exact solver may take; the best placement found is kept."
        ),
    ] = 10.0,
    calibrated: Annotated[
        bool,
        typer.Option(
            "--calibrated",
            help="Plan with the measured "
            "memory per instance (modelyard perf) where "
            "there is one, not the declared.",
        ),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", help="With --calibrated: only this target's measurements (default: any)."
        ),
    ] = None,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which server and GPU runs each model replica (first-fit-decreasing on the fleet).

    Exit code 5 when some replica does not fit; each is named with the resource and gap.
    """

    def action() -> tuple[Any, dict[str, Any]]:
        ws = open_workspace(workspace, db)
        placement = ws.place(
            alias=alias, exact=exact, time_limit_s=time_limit, calibrated=calibrated, target=target
        )
        return placement, ws.calibration(alias=alias, target=target) if calibrated else {}

    def show(result: tuple[Any, dict[str, Any]]) -> None:
        render.render_placement(result[0])
        for ref, change in result[1].items():
            figures = ", ".join(
                f"{key} {value['declared']:,} -> {value['measured']:,}"
                for key, value in change.items()
                if isinstance(value, dict)
            )
            render.console.print(f"calibrated {ref}: {figures} (measured on {change['target']})")

    placement, _ = run(
        as_json,
        action,
        show,
        lambda r: {
            "ok": r[0].feasible,
            **r[0].model_dump(mode="json"),
            **({"calibrated": r[1]} if calibrated else {}),
        },
    )
    if not placement.feasible:
        raise typer.Exit(5)


@commands.command("compile")
def compile_repository(
    refs: RefsArgument = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="The repository folder (kept as a link to complete generations)."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Instead of --out: write this target's repository as `deploy` would "
            "publish it (with REF...: those models, the others' files as they are).",
        ),
    ] = None,
    expect_plan: Annotated[
        Path | None,
        typer.Option(
            "--expect-plan",
            metavar="FILE",
            dir_okay=False,
            help="With --target: write nothing (exit 4, naming what changed) unless the "
            "rollout plan is still this one (`plan --target ... --json`; - reads stdin).",
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="production: native backends, KIND_GPU; local: "
            "the embedded CPU Triton (ONNX via onnxruntime)."
        ),
    ] = "production",
    alias: AliasOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 and list the differences when OUT is out of date.",
        ),
    ] = False,
    per_server: Annotated[
        bool,
        typer.Option(
            "--per-server",
            help="Place the selection on the fleet and write OUT/<server>/ for each server.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compile the catalog into a Triton model repository that Triton loads as it is."""
    from modelyard.deploy.plan import RolloutPlan
    from modelyard.triton.config import PROFILES

    problem = (
        "give either --out DIR or --target NAME"
        if (out is None) == (target is None)
        else "--expect-plan and REF need --target (the target whose repository to write)"
        if target is None and (expect_plan is not None or refs)
        else "--check and --per-server go with --out, not --target"
        if target is not None and (check or per_server)
        else None
    )
    if problem is not None:
        render.render_error(InputError(problem), as_json)
        raise typer.Exit(2)
    if target is not None:

        def for_target() -> CompileResult:
            expected = None
            if expect_plan is not None:
                source = "standard input" if str(expect_plan) == "-" else str(expect_plan)
                text = sys.stdin.read() if str(expect_plan) == "-" else _read(expect_plan)
                expected = RolloutPlan.from_json(text, f"--expect-plan {source}")
            return open_workspace(workspace, db).compile_target_repository(
                target, alias=alias, refs=refs, expected=expected
            )

        run(as_json, for_target, render.render_compile, model_json)
        return
    assert out is not None
    if profile not in PROFILES:
        render.render_error(
            InputError(f"--profile: {profile!r} is not one of {', '.join(PROFILES)}"), as_json
        )
        raise typer.Exit(2)
    if per_server:
        run(
            as_json,
            lambda: open_workspace(workspace, db).compile_fleet(
                out,
                profile=profile,  # type: ignore[arg-type]
                alias=alias,
            ),
            render.render_fleet_compile,
            lambda results: {
                "ok": True,
                "servers": {k: r.model_dump(mode="json") for k, r in results.items()},
            },
        )
        return
    result = run(
        as_json,
        lambda: open_workspace(workspace, db).compile(
            out,
            profile=profile,  # type: ignore[arg-type]
            alias=alias,
            check=check,
        ),
        render.render_compile,
        model_json,
    )
    if check and not result.up_to_date:
        raise typer.Exit(1)
