"""The `modelyard` command: parse, call the library, render, map errors to exit codes.

Exit codes: 0 ok; 1 validation errors; 2 bad input (manifest, flag, file); 3 not
found; 4 conflict (immutable version, stale alias); 5 capacity; 6 catalog database
unusable; 7 Triton refused; 8 rollout failed and rolled back; 9 not authorized; 70
internal error.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml

from modelyard.cli import render
from modelyard.deploy.plan import RolloutPlan
from modelyard.deploy.runner import DeployOptions, DeployResult
from modelyard.deploy.script import rollout_script
from modelyard.errors import InputError, ModelyardError, NotFound
from modelyard.report.graphs import render_svg, to_dot, to_mermaid
from modelyard.report.tree import TreeNode, read_tree
from modelyard.triton.config import PROFILES
from modelyard.workspace import Workspace

T = TypeVar("T")

app = typer.Typer(
    name="modelyard",
    help="The system of record and rollout engine for models on NVIDIA Triton.\n\n"
    "Exit codes: 0 ok, 1 validation errors, 2 bad input, 3 not found, 4 conflict, "
    "5 capacity, 6 catalog database unusable, 7 Triton error, 8 rollout failed, "
    "9 not authorized.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
alias_app = typer.Typer(
    help="Named pointers to versions (production, canary, ...), moved with compare-and-set.",
    no_args_is_help=True,
)
app.add_typer(alias_app, name="alias")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: the nearest "
        "modelyard.yaml at or above the current folder).",
        file_okay=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="MODELYARD_DB",
        help="Catalog database as a SQLAlchemy URL "
        "(default: the workspace's .modelyard/catalog.db).",
        show_envvar=True,
    ),
]
AliasOption = Annotated[
    str | None,
    typer.Option(
        "--alias",
        help="Select the versions this alias points to instead of the "
        "newest version of every model.",
    ),
]


def _run(
    as_json: bool, action: Callable[[], T], show: Callable[[T], None], to_data: Callable[[T], Any]
) -> T:
    """Call the library, render the result, and turn our errors into exit codes."""
    try:
        result = action()
    except ModelyardError as error:
        render.render_error(error, as_json)
        raise typer.Exit(error.exit_code) from None
    if as_json:
        render.print_json(to_data(result))
    else:
        show(result)
    return result


# Workspaces opened by the running command; closed when it ends, whichever way it ends,
# so that no database connection outlives the command.
_opened: list[Workspace] = []


@app.callback()
def _command_lifetime(context: typer.Context) -> None:
    context.call_on_close(_close_opened)


def _close_opened() -> None:
    while _opened:
        _opened.pop().close()


def _open(workspace: Path | None, db: str | None) -> Workspace:
    opened = Workspace.open(workspace, db_url=db)
    _opened.append(opened)
    return opened


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Folder for the workspace.", file_okay=False)] = Path(
        "."
    ),
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", file_okay=False, help="Same as PATH.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a workspace: modelyard.yaml and the catalog database (.modelyard/catalog.db).

    An existing modelyard.yaml is kept; an existing catalog is migrated, never emptied.
    """

    def action() -> Workspace:
        created = Workspace.init(workspace or path, db_url=db)
        created.close()
        return created

    _run(
        as_json,
        action,
        lambda ws: render.console.print(f"workspace ready at {ws.root} (catalog {ws.db_url})"),
        lambda ws: {"ok": True, "workspace": str(ws.root), "db": ws.db_url},
    )


