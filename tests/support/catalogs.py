"""The catalog backend of this run, and fresh migrated catalogs on it.

SQLite (a file per catalog) unless MODELYARD_TEST_DB names a PostgreSQL server
(`postgresql+psycopg://user@host:port/db`, as `scripts/postgres.sh start` prints): then each
catalog is a database of its own on that server, created from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from modelyard.catalog.spec import ModelSpec
from modelyard.store import CatalogStore

SERVER_URL = os.environ.get("MODELYARD_TEST_DB")
BACKEND = make_url(SERVER_URL).get_backend_name() if SERVER_URL else "sqlite"
requires_sqlite = pytest.mark.skipif(BACKEND != "sqlite", reason="about SQLite files")


class Catalogs:
    """Fresh, migrated, empty catalogs: copies of one migrated template."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.template = f"modelyard_template_{uuid.uuid4().hex[:12]}"
        self.created: list[str] = []
        if SERVER_URL:
            self._admin_execute(f'CREATE DATABASE "{self.template}"')
            CatalogStore.open(self._url_of(self.template)).dispose()
        else:
            path = scratch / "template.db"
            CatalogStore.open(f"sqlite:///{path}", create=True).dispose()

    def _url_of(self, database: str) -> str:
        assert SERVER_URL
        return make_url(SERVER_URL).set(database=database).render_as_string(hide_password=False)

    def _admin_execute(self, statement: str) -> None:
        assert SERVER_URL
        engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    def new(self, folder: Path) -> str:
        """The URL of a new empty catalog (for SQLite, a file in `folder`)."""
        if not SERVER_URL:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "catalog.db"
            shutil.copyfile(self.scratch / "template.db", path)
            return f"sqlite:///{path}"
        database = f"t_{uuid.uuid4().hex[:16]}"
        self._admin_execute(f'CREATE DATABASE "{database}" TEMPLATE "{self.template}"')
        self.created.append(database)
        return self._url_of(database)

    def drop_created(self) -> None:
        while self.created:
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.created.pop()}" WITH (FORCE)')

    def close(self) -> None:
        if SERVER_URL:
            self.drop_created()
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


# Columns later migrations add to model_versions: a catalog written at an older revision
# has none of them.
LATER_VERSION_COLUMNS = {"triton_name": "0010_triton_name"}


def insert_at_old_revision(connection: Any, specs: Sequence[ModelSpec], revision: str) -> None:
    """Register `specs` into a catalog left at `revision` (older than head), writing only
    the columns that revision had."""
    from modelyard.store.rows import model_versions
    from modelyard.store.store import CatalogTransaction

    later = {c for c, added in LATER_VERSION_COLUMNS.items() if added > revision}
    rows = CatalogTransaction(connection).version_rows([(s, None) for s in specs])
    connection.execute(
        model_versions.insert(), [{k: v for k, v in r.items() if k not in later} for r in rows]
    )
