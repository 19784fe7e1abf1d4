"""Catalog commands: init, apply, list, show, deps, impact, alias, yank, unyank, deprecate,
undeprecate, graph, tree, import-triton, import-mlflow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli import render
from modelyard.cli.options import (
    AliasOption,
    CommandGroup,
    DbOption,
    JsonOption,
    WorkspaceOption,
    is_remote,
    local_only,
    model_json,
    open_catalog,
    open_workspace,
    run,
)
from modelyard.errors import InputError, NotFound

# `list` draws at most this many rows unless told otherwise: a screenful or two of a
# 10,000-model catalog (drawing all of them took seconds), with --json for the rest.
LIST_ROWS = 200

if TYPE_CHECKING:
    from modelyard.catalog.lifecycle import VersionStatus
    from modelyard.catalog.spec import ModelSpec
    from modelyard.ops.catalog import StatusChange
    from modelyard.ops.mlflow import MlflowImportResult
    from modelyard.report.tree import TreeNode
    from modelyard.store.store import AliasRecord
    from modelyard.workspace import Workspace

commands = CommandGroup()
alias_app = commands.group(
    "alias",
    "Named pointers to versions (production, canary, ...), moved with compare-and-set.",
)


@commands.command()
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
    from modelyard.workspace import Workspace

    def action() -> Workspace:
        if is_remote():
            raise local_only()
        created = Workspace.init(workspace or path, db_url=db)
        created.close()
        return created

    run(
        as_json,
        action,
        lambda ws: render.console.print(f"workspace ready at {ws.root} (catalog {ws.db_url})"),
        lambda ws: {"ok": True, "workspace": str(ws.root), "db": ws.db_url},
    )


@commands.command()
def apply(
    paths: Annotated[
        list[Path], typer.Argument(help="Manifest files or folders (read recursively).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    transfer_owner: Annotated[
        bool,
        typer.Option(
            "--transfer-owner",
            help="Let a new version name another owner_team than its model's: the model "
            "changes hands (audited). Without it such a version is refused.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register every manifest given, in one transaction, in any order.

    Re-applying the same content changes nothing; a registered version with different
    content is refused (published versions are immutable), and so is a model whose Triton
    name another model already has.
    """

    def action() -> Any:
        ws = open_catalog(workspace, db)
        with render.err_console.status("applying manifests...", spinner="dots"):
            return ws.apply(paths, dry_run=dry_run, transfer_owner=transfer_owner)

    run(as_json, action, render.render_apply, model_json)


