"""API tokens and the audit log in the catalog database."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from modelyard import InputError, NotFound, StorageError, Workspace
from modelyard.store import CatalogStore
from modelyard.store.access import AccessLog
from modelyard.store.rows import api_tokens
from tests.support.netflix import NETFLIX_MODELS


def test_tokens_are_stored_hashed_and_revocable(store: CatalogStore) -> None:
    access = AccessLog(store)
    assert not access.has_active_tokens()
    token, secret = access.create_token("search", "maintainer", "ci", actor="tester")
    assert secret.startswith(token.prefix) and len(secret) > 40
    with store.reader() as tx:
        row = tx.connection.execute(select(api_tokens)).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(tuple(row))
    assert access.token_for_secret(secret) == token and access.has_active_tokens()
    assert access.token_for_secret(secret + "x") is None
    revoked = access.revoke_token(token.id, actor="tester")
    assert revoked.revoked_at is not None and not revoked.is_active
    assert access.revoke_token(token.id, actor="tester") == revoked  # idempotent
    found = access.token_for_secret(secret)
    assert found is not None and not found.is_active
    assert access.tokens() == [] and access.tokens(include_revoked=True) == [revoked]
    assert not access.has_active_tokens()
    with pytest.raises(NotFound, match="no token with id 999"):
        access.revoke_token(999, actor="tester")
    with pytest.raises(InputError, match="role 'root'"):
        access.create_token("search", "root", actor="tester")
    with pytest.raises(InputError, match="team"):
        access.create_token("  ", actor="tester")


def test_audit_entries_newest_first_and_filtered(store: CatalogStore) -> None:
    access = AccessLog(store)
    token, _ = access.create_token("ops", "admin", actor="alice")
    access.record("bob", "alias.set", "a/b alias prod", {"version": "1.0"}, {"version": "2.0"})
    access.revoke_token(token.id, actor="alice")
    entries = access.entries()
    assert [e.action for e in entries] == ["token.revoke", "alias.set", "token.create"]
    assert entries[1].before == {"version": "1.0"} and entries[1].after == {"version": "2.0"}
    assert entries[2].before is None and entries[2].after["team"] == "ops"
    assert [e.action for e in access.entries(actor="alice")] == ["token.revoke", "token.create"]
    assert [e.action for e in access.entries(action="token")] == ["token.revoke", "token.create"]
    assert [e.object for e in access.entries(action="alias.set")] == ["a/b alias prod"]
    assert len(access.entries(limit=1)) == 1
    # A prefix is a prefix, not a LIKE pattern.
    assert access.entries(action="%") == []


def test_a_change_and_its_audit_entry_commit_together(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.ops import catalog as catalog_ops

    workspace.apply([NETFLIX_MODELS], actor="api:token 1")
    [entry] = workspace.access.entries(action="model.register")
    assert entry.actor == "api:token 1" and entry.after["created_count"] == 6

    def broken_audit(*_args: object, **_kwargs: object) -> None:
        raise StorageError("the audit log cannot be written")

    monkeypatch.setattr(catalog_ops, "record_audit", broken_audit)
    moved_before = workspace.aliases()
    with pytest.raises(StorageError):
        workspace.set_alias("search/query_understanding", "production", "1.5")
    assert workspace.aliases() == moved_before  # no move without its audit entry
    manifest = (
        (NETFLIX_MODELS / "search.yaml").read_text().replace('version: "1.5"', 'version: "1.6"')
    )
    with pytest.raises(StorageError):
        workspace.apply_text(manifest.split("---\n")[0], base_dir=NETFLIX_MODELS)
    assert "search/query_understanding@1.6" not in {s.ref for s in workspace.list_models()}
