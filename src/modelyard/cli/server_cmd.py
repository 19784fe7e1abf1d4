"""`modelyard server`, `modelyard token create|list|revoke`, `modelyard webhook
add|list|remove|deliveries` and `modelyard audit`."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli import render
from modelyard.cli.options import (
    DbOption,
    JsonOption,
    WorkspaceOption,
    named_group,
    open_workspace,
    run,
)
from modelyard.defaults import DEFAULT_MAX_BODY_MB, ROLES
from modelyard.errors import InputError

if TYPE_CHECKING:
    from modelyard.store.access import ApiToken, AuditEntry
    from modelyard.store.webhooks import Delivery, Webhook

token_app = named_group(
    typer.Typer(
        help="API tokens for `modelyard server` (the catalog keeps only their SHA-256).",
        no_args_is_help=True,
    )
)


webhook_app = named_group(
    typer.Typer(
        help="Signed webhooks: `modelyard server` POSTs catalog events to them. Events made "
        "while no server runs wait in the catalog's outbox until one does.",
        no_args_is_help=True,
    )
)


def register(app: typer.Typer) -> None:
    """Add these commands to the `modelyard` application."""
    app.add_typer(token_app, name="token")
    app.add_typer(webhook_app, name="webhook")
    app.command("server")(server)
    app.command("audit")(audit)


def open_access_for(host: str, *, has_tokens: bool, insecure: bool) -> bool:
    """Whether the server starts open: no token needed, every request the local admin.

    `has_tokens` is whether the catalog has ever held a token (revoked ones count): once
    tokens were in use, revoking them all never turns a server open (api.open_mode).

    Raises:
        InputError: no token exists and `host` is not a loopback address (unless insecure).
    """
    if has_tokens:
        return False
    if is_loopback(host) or insecure:
        return True
    raise InputError(
        f"refusing to listen on {host} with no API token in the catalog: anyone "
        "reaching the port would be admin. Create one with `modelyard token create "
        "--team T --role admin`, bind to 127.0.0.1, or pass --insecure"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server(
    host: Annotated[
        str, typer.Option(help="Address to listen on (default: loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 8080,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Start on a non-loopback address even with no API token (everyone is admin).",
        ),
    ] = False,
    max_body_mb: Annotated[
        int | None,
        typer.Option(
            "--max-body-mb",
            min=1,
            max=1024,
            help="The largest request body read, in MiB; larger ones get 413 "
            f"(default: api.max_body_mb in modelyard.yaml, else {DEFAULT_MAX_BODY_MB}).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
) -> None:
    """Run the REST API and the dashboard (http://HOST:PORT/ui/) until Ctrl-C.

    Requests authenticate with `Authorization: Bearer <token>`. Over a catalog that has
    never held a token, the server runs open (every request is admin, and must name
    localhost as its Host) until the first token is created; only on loopback unless
    --insecure.
    """

    def action() -> tuple[Any, tuple[bool, bool]]:
        try:
            import uvicorn

            from modelyard.api import create_app
        except ImportError as exc:
            raise InputError(
                f"`modelyard server` needs the api extra ({exc.name} is missing): "
                "pip install 'modelyard[api]'"
            ) from exc
        ws = open_workspace(workspace, db)
        ever_had_tokens = bool(ws.access.tokens(include_revoked=True))
        open_access = open_access_for(host, has_tokens=ever_had_tokens, insecure=insecure)
        application = create_app(
            ws,
            open_access=open_access,
            open_ip_hosts=open_access and not is_loopback(host),
            max_body_mb=max_body_mb,
        )
        no_valid_token = ever_had_tokens and not ws.access.has_active_tokens()
        return (uvicorn, application), (open_access, no_valid_token)

    (uvicorn, application), (open_access, no_valid_token) = run(
        False, action, lambda _r: None, lambda _r: None
    )
    if open_access:
        render.err_console.print(
            "[yellow]warning:[/] no API token in the catalog: every request "
            "is admin until one is created (`modelyard token create`)",
            markup=True,
        )
    elif no_valid_token:
        render.err_console.print(
            "[yellow]warning:[/] every API token in the catalog is revoked: every request "
            "is refused (401) until an admin creates one (`modelyard token create`); "
            "a catalog that has held tokens never runs open again"
        )
    render.err_console.print(
        f"dashboard: http://{host}:{port}/ui/  API: http://{host}:{port}"
        "/api/v1  schema: /openapi.json"
    )
    uvicorn.run(application, host=host, port=port, log_level="info")


@token_app.command("create")
def token_create(
    team: Annotated[str, typer.Option("--team", help="The team the token acts for.")],
    role: Annotated[str, typer.Option("--role", help=f"{', '.join(ROLES)}.")] = "viewer",
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            metavar="DURATION",
            help="Refuse the token after this long: 30d, 12h, 90m, 2w (default: never).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token; its secret is printed once (the catalog keeps only a hash)."""
    from modelyard.ops.context import local_actor
    from modelyard.store.access import parse_duration

    def create() -> tuple[ApiToken, str]:
        # The duration is checked before the catalog is opened: a bad one changes nothing.
        lifetime = parse_duration(expires_in) if expires_in is not None else None
        return open_workspace(workspace, db).access.create_token(
            team, role, description, actor=local_actor(), expires_in=lifetime
        )

    def show(created: tuple[ApiToken, str]) -> None:
        token, secret = created
        expiry = f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
        render.err_console.print(
            f"token {token.id} ({token.role} of team {token.team}{expiry}); "
            "the secret is shown only now:"
        )
        render.print_text(secret)

    run(
        as_json,
        create,
        show,
        lambda created: {
            "ok": True,
            "token": created[0].model_dump(mode="json"),
            "secret": created[1],
        },
    )


@token_app.command("list")
def token_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked tokens too.")] = False,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (id, prefix, team, role; never the secrets)."""

    def show(tokens: list[ApiToken]) -> None:
        now = datetime.now(UTC)
        table = Table(
            "id", "prefix", "team", "role", "description", "created", "expires", "revoked"
        )
        for t in tokens:
            expires = f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "never"
            table.add_row(
                str(t.id),
                t.prefix + "...",
                t.team,
                t.role,
                t.description,
                f"{t.created_at:%Y-%m-%d %H:%M}",
                expires + (" (expired)" if t.is_expired(now) else ""),
                f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
            )
        render.console.print(table)

    run(
        as_json,
        lambda: open_workspace(workspace, db).access.tokens(include_revoked=include_revoked),
        show,
        lambda tokens: {"ok": True, "tokens": [t.model_dump(mode="json") for t in tokens]},
    )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (token list).")],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: the server refuses it (401) from now on."""
    from modelyard.ops.context import local_actor

    run(
        as_json,
        lambda: open_workspace(workspace, db).access.revoke_token(token_id, actor=local_actor()),
        lambda t: render.console.print(f"token {t.id} ({t.prefix}...) revoked"),
        lambda t: {"ok": True, "token": t.model_dump(mode="json")},
    )


def audit(
    limit: Annotated[int, typer.Option(min=1, help="How many entries, newest first.")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action", help="Only this action or prefix (model, alias, deploy, token...)."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The audit log: every change with who, what, before, after and when."""

    def show(entries: list[AuditEntry]) -> None:
        table = Table("when (UTC)", "actor", "action", "object", "before", "after")
        for e in entries:
            table.add_row(
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.actor,
                e.action,
                e.object,
                _short(e.before),
                _short(e.after),
            )
        render.console.print(table)

    run(
        as_json,
        lambda: open_workspace(workspace, db).access.entries(
            limit=limit, actor=actor, action=action
        ),
        show,
        lambda entries: {"ok": True, "entries": [e.model_dump(mode="json") for e in entries]},
    )


def _short(value: Any) -> str:
    """A before/after value as `key=value` pairs (JSON values, never Python reprs),
    cut at a whole pair past 60 characters."""
    if value is None:
        return ""
    if not isinstance(value, dict):
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    pairs = [f"{k}={json.dumps(v, default=str)}" for k, v in value.items()]
    text = " ".join(pairs)
    if len(text) <= 60:
        return text
    kept: list[str] = []
    for pair in pairs:
        if len(" ".join([*kept, pair])) > 56:
            break
        kept.append(pair)
    return " ".join(kept) + " ..." if kept else pairs[0][:56] + " ..."


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(metavar="URL", help="Where to POST: http(s)://...")],
    secret_env: Annotated[
        str,
        typer.Option(
            "--secret-env",
            metavar="VAR",
            help="The environment variable holding the signing secret (read by the server).",
        ),
    ],
    events: Annotated[
        str,
        typer.Option(
            "--events",
            metavar="EVENT,...",
            help="Comma-separated: version.registered, alias.moved, version.yanked, "
            "deployment.finished, experiment.decided (default: all).",
        ),
    ] = "",
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a webhook: each event is POSTed with `X-Modelyard-Signature: sha256=<HMAC>`."""
    from modelyard.ops.context import local_actor
    from modelyard.store.webhooks import WebhookLog

    names = [e.strip() for e in events.split(",") if e.strip()]
    run(
        as_json,
        lambda: WebhookLog(open_workspace(workspace, db).store).add(
            url, secret_env, names, actor=local_actor()
        ),
        lambda w: render.console.print(
            f"webhook {w.id}: {w.url} ({', '.join(w.events)}), signed with ${w.secret_env}"
        ),
        lambda w: {"ok": True, "webhook": w.model_dump(mode="json")},
    )


@webhook_app.command("list")
def webhook_list(
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List webhooks: those of modelyard.yaml and those added with `webhook add`."""
    from modelyard.store.webhooks import WebhookLog

    def listed() -> list[Webhook]:
        from modelyard.api.webhooks import configured

        ws = open_workspace(workspace, db)
        return WebhookLog(ws.store).webhooks(configured(ws.config.webhooks))

    def show(hooks: list[Webhook]) -> None:
        table = Table("id", "url", "events", "secret env", "from")
        for w in hooks:
            table.add_row(str(w.id or ""), w.url, ", ".join(w.events), w.secret_env, w.source)
        render.console.print(table)

    run(
        as_json,
        listed,
        show,
        lambda hooks: {"ok": True, "webhooks": [w.model_dump(mode="json") for w in hooks]},
    )


@webhook_app.command("remove")
def webhook_remove(
    webhook_id: Annotated[int, typer.Argument(metavar="ID", help="The id (webhook list).")],
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a webhook added with `webhook add` (its delivery log stays)."""
    from modelyard.ops.context import local_actor
    from modelyard.store.webhooks import WebhookLog

    run(
        as_json,
        lambda: WebhookLog(open_workspace(workspace, db).store).remove(
            webhook_id, actor=local_actor()
        ),
        lambda w: render.console.print(f"webhook {w.id} ({w.url}) removed"),
        lambda w: {"ok": True, "webhook": w.model_dump(mode="json")},
    )


@webhook_app.command("deliveries")
def webhook_deliveries(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    event: Annotated[str | None, typer.Option(help="Only this event.")] = None,
    workspace: WorkspaceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The delivery log: each event to each webhook, its tries, status codes and errors."""
    from modelyard.store.webhooks import WebhookLog

    def show(deliveries: list[Delivery]) -> None:
        table = Table("id", "event", "url", "state", "tries", "last status", "last error")
        for d in deliveries:
            table.add_row(
                str(d.id),
                d.event,
                d.url,
                d.state,
                str(d.attempts),
                str(d.last_status or ""),
                _short(d.last_error),
            )
        render.console.print(table)

    run(
        as_json,
        lambda: WebhookLog(open_workspace(workspace, db).store).deliveries(
            limit=limit, event=event
        ),
        show,
        lambda deliveries: {
            "ok": True,
            "deliveries": [d.model_dump(mode="json") for d in deliveries],
        },
    )
