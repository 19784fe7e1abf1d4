"""Webhooks, their outbox and the delivery log (the catalog's own tables).

store.access.record writes an event into `webhook_events` in the transaction of the
change it announces. The server's delivery worker (api.webhooks) then, each in one write
transaction: fans undispatched events out into one delivery per subscribed webhook,
claims a due delivery (so two servers on one catalog never send it twice), and records
each try with its HTTP status or error. A process without a server (the CLI) leaves its
events in the outbox; a server delivers them when it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, insert, select, update

from modelyard.defaults import WEBHOOK_EVENT_NAMES
from modelyard.errors import Conflict, InputError, NotFound
from modelyard.store.access import record
from modelyard.store.rows import webhook_attempts, webhook_deliveries, webhook_events, webhooks
from modelyard.store.store import CatalogStore, _utc
from modelyard.store.timestamps import Timestamp

# How long a claimed delivery is the claimer's: a server that dies mid-POST leaves it to
# be tried again after this.
CLAIM_S = 60.0
_URL = re.compile(r"^https?://[^\s/]+")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_webhook_events(events: Sequence[str]) -> tuple[str, ...]:
    """The events, each one of WEBHOOK_EVENT_NAMES (none: all of them).

    Raises:
        InputError: an unknown event.
    """
    unknown = [e for e in events if e not in WEBHOOK_EVENT_NAMES]
    if unknown:
        raise InputError(
            f"--events: unknown {', '.join(map(repr, unknown))}; expected some of "
            + ", ".join(WEBHOOK_EVENT_NAMES)
        )
    return tuple(events) or WEBHOOK_EVENT_NAMES


class Webhook(BaseModel):
    """A webhook: from modelyard.yaml (`id` None) or added with `modelyard webhook add`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None
    url: str
    secret_env: str
    events: tuple[str, ...]
    source: str


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt: int
    at: Timestamp
    status: int | None
    error: str | None
    duration_ms: float


class Delivery(BaseModel):
    """One event to one webhook, and its tries so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    event_id: int
    event: str
    url: str
    secret_env: str
    state: str
    attempts: int
    next_attempt_at: Timestamp | None
    last_status: int | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None
    tries: list[Attempt] = []


class DueDelivery(BaseModel):
    """A claimed delivery with the body to send."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    event: str
    url: str
    secret_env: str
    attempts: int
    body: bytes


