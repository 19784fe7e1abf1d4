"""API tokens and the audit log (the catalog's own tables).

A token's secret is shown once, when it is created; the catalog keeps its SHA-256 and a
short prefix that names it in listings and audit entries without revealing it. The
secrets are 32 random bytes, so a plain (unsalted) hash is enough: nobody can guess
their way through 2^256 (the reasoning GitHub and PyPI apply to their API tokens).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, insert, select, update

from modelyard.defaults import ROLES, WEBHOOK_EVENT_NAMES, Role
from modelyard.errors import InputError, NotFound
from modelyard.store.rows import api_tokens, audit_log, webhook_events
from modelyard.store.store import CatalogStore, CatalogTransaction, _utc
from modelyard.store.timestamps import Timestamp

TOKEN_PREFIX = "myd_"
_PREFIX_CHARS = 12
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# At most ten years: a longer expiry is no expiry, and would overflow some datetimes.
MAX_EXPIRY_S = 3650 * 86400

# The audit actions that are also webhook events (api.webhooks delivers them): the event
# is written by `record`, in the transaction of the change, so both commit or neither.
WEBHOOK_EVENTS = {
    "model.register": "version.registered",
    "alias.set": "alias.moved",
    "version.yank": "version.yanked",
    "deploy": "deployment.finished",
    "experiment.stop": "experiment.decided",
}
assert sorted(WEBHOOK_EVENTS.values()) == sorted(WEBHOOK_EVENT_NAMES)


class ApiToken(BaseModel):
    """A token as the catalog records it (never the secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    prefix: str
    team: str
    role: Role
    description: str
    created_at: Timestamp
    revoked_at: Timestamp | None
    expires_at: Timestamp | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class AuditEntry(BaseModel):
    """One change: who, what (action and object), the state before and after, when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    at: Timestamp
    actor: str
    action: str
    object: str
    before: Any
    after: Any


def parse_duration(text: str, field: str = "--expires-in") -> timedelta:
    """`30d`, `12h`, `90m`, `2w` or `45s` as a timedelta.

    Raises:
        InputError: anything else, zero, or more than ten years.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise InputError(
            f"{field} {text!r}: expected a number and a unit (s, m, h, d, w), e.g. 30d or 12h"
        )
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not 0 < seconds <= MAX_EXPIRY_S:
        raise InputError(f"{field} {text!r}: expected more than 0 and at most 3650d")
    return timedelta(seconds=seconds)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessLog:
    """Tokens and audit entries in the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    # Tokens ---------------------------------------------------------------------------

    def create_token(
        self,
        team: str,
        role: str = "viewer",
        description: str = "",
        *,
        actor: str,
        now: datetime | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token for `team` with `role`; returns it and its secret (shown only now).
        With `expires_in`, the server refuses it (401) from `now + expires_in` on.

        Raises:
            InputError: unknown role, empty team, description too long.
        """
        if role not in ROLES:
            raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
        team = team.strip()
        if not team or len(team) > 64:
            raise InputError("team: expected 1 to 64 characters")
        if len(description) > 200:
            raise InputError("description: at most 200 characters")
        now = now or datetime.now(UTC)
        expires_at = now + expires_in if expires_in is not None else None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = secret[:_PREFIX_CHARS]
        with self.store.transaction() as tx:
            result = tx.connection.execute(
                insert(api_tokens).values(
                    token_hash=hash_secret(secret),
                    prefix=prefix,
                    team=team,
                    role=role,
                    description=description,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            token = ApiToken(
                id=int(key[0]),
                prefix=prefix,
                team=team,
                role=cast(Role, role),
                description=description,
                created_at=now,
                revoked_at=None,
                expires_at=expires_at,
            )
            after = token.model_dump(mode="json")
            record(tx, actor, "token.create", f"token {token.id}", None, after, now=now)
        return token, secret

    def token_for_secret(self, secret: str) -> ApiToken | None:
        """The token whose secret this is (revoked ones too), or None."""
        with self.store.reader() as tx:
            row = tx.connection.execute(
                select(api_tokens).where(api_tokens.c.token_hash == hash_secret(secret))
            ).first()
        return _token(row) if row is not None else None

    def tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        query = select(api_tokens).order_by(api_tokens.c.id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with self.store.reader() as tx:
            return [_token(row) for row in tx.connection.execute(query)]

    def has_active_tokens(self, now: datetime | None = None) -> bool:
        """Whether any token is neither revoked nor expired."""
        now = now or datetime.now(UTC)
        with self.store.reader() as tx:
            count = tx.connection.execute(
                select(func.count())
                .select_from(api_tokens)
                .where(api_tokens.c.revoked_at.is_(None))
                .where(api_tokens.c.expires_at.is_(None) | (api_tokens.c.expires_at > now))
            ).scalar_one()
        return int(count) > 0

    def revoke_token(self, token_id: int, *, actor: str, now: datetime | None = None) -> ApiToken:
        """Revoke a token (idempotent: revoking a revoked token changes nothing).

        Raises:
            NotFound: no token with this id.
        """
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            row = tx.connection.execute(
                select(api_tokens).where(api_tokens.c.id == token_id)
            ).first()
            if row is None:
                raise NotFound(f"no token with id {token_id}; `modelyard token list` shows them")
            before = _token(row)
            if not before.is_active:
                return before
            tx.connection.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now)
            )
            after = before.model_copy(update={"revoked_at": now})
            record(
                tx,
                actor,
                "token.revoke",
                f"token {token_id}",
                before.model_dump(mode="json"),
                after.model_dump(mode="json"),
                now=now,
            )
        return after

    # Audit ----------------------------------------------------------------------------

    def record(
        self,
        actor: str,
        action: str,
        object_: str,
        before: Any,
        after: Any,
        *,
        now: datetime | None = None,
    ) -> None:
        """Write one audit entry in its own transaction."""
        with self.store.transaction() as tx:
            record(tx, actor, action, object_, before, after, now=now)

    def entries(
        self,
        *,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        object_: str | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, optionally filtered (`action` matches a prefix)."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            query = query.where(audit_log.c.action.startswith(action, autoescape=True))
        if object_ is not None:
            query = query.where(audit_log.c.object == object_)
        with self.store.reader() as tx:
            rows = tx.connection.execute(query).all()
        return [
            AuditEntry(
                id=r.id,
                at=_utc(r.at),
                actor=r.actor,
                action=r.action,
                object=r.object,
                before=_loads(r.before_json),
                after=_loads(r.after_json),
            )
            for r in rows
        ]


def record(
    tx: CatalogTransaction,
    actor: str,
    action: str,
    object_: str,
    before: Any,
    after: Any,
    *,
    now: datetime | None = None,
) -> None:
    """Write one audit entry inside the caller's transaction, and its webhook event when
    the action is one (WEBHOOK_EVENTS)."""
    at = now or datetime.now(UTC)
    tx.connection.execute(
        insert(audit_log).values(
            at=at,
            actor=actor[:200],
            action=action[:64],
            object=object_[:200],
            before_json=_dumps(before),
            after_json=_dumps(after),
        )
    )
    event = WEBHOOK_EVENTS.get(action)
    if event is not None:
        payload = {
            "event": event,
            "at": at.isoformat(),
            "actor": actor,
            "object": object_,
            "before": before,
            "after": after,
        }
        tx.connection.execute(
            insert(webhook_events).values(
                event=event, payload_json=_dumps(payload), created_at=at, dispatched_at=None
            )
        )


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        prefix=row.prefix,
        team=row.team,
        role=row.role,
        description=row.description,
        created_at=_utc(row.created_at),
        revoked_at=_utc(row.revoked_at) if row.revoked_at else None,
        expires_at=_utc(row.expires_at) if row.expires_at else None,
    )