@commands.command("list")
def list_models(
    domain: Annotated[str | None, typer.Option(help="Only this domain.")] = None,
    team: Annotated[str | None, typer.Option(help="Only models owned by this team.")] = None,
    framework: Annotated[str | None, typer.Option(help="Only this framework.")] = None,
    all_versions: Annotated[
        bool,
        typer.Option("--all-versions", help="Every version, not just the newest of each model."),
    ] = False,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            help="Only models with this label: KEY=VALUE, or KEY for any value (repeat: all).",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            min=0, help="Rows of the table at most (0: all); --json always lists every model."
        ),
    ] = LIST_ROWS,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List registered models (of each, the newest version not yanked), with their status
    (active, deprecated or yanked)."""
    from modelyard.catalog.lifecycle import ACTIVE

    def action() -> tuple[list[ModelSpec], dict[str, VersionStatus]]:
        ws = open_catalog(workspace, db)
        specs = ws.list_models(
            domain=domain,
            team=team,
            framework=framework,
            all_versions=all_versions,
            labels=label or (),
        )
        return specs, ws.version_statuses({s.id for s in specs})

    run(
        as_json,
        action,
        lambda listed: render.render_models(*listed, limit=limit),
        lambda listed: {
            "ok": True,
            "models": [_listed_json(s, listed[1].get(s.ref, ACTIVE)) for s in listed[0]],
        },
    )


def _listed_json(spec: ModelSpec, status: VersionStatus) -> dict[str, Any]:
    return {
        "ref": spec.ref,
        "id": spec.id,
        **spec.model_dump(mode="json"),
        "status": status.status,
        "status_reason": status.reason,
    }


@commands.command()
def show(
    reference: Annotated[
        str, typer.Argument(metavar="ID[@VERSION]", help="domain/name, optionally @version.")
    ],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one model version: spec, versions, aliases, dependencies, dependents."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).show(reference),
        render.render_show,
        lambda r: {"ok": True, **r.model_dump(mode="json")},
    )


@commands.command()
def deps(
    reference: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every model version ID needs, directly or not: each once, dependencies first."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).dependencies(reference),
        lambda refs: render.render_refs(f"{reference} depends on", refs),
        lambda refs: {"ok": True, "model": reference, "dependencies": refs},
    )


@commands.command()
def impact(
    reference: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What breaks if ID goes away: every model that needs it, nearest first."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).impact(reference),
        lambda refs: render.render_refs(f"needed by (directly or not) {reference}", refs),
        lambda refs: {"ok": True, "model": reference, "dependents": refs},
    )


@alias_app.command("set")
def alias_set(
    reference: Annotated[str | None, typer.Argument(metavar="ID", help="domain/name")] = None,
    name: Annotated[
        str | None, typer.Argument(help="Alias name, e.g. production or canary.")
    ] = None,
    version: Annotated[str | None, typer.Argument(help="The version it should point to.")] = None,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="OLD",
            help="Only move it if it points to OLD now ('none': only if it does not exist yet). "
            "A move away from OLD and back in between goes unnoticed: see --expect-revision.",
        ),
    ] = None,
    expect_revision: Annotated[
        int | None,
        typer.Option(
            "--expect-revision",
            metavar="N",
            help="Only move it if it is at revision N now (`alias list` shows it; every move "
            "raises it by one, so no move in between goes unnoticed).",
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="Many moves at once, all or none: YAML or JSON `{alias: {model: version}}`, "
            "a version may be `{version: V, expect: OLD}`.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point alias NAME of model ID at VERSION (compare-and-set with --expect or
    --expect-revision); or, with --from FILE, make every move the file lists in one
    transaction (one refused move: none is made)."""
    from modelyard.ops.catalog import AliasMove, alias_moves_from_file

    def moves() -> list[AliasMove]:
        given = [reference, name, version]
        if from_file is not None:
            if any(given) or expect or expect_revision:
                raise InputError(
                    "--from FILE: give the moves in the file only, not ID NAME VERSION"
                )
            return alias_moves_from_file(from_file)
        if not all(given):
            raise InputError("give ID NAME VERSION, or --from FILE")
        assert reference and name and version
        return [AliasMove(reference, name, version, expect, expect_revision)]

    run(
        as_json,
        lambda: open_catalog(workspace, db).set_aliases(moves()),
        render.render_aliases,
        lambda moved: {
            "ok": True,
            **_alias_json(moved[0]),
            **({"moved": [_alias_json(a) for a in moved]} if from_file is not None else {}),
        },
    )


def _alias_json(alias: AliasRecord) -> dict[str, Any]:
    return {
        "model": alias.model_id,
        "alias": alias.name,
        "version": alias.version,
        "revision": alias.revision,
    }