@app.command()
def apply(
    paths: Annotated[
        list[Path], typer.Argument(help="Manifest files or folders (read recursively).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register every manifest given, in one transaction, in any order.

    Re-applying the same content changes nothing; a registered version with different
    content is refused (published versions are immutable).
    """

    def action() -> Any:
        ws = _open(workspace, db)
        with render.err_console.status("applying manifests...", spinner="dots"):
            return ws.apply(paths, dry_run=dry_run)

    _run(as_json, action, render.render_apply, lambda r: r.to_dict())


@app.command("list")
def list_models(
    domain: Annotated[str | None, typer.Option(help="Only this domain.")] = None,
    team: Annotated[str | None, typer.Option(help="Only models owned by this team.")] = None,
    framework: Annotated[str | None, typer.Option(help="Only this framework.")] = None,
    all_versions: Annotated[
        bool,
        typer.Option("--all-versions", help="Every version, not just the newest of each model."),
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List registered models (the newest version of each)."""
    _run(
        as_json,
        lambda: _open(workspace, db).list_models(
            domain=domain, team=team, framework=framework, all_versions=all_versions
        ),
        render.render_models,
        lambda specs: {
            "ok": True,
            "models": [{"ref": s.ref, "id": s.id, **s.model_dump(mode="json")} for s in specs],
        },
    )


@app.command()
def show(
    reference: Annotated[
        str, typer.Argument(metavar="ID[@VERSION]", help="domain/name, optionally @version.")
    ],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one model version: spec, versions, aliases, dependencies, dependents."""
    _run(
        as_json,
        lambda: _open(workspace, db).show(reference),
        render.render_show,
        lambda r: {"ok": True, **r.model_dump(mode="json")},
    )


@app.command()
def deps(
    reference: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every model version ID needs, directly or not: each once, dependencies first."""
    _run(
        as_json,
        lambda: _open(workspace, db).dependencies(reference),
        lambda refs: render.render_refs(f"{reference} depends on", refs),
        lambda refs: {"ok": True, "model": reference, "dependencies": refs},
    )


@app.command()
def impact(
    reference: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What breaks if ID goes away: every model that needs it, nearest first."""
    _run(
        as_json,
        lambda: _open(workspace, db).impact(reference),
        lambda refs: render.render_refs(f"needed by (directly or not) {reference}", refs),
        lambda refs: {"ok": True, "model": reference, "dependents": refs},
    )


@alias_app.command("set")
def alias_set(
    reference: Annotated[str, typer.Argument(metavar="ID", help="domain/name")],
    name: Annotated[str, typer.Argument(help="Alias name, e.g. production or canary.")],
    version: Annotated[str, typer.Argument(help="The version it should point to.")],
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="OLD",
            help="Only move it if it points to OLD now ('none': only if it does not exist yet).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point alias NAME of model ID at VERSION (compare-and-set with --expect)."""
    _run(
        as_json,
        lambda: _open(workspace, db).set_alias(reference, name, version, expect=expect),
        lambda a: render.render_aliases([a]),
        lambda a: {
            "ok": True,
            "model": a.model_id,
            "alias": a.name,
            "version": a.version,
            "revision": a.revision,
        },
    )


@alias_app.command("list")
def alias_list(
    reference: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List aliases (of one model, or of all)."""
    _run(
        as_json,
        lambda: _open(workspace, db).aliases(reference),
        render.render_aliases,
        lambda records: {
            "ok": True,
            "aliases": [
                {
                    "model": a.model_id,
                    "alias": a.name,
                    "version": a.version,
                    "revision": a.revision,
                    "updated_at": a.updated_at.isoformat(),
                }
                for a in records
            ],
        },
    )


@app.command()
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
    report = _run(
        as_json,
        lambda: _open(workspace, db).validate(strict=strict, alias=alias, live=live, target=target),
        render.render_validation,
        lambda r: r.to_dict(),
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def plan(
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
            help="With --target: write the rollout as a bash script using curl.",
        ),
    ] = None,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deployment order: waves, each model's dependencies and the critical path.

    With --target, what a deploy would do on that server, in dependency order.
    """
    if target is None:
        if script is not None:
            render.render_error(
                InputError("--script needs --target (the server to deploy to)"), as_json
            )
            raise typer.Exit(2)
        _run(
            as_json,
            lambda: _open(workspace, db).plan(alias=alias),
            render.render_plan,
            lambda p: p.to_dict(),
        )
        return

    def action() -> RolloutPlan:
        ws = _open(workspace, db)
        rollout = ws.rollout_plan(target, alias=alias)
        if script is not None:
            config = ws.target(target)
            compile_command = " ".join(
                shlex.quote(part)
                for part in [
                    sys.argv[0],
                    "compile",
                    "--out",
                    config.repository,
                    "--profile",
                    config.profile,
                    *(["--workspace", str(ws.root)] if ws.root else []),
                    *(["--alias", alias] if alias else []),
                ]
            )
            script.write_text(rollout_script(rollout, config.url, compile_command=compile_command))
            script.chmod(0o755)
        return rollout

    _run(as_json, action, render.render_rollout_plan, lambda p: p.to_dict())


@app.command()
def deploy(
    target: Annotated[
        str, typer.Option("--target", help="A target in modelyard.yaml, or local.")
    ] = "local",
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
    upgrade, smoke-tested, rolled back on any failure."""
    options = DeployOptions(
        concurrency=concurrency,
        load_timeout_s=load_timeout,
        ready_timeout_s=ready_timeout,
        wait_for_lease_s=wait,
    )
    if fleet:
        if profile not in PROFILES:
            render.render_error(
                InputError(f"--profile: {profile!r} is not one of {', '.join(PROFILES)}"), as_json
            )
            raise typer.Exit(2)
        _run(
            as_json,
            lambda: _open(workspace, db).deploy_fleet(
                alias=alias,
                profile=profile,  # type: ignore[arg-type]
                options=options,
            ),
            render.render_fleet_deploy,
            lambda results: {"ok": True, "servers": {k: r.to_dict() for k, r in results.items()}},
        )
        return

    def action() -> DeployResult:
        ws = _open(workspace, db)
        if not yes and sys.stdin.isatty() and not as_json:
            preview = ws.rollout_plan(target, alias=alias)
            render.render_rollout_plan(preview)
            if not preview.changes:
                raise typer.Exit(0)
            typer.confirm(f"deploy to {target}?", abort=True)
        if as_json:
            return ws.deploy(target, alias=alias, options=options)
        with render.DeployProgress() as progress:
            return ws.deploy(target, alias=alias, options=options, progress=progress.update)

    _run(as_json, action, render.render_deploy, lambda r: r.to_dict())


@app.command()
def history(
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deployments recorded in the catalog: who, when, where, what, outcome."""
    _run(
        as_json,
        lambda: _open(workspace, db).history(target, limit),
        render.render_history,
        lambda records: {"ok": True, "deployments": [r.to_dict() for r in records]},
    )


@app.command()
def status(
    target: Annotated[str, typer.Option("--target")] = "local",
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Desired against live on a target: what is served, what drifted, what failed last."""
    result = _run(
        as_json,
        lambda: _open(workspace, db).status(target, alias=alias),
        render.render_status,
        lambda r: r.model_dump(mode="json"),
    )
    if not result.in_sync:
        raise typer.Exit(1)


@app.command()
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
    _run(
        as_json,
        lambda: _open(workspace, db).undeploy(reference, target, cascade=cascade),
        lambda names: render.console.print("unloaded " + ", ".join(names)),
        lambda names: {"ok": True, "unloaded": names},
    )


@app.command()
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
        _run(
            as_json,
            lambda: _open(workspace, db).html_report(html, alias=alias, repository=repository),
            lambda path: render.console.print(f"report written to {path}"),
            lambda path: {"ok": True, "html": str(path)},
        )
        return
    _run(
        as_json,
        lambda: _open(workspace, db).report(alias=alias),
        render.render_report,
        lambda r: r.to_dict(),
    )


@app.command()
def graph(
    reference: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]",
            help="Only this model's neighbourhood (what it needs and what needs it).",
        ),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="dot, mermaid or svg.")] = "dot",
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The dependency graph as Graphviz DOT, Mermaid or SVG (arrows point to dependencies)."""
    if output_format not in ("dot", "mermaid", "svg"):
        render.render_error(
            InputError(f"--format: {output_format!r} is not dot, mermaid or svg"), as_json
        )
        raise typer.Exit(2)

    def action() -> str:
        view = _open(workspace, db).graph_view(reference, alias=alias)
        if output_format == "mermaid":
            return to_mermaid(view)
        dot = to_dot(view)
        return dot if output_format == "dot" else render_svg([dot])[0]

    _run(
        as_json,
        action,
        lambda text: render.print_text(text),
        lambda text: {"ok": True, "format": output_format, "graph": text},
    )


@app.command()
def tree(
    path: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]",
            help="A Triton repository (default: the local one, .modelyard/triton/repository).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A compiled Triton repository as a tree with sizes."""

    def action() -> TreeNode:
        folder = path
        if folder is None:
            ws = _open(workspace, None)
            folder = (ws.root or Path(".")) / ".modelyard" / "triton" / "repository"
        if not folder.exists():
            raise NotFound(
                f"{folder} does not exist; compile one with `modelyard compile --out DIR`"
            )
        return read_tree(folder)

    _run(as_json, action, render.render_tree, lambda node: {"ok": True, "tree": _tree_dict(node)})


def _tree_dict(node: TreeNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "size_bytes": node.size_bytes,
        "is_dir": node.is_dir,
        "children": [_tree_dict(child) for child in node.children],
    }


fleet_app = typer.Typer(help="The servers and GPUs models run on.", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")


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
        render.print_text(yaml.safe_dump([entry], sort_keys=False))
        if note:
            render.err_console.print(f"note: no GPUs listed: {note}")

    _run(
        as_json,
        lambda: detect_local_server(name, url),
        show,
        lambda found: {"ok": True, "server": found[0].model_dump(mode="json"), "note": found[1]},
    )


@app.command("place")
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
        ws = _open(workspace, db)
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

    placement, _ = _run(
        as_json,
        action,
        show,
        lambda r: {
            "ok": r[0].feasible,
            **r[0].to_dict(),
            **({"calibrated": r[1]} if calibrated else {}),
        },
    )
    if not placement.feasible:
        raise typer.Exit(5)


@app.command("compile")
def compile_repository(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The repository folder (kept as a link to complete generations)."
        ),
    ],
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
    if profile not in PROFILES:
        render.render_error(
            InputError(f"--profile: {profile!r} is not one of {', '.join(PROFILES)}"), as_json
        )
        raise typer.Exit(2)
    if per_server:
        _run(
            as_json,
            lambda: _open(workspace, db).compile_fleet(
                out,
                profile=profile,  # type: ignore[arg-type]
                alias=alias,
            ),
            render.render_fleet_compile,
            lambda results: {"ok": True, "servers": {k: r.to_dict() for k, r in results.items()}},
        )
        return
    result = _run(
        as_json,
        lambda: _open(workspace, db).compile(
            out,
            profile=profile,  # type: ignore[arg-type]
            alias=alias,
            check=check,
        ),
        render.render_compile,
        lambda r: r.to_dict(),
    )
    if check and not result.up_to_date:
        raise typer.Exit(1)


@app.command("import-triton")
def import_triton(
    repository: Annotated[
        Path, typer.Argument(help="An existing Triton model repository.", file_okay=False)
    ],
    domain: Annotated[str, typer.Option("--domain", help="Catalog domain for its models.")],
    owner_team: Annotated[str, typer.Option("--owner-team", help="Team that owns them.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be registered.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register every model of an existing Triton repository (config.pbtxt kept whole).

    Each numeric version folder becomes catalog version N.0 with the folder as its
    artifact; the whole config goes into the manifest's `triton` block, so compiling
    reproduces every field.
    """
    _run(
        as_json,
        lambda: _open(workspace, db).import_triton(
            repository, domain=domain, owner_team=owner_team, dry_run=dry_run
        ),
        render.render_apply,
        lambda r: r.to_dict(),
    )


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HTTP port.")] = 8000,
    grpc_port: Annotated[int, typer.Option(min=1, max=65535, help="gRPC port.")] = 8001,
    metrics_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Prometheus metrics port.")
    ] = 8002,
    load: Annotated[
        bool, typer.Option("--load/--no-load", help="Load every compiled model.")
    ] = True,
    alias: AliasOption = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a Triton server on this machine with the catalog (local profile) until Ctrl-C.

    Uses the tritonserver bundled in the nvidia-pytriton package, on CPU, in explicit
    model-control mode; the repository is compiled into .modelyard/triton/repository.
    """
    from modelyard.serving import serve_locally

    # SIGTERM (from a supervisor or `timeout`) stops the server as Ctrl-C does, at any
    # moment from here on, instead of leaving tritonserver running in its own session.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        serving = _run(
            as_json,
            lambda: serve_locally(
                _open(workspace, db),
                http_port=port,
                grpc_port=grpc_port,
                metrics_port=metrics_port,
                load=load,
                alias=alias,
            ),
            render.render_serving,
            lambda s: {
                "ok": True,
                "url": s.server.url,
                "grpc_port": s.server.grpc_port,
                "metrics_port": s.server.metrics_port,
                "loaded": s.loaded,
                "skipped": s.compiled.plan.skipped,
                "log": str(s.server.log_file),
            },
        )
    except KeyboardInterrupt:  # serve_locally already stopped what it had started
        render.err_console.print("interrupted; Triton stopped")
        raise typer.Exit(130) from None
    try:
        assert serving.server.process is not None
        serving.server.process.wait()
    except KeyboardInterrupt:
        render.err_console.print("stopping Triton...")
    finally:
        serving.stop()


def _raise_keyboard_interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: unexpected errors become one line and exit code 70."""
    try:
        app()
    except ModelyardError as error:  # raised outside _run, e.g. while opening
        render.render_error(error, "--json" in sys.argv)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        render.err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the outermost edge: one line, not a traceback
        if os.environ.get("MODELYARD_DEBUG"):
            raise
        internal = ModelyardError(
            f"internal error: {type(exc).__name__}: {exc} (set "
            "MODELYARD_DEBUG=1 for the traceback and report it)"
        )
        render.render_error(internal, "--json" in sys.argv)
        sys.exit(internal.exit_code)


# `modelyard perf` lives in its own module, which uses the helpers above.
from modelyard.cli import perf_cmd  # noqa: E402

app.command("perf")(perf_cmd.perf)
app.command("measurements")(perf_cmd.measurements)

# `modelyard server`, `token` and `audit` live in their own module (helpers above).
from modelyard.cli import server_cmd  # noqa: E402

server_cmd.register(app)

# `modelyard doctor` lives in its own module (helpers above).
from modelyard.cli import doctor_cmd  # noqa: E402

app.command("doctor")(doctor_cmd.doctor)