class WebhookLog:
    """Webhooks, events and deliveries in the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def add(self, url: str, secret_env: str, events: Sequence[str], *, actor: str) -> Webhook:
        """Add a webhook (audited as `webhook.add`).

        Raises:
            InputError: a URL that is not http(s), a bad variable name, an unknown event.
            Conflict: a webhook with this URL exists.
        """
        if not _URL.match(url) or len(url) > 500:
            raise InputError(f"webhook URL {url!r}: expected http(s)://HOST[:PORT]/PATH")
        if not _ENV.match(secret_env):
            raise InputError(
                f"--secret-env {secret_env!r}: expected an environment variable name "
                "(letters, digits, _), e.g. MODELYARD_WEBHOOK_SECRET"
            )
        checked = Webhook(
            id=None,
            url=url,
            secret_env=secret_env,
            events=check_webhook_events(events),
            source="catalog",
        )
        now = datetime.now(UTC)
        with self.store.transaction() as tx:
            exists = tx.connection.execute(
                select(webhooks.c.id).where(webhooks.c.url == checked.url)
            ).first()
            if exists is not None:
                raise Conflict(
                    f"webhook {exists.id} already posts to {checked.url}; remove it first "
                    f"(`modelyard webhook remove {exists.id}`)"
                )
            result = tx.connection.execute(
                insert(webhooks).values(
                    url=checked.url,
                    secret_env=checked.secret_env,
                    events_json=json.dumps(list(checked.events)),
                    actor=actor[:200],
                    created_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            added = Webhook(
                id=int(key[0]),
                url=checked.url,
                secret_env=checked.secret_env,
                events=checked.events,
                source="catalog",
            )
            record(tx, actor, "webhook.add", f"webhook {added.id}", None, added.model_dump())
        return added

    def remove(self, webhook_id: int, *, actor: str) -> Webhook:
        """Remove a webhook (its past deliveries stay in the log).

        Raises:
            NotFound: no such webhook.
        """
        with self.store.transaction() as tx:
            row = tx.connection.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
            if row is None:
                raise NotFound(
                    f"no webhook with id {webhook_id}; `modelyard webhook list` shows them"
                )
            removed = _webhook(row)
            tx.connection.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
            record(tx, actor, "webhook.remove", f"webhook {webhook_id}", removed.model_dump(), None)
        return removed

    def webhooks(self, configured: Sequence[Webhook] = ()) -> list[Webhook]:
        """Those of modelyard.yaml (`configured`), then those of the catalog."""
        with self.store.reader() as tx:
            rows = tx.connection.execute(select(webhooks).order_by(webhooks.c.id)).all()
        return [*configured, *(_webhook(r) for r in rows)]

    def has_pending_events(self) -> bool:
        """Whether an event waits to be dispatched (a read: no write lock taken)."""
        with self.store.reader() as tx:
            return (
                tx.connection.execute(
                    select(webhook_events.c.id)
                    .where(webhook_events.c.dispatched_at.is_(None))
                    .limit(1)
                ).first()
                is not None
            )

    def dispatch(self, subscribed: Sequence[Webhook], *, now: datetime | None = None) -> int:
        """Fan undispatched events out into deliveries; returns the deliveries made."""
        now = now or datetime.now(UTC)
        made = 0
        with self.store.transaction() as tx:
            events = tx.connection.execute(
                select(webhook_events.c.id, webhook_events.c.event)
                .where(webhook_events.c.dispatched_at.is_(None))
                .order_by(webhook_events.c.id)
                .limit(500)
            ).all()
            if not events:
                return 0
            rows = []
            # A URL both in modelyard.yaml and the catalog gets each event once.
            unique = list({w.url: w for w in reversed(subscribed)}.values())
            for event_id, event in events:
                for hook in unique:
                    if event in hook.events:
                        rows.append(
                            {
                                "event_id": event_id,
                                "event": event,
                                "url": hook.url,
                                "secret_env": hook.secret_env,
                                "state": "pending",
                                "attempts": 0,
                                "next_attempt_at": now,
                                "created_at": now,
                            }
                        )
            if rows:
                tx.connection.execute(insert(webhook_deliveries), rows)
                made = len(rows)
            tx.connection.execute(
                update(webhook_events)
                .where(webhook_events.c.id.in_([e.id for e in events]))
                .values(dispatched_at=now)
            )
        return made

    def claim_due(self, *, now: datetime | None = None, limit: int = 20) -> list[DueDelivery]:
        """The pending deliveries whose time has come, each claimed for CLAIM_S."""
        now = now or datetime.now(UTC)
        with self.store.transaction() as tx:
            rows = tx.connection.execute(
                select(webhook_deliveries, webhook_events.c.payload_json)
                .join(webhook_events, webhook_events.c.id == webhook_deliveries.c.event_id)
                .where(webhook_deliveries.c.state == "pending")
                .where(webhook_deliveries.c.next_attempt_at <= now)
                .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
                .limit(limit)
            ).all()
            if not rows:
                return []
            tx.connection.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_([r.id for r in rows]))
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
            )
        return [
            DueDelivery(
                id=r.id,
                event=r.event,
                url=r.url,
                secret_env=r.secret_env,
                attempts=r.attempts,
                body=_body(r.event_id, r.payload_json),
            )
            for r in rows
        ]

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None: none is pending)."""
        with self.store.reader() as tx:
            value = tx.connection.execute(
                select(webhook_deliveries.c.next_attempt_at)
                .where(webhook_deliveries.c.state == "pending")
                .order_by(webhook_deliveries.c.next_attempt_at)
                .limit(1)
            ).scalar()
        return _utc(value) if value is not None else None

    def record_attempt(
        self,
        delivery_id: int,
        *,
        status: int | None,
        error: str | None,
        duration_ms: float,
        retry_at: datetime | None,
        now: datetime | None = None,
    ) -> None:
        """Log one try; `retry_at` None after a failure means out of tries (`failed`)."""
        now = now or datetime.now(UTC)
        ok = error is None and status is not None and 200 <= status < 300
        with self.store.transaction() as tx:
            attempts = (
                int(
                    tx.connection.execute(
                        select(webhook_deliveries.c.attempts).where(
                            webhook_deliveries.c.id == delivery_id
                        )
                    ).scalar_one()
                )
                + 1
            )
            tx.connection.execute(
                insert(webhook_attempts).values(
                    delivery_id=delivery_id,
                    attempt=attempts,
                    at=now,
                    status=status,
                    error=error[:500] if error else None,
                    duration_ms=duration_ms,
                )
            )
            state = "delivered" if ok else ("pending" if retry_at is not None else "failed")
            tx.connection.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery_id)
                .values(
                    attempts=attempts,
                    state=state,
                    last_status=status,
                    last_error=error[:500] if error else None,
                    next_attempt_at=retry_at if state == "pending" else None,
                    delivered_at=now if ok else None,
                )
            )

    def deliveries(self, *, limit: int = 50, event: str | None = None) -> list[Delivery]:
        """The newest deliveries first, each with its tries."""
        query = select(webhook_deliveries).order_by(webhook_deliveries.c.id.desc()).limit(limit)
        if event is not None:
            check_webhook_events([event])
            query = query.where(webhook_deliveries.c.event == event)
        with self.store.reader() as tx:
            rows = tx.connection.execute(query).all()
            tries: dict[int, list[Attempt]] = {}
            if rows:
                for a in tx.connection.execute(
                    select(webhook_attempts)
                    .where(webhook_attempts.c.delivery_id.in_([r.id for r in rows]))
                    .order_by(webhook_attempts.c.id)
                ):
                    tries.setdefault(a.delivery_id, []).append(
                        Attempt(
                            attempt=a.attempt,
                            at=_utc(a.at),
                            status=a.status,
                            error=a.error,
                            duration_ms=a.duration_ms,
                        )
                    )
        return [
            Delivery(
                id=r.id,
                event_id=r.event_id,
                event=r.event,
                url=r.url,
                secret_env=r.secret_env,
                state=r.state,
                attempts=r.attempts,
                next_attempt_at=_utc(r.next_attempt_at) if r.next_attempt_at else None,
                last_status=r.last_status,
                last_error=r.last_error,
                created_at=_utc(r.created_at),
                delivered_at=_utc(r.delivered_at) if r.delivered_at else None,
                tries=tries.get(r.id, []),
            )
            for r in rows
        ]


def _body(event_id: int, payload_json: str) -> bytes:
    """The JSON body of an event: the same bytes on every try (the signature's input)."""
    payload: dict[str, Any] = json.loads(payload_json)
    return json.dumps({"id": event_id, **payload}, sort_keys=True).encode()


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        secret_env=row.secret_env,
        events=tuple(json.loads(row.events_json)),
        source="catalog",
    )