@alias_app.command("list")
def alias_list(
    reference: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List aliases (of one model, or of all)."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).aliases(reference),
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


VersionArgument = Annotated[
    str, typer.Argument(metavar="ID@VERSION", help="domain/name@version, e.g. search/parser@1.6.")
]
ReasonOption = Annotated[
    str,
    typer.Option("--reason", help="Why, in one line; shown by list, show, validate and errors."),
]


def _status_json(change: StatusChange) -> dict[str, Any]:
    return {"ok": True, **change.model_dump(mode="json")}


@commands.command()
def yank(
    reference: VersionArgument,
    reason: ReasonOption,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Yank it even though an alias points at it; selections through that "
            "alias then fail until it is moved.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Withdraw a version: it stays in the catalog and its history, but no selection,
    dependency constraint or alias chooses it again (`unyank` undoes it)."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).yank(reference, reason, force=force),
        render.render_status_change,
        _status_json,
    )


@commands.command()
def unyank(
    reference: VersionArgument,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a yanked version choosable again (a deprecation stays as it was)."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).unyank(reference),
        render.render_status_change,
        _status_json,
    )


@commands.command()
def deprecate(
    reference: VersionArgument,
    reason: ReasonOption,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Discourage a version: it is still chosen, and `validate` warns wherever it is."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).deprecate(reference, reason),
        render.render_status_change,
        _status_json,
    )


@commands.command()
def undeprecate(
    reference: VersionArgument,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Clear a version's deprecation."""
    run(
        as_json,
        lambda: open_catalog(workspace, db).undeprecate(reference),
        render.render_status_change,
        _status_json,
    )


@commands.command()
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
    from modelyard.report.graphs import render_svg, to_dot, to_mermaid

    if output_format not in ("dot", "mermaid", "svg"):
        render.render_error(
            InputError(f"--format: {output_format!r} is not dot, mermaid or svg"), as_json
        )
        raise typer.Exit(2)

    def action() -> str:
        view = open_workspace(workspace, db).graph_view(reference, alias=alias)
        if output_format == "mermaid":
            return to_mermaid(view)
        dot = to_dot(view)
        return dot if output_format == "dot" else render_svg([dot])[0]

    run(
        as_json,
        action,
        lambda text: render.print_text(text),
        lambda text: {"ok": True, "format": output_format, "graph": text},
    )


@commands.command()
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
    from modelyard.report.tree import read_tree

    def action() -> TreeNode:
        folder = path
        if folder is None:
            ws = open_workspace(workspace, None)
            folder = (ws.root or Path(".")) / ".modelyard" / "triton" / "repository"
        if not folder.exists():
            raise NotFound(
                f"{folder} does not exist; compile one with `modelyard compile --out DIR`"
            )
        return read_tree(folder)

    run(as_json, action, render.render_tree, lambda node: {"ok": True, "tree": _tree_dict(node)})


def _tree_dict(node: TreeNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "size_bytes": node.size_bytes,
        "is_dir": node.is_dir,
        "children": [_tree_dict(child) for child in node.children],
    }


@commands.command("import-triton")
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
    run(
        as_json,
        lambda: open_workspace(workspace, db).import_triton(
            repository, domain=domain, owner_team=owner_team, dry_run=dry_run
        ),
        render.render_apply,
        model_json,
    )


@commands.command("import-mlflow")
def import_mlflow(
    tracking_uri: Annotated[
        str,
        typer.Option(
            "--tracking-uri", help="The MLflow tracking server, e.g. http://127.0.0.1:5000."
        ),
    ],
    domain: Annotated[
        str, typer.Option("--domain", help="Catalog domain (unless a modelyard.domain tag).")
    ],
    owner_team: Annotated[str, typer.Option("--owner-team", help="Team that owns them.")],
    name_filter: Annotated[
        str | None,
        typer.Option("--name-filter", help="Only MLflow models whose name matches this glob."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be registered and moved.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an MLflow Model Registry's models, versions, tags and aliases; re-run to sync.

    MLflow version N becomes catalog version N.0 with its artifacts downloaded into
    .modelyard/artifacts/mlflow/ (content-addressed); fields come from modelyard.* tags,
    and each one left to a default is listed. MLflow aliases move modelyard's aliases of
    the same name by compare-and-set. One transaction: on error nothing is registered.
    """
    run(
        as_json,
        lambda: open_workspace(workspace, db).import_mlflow(
            tracking_uri,
            domain=domain,
            owner_team=owner_team,
            name_filter=name_filter,
            dry_run=dry_run,
        ),
        _render_mlflow_import,
        model_json,
    )


def _render_mlflow_import(result: MlflowImportResult) -> None:
    from rich.text import Text

    console = render.console
    marks = {"created": ("+ ", "green"), "unchanged": ("= ", "dim"), "kept": ("~ ", "yellow")}
    for version in result.versions:
        mark, style = marks[version.status]
        line = Text(mark, style=style) + Text(
            render.safe(f"{version.ref}  (MLflow {version.mlflow_model} v{version.mlflow_version})")
        )
        if version.status == "kept":
            line += Text(
                render.safe(f"  kept as registered; MLflow changed {', '.join(version.differing)}")
            )
        console.print(line)
        if version.status == "created" and version.defaulted:
            console.print(
                Text(render.safe(f"    defaulted: {', '.join(version.defaulted)}"), style="dim")
            )
    for alias in result.aliases:
        if alias.status != "unchanged":
            before = alias.previous or "none"
            console.print(
                Text("> ", style="cyan")
                + Text(
                    render.safe(
                        f"{alias.model_id} alias {alias.alias}: {before} -> {alias.version}"
                    )
                )
            )
    for note in result.skipped:
        console.print(Text(render.safe(f"skipped: {note}"), style="yellow"))
    counts = {s: sum(v.status == s for v in result.versions) for s in marks}
    moved = sum(a.status != "unchanged" for a in result.aliases)
    verb = "would register" if result.dry_run else "registered"
    console.print(
        f"{verb} {counts['created']} new version(s); {counts['unchanged']} unchanged; "
        f"{counts['kept']} kept; {moved} alias(es) {'to move' if result.dry_run else 'moved'}"
    )
