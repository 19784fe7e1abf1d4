"""CatalogStore: the catalog database. Specs in, specs out; rows stay here.

SQLite (the default) runs in WAL mode with a busy timeout, and every write
transaction starts with `BEGIN IMMEDIATE`, so concurrent writers queue for the write
lock instead of failing half-way when a read transaction tries to become a write one
(https://www.sqlite.org/lang_transaction.html). Any other SQLAlchemy URL works too.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    RootTransaction,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool

from modelyard.catalog.lifecycle import ACTIVE, VersionStatus
from modelyard.catalog.spec import Dependency, ModelSpec, trusted_spec
from modelyard.catalog.version import Version
from modelyard.errors import AliasConflict, Conflict, NotFound, StorageError, VersionYanked
from modelyard.store.rows import aliases, model_versions, models

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Further attempts at BEGIN IMMEDIATE after a busy timeout ran out (a writer held the lock
# for longer than the timeout, e.g. a 50k-model apply), with backoff up to 1 s.
SQLITE_LOCK_RETRIES = 20
# Any fixed number: PostgreSQL catalog writers take this transaction-level advisory lock.
_WRITE_LOCK_KEY = 0x6D6F64656C79  # "modely"
_MIGRATIONS = Path(__file__).with_name("migrations")
# Catalog versions are compared by these numbers; `1.0` and `1.0.0` are one version.
_VERSION_KEY = (
    model_versions.c.version_major,
    model_versions.c.version_minor,
    model_versions.c.version_patch,
)
# What `StoredVersion` is read from (`_stored`).
_STORED_COLUMNS = (
    model_versions.c.spec_json,
    model_versions.c.content_digest,
    model_versions.c.registered_at,
    model_versions.c.source,
    model_versions.c.triton_version,
    model_versions.c.yanked_reason,
    model_versions.c.yanked_at,
    model_versions.c.deprecated_reason,
    model_versions.c.deprecated_at,
)
_MARK_COLUMNS = _STORED_COLUMNS[-4:]
# The two marks a version can carry, each a reason column and a time column.
_MARKS = {
    "yanked": (model_versions.c.yanked_reason, model_versions.c.yanked_at),
    "deprecated": (model_versions.c.deprecated_reason, model_versions.c.deprecated_at),
}


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One registered version: its spec and what the catalog recorded about it."""

    spec: ModelSpec
    content_digest: str
    registered_at: datetime
    source: str | None
    triton_version: int
    status: VersionStatus = ACTIVE


@dataclass(frozen=True, slots=True)
class AliasRecord:
    model_id: str
    name: str
    version: str
    revision: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """The graph-relevant columns of a version, read without decoding its spec."""

    model_id: str
    version: Version
    dependencies: tuple[Dependency, ...]
    content_digest: str
    yanked_reason: str | None = None
    deprecated_reason: str | None = None


# Alembic is imported only to migrate: opening a catalog already at the newest schema
# reads the revision itself (importing alembic took 0.4 s of every command).
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.M)


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """Every migration's revision, the newest (the one no other revises) last, read
    from the `revision` and `down_revision` lines of the migration files."""
    revises: dict[str, str | None] = {}
    for file in (_MIGRATIONS / "versions").glob("*.py"):
        found: dict[str, str] = {
            match[1]: match[2] for match in _REVISION_LINE.finditer(file.read_text())
        }
        if "revision" in found:
            revises[found["revision"]] = found.get("down_revision")
    heads = set(revises) - {down for down in revises.values() if down}
    if len(heads) != 1:  # not one chain: Alembic says what is wrong with it
        from alembic.script import ScriptDirectory

        ScriptDirectory.from_config(_alembic_config()).get_current_head()
        raise StorageError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return (*sorted(set(revises) - heads), heads.pop())


def head_revision() -> str:
    return known_revisions()[-1]


def _current_revision(connection: Connection) -> str | None:
    """The schema revision the database records (None for a new database)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = [
        str(row[0]) for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
    ]
    return rows[0] if len(rows) == 1 else None


def _sqlite_file(url: str) -> Path | None:
    parsed = _parse_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StorageError(
            f"{url!r} is not a database URL; use e.g. sqlite:///path/catalog.db "
            "or postgresql+psycopg://user@host/db"
        ) from None


def create_catalog_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, with WAL, foreign keys and a busy timeout."""
    parsed = _parse_url(url)
    try:
        if parsed.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        engine = create_engine(url, poolclass=NullPool)
    except NoSuchModuleError:
        raise StorageError(
            f"no SQLAlchemy dialect for {parsed.drivername!r}; check the URL"
        ) from None
    except ModuleNotFoundError as exc:
        raise StorageError(
            f"the database driver for {parsed.drivername!r} is not installed "
            f"({exc.name}); for PostgreSQL: pip install 'psycopg[binary]'"
        ) from None

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) emit BEGIN itself instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


class CatalogStore:
    """The catalog database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> CatalogStore:
        """Open the catalog at `url`, migrating it to the current schema.

        Raises:
            StorageError: no database there (and `create` is false), or it cannot be read.
        """
        sqlite_file = _sqlite_file(url)
        if sqlite_file is not None:
            if not create and sqlite_file.is_file() and sqlite_file.stat().st_size == 0:
                # SQLite would take an empty file for a new database: a truncated catalog
                # must not quietly become an empty one.
                raise StorageError(
                    f"the catalog database {sqlite_file} is empty (0 bytes): it was truncated; "
                    "restore it from a backup (run `modelyard doctor` for details)"
                )
            if not sqlite_file.exists() and not create:
                raise StorageError(
                    f"no catalog database at {sqlite_file}; run `modelyard init` in the "
                    "workspace, or point --db / MODELYARD_DB at an existing catalog"
                )
            try:
                sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cannot create the catalog folder {sqlite_file.parent} ({exc.strerror})"
                ) from exc
        store = cls(create_catalog_engine(url))
        store.migrate()
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (no-op when it is there)."""
        head = head_revision()
        try:
            with self.engine.connect() as connection:
                current = _current_revision(connection)
                if current == head:
                    return
            _check_known_revision(current, self._where())
            with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as connection:
                if self._is_postgres:
                    # Processes opening a new catalog at once: one migrates, the others wait.
                    connection.execute(select(func.pg_advisory_xact_lock(_WRITE_LOCK_KEY)))
                from alembic import command

                command.upgrade(_alembic_config(connection), "head")
                connection.commit()
        except SQLAlchemyError as exc:
            hint = _damage_hint(exc) if isinstance(exc, DBAPIError) else ""
            raise StorageError(
                f"cannot open the catalog database {self._where()}: {_reason(exc)}{hint}"
            ) from exc

    def integrity_problems(self) -> list[str]:
        """What the database itself finds wrong with its files (SQLite's integrity_check;
        PostgreSQL checks its pages as it reads them), plus stored specs that do not decode."""
        problems: list[str] = []
        try:
            with self.engine.connect() as connection:
                if self.engine.dialect.name == "sqlite":
                    rows = [str(r[0]) for r in connection.exec_driver_sql("PRAGMA integrity_check")]
                    problems += [] if rows == ["ok"] else rows[:10]
            if not problems:
                self.versions()  # every stored spec decodes (raises StorageError otherwise)
        except StorageError as exc:
            problems.append(exc.message)
        except DBAPIError as exc:
            problems.append(_reason(exc))
        return problems

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return _current_revision(connection)

    def dispose(self) -> None:
        self.engine.dispose()

    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[Connection]:
        try:
            connection, transaction = self._begin(write=write)
            with connection, transaction:
                if write and self._is_postgres:
                    # Catalog writes are short: serialize them, as SQLite's BEGIN IMMEDIATE
                    # does, so that check-then-insert (apply, aliases, leases) is race-free
                    # under READ COMMITTED.
                    connection.execute(select(func.pg_advisory_xact_lock(_WRITE_LOCK_KEY)))
                yield connection
        except IntegrityError as exc:
            raise Conflict(
                f"the catalog changed underneath this write: {_reason(exc)}; run the command again"
            ) from exc
        except DBAPIError as exc:
            raise StorageError(
                f"catalog database {self._where()}: {_reason(exc)}{_damage_hint(exc)}"
            ) from exc

    @property
    def _is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _begin(self, *, write: bool) -> tuple[Connection, RootTransaction]:
        """A connection and its begun transaction. On SQLite, BEGIN is retried while
        another process holds the write lock beyond the busy timeout (`database is
        locked`)."""
        if self._is_postgres:
            # One snapshot for a whole read, like SQLite's read transactions.
            level = "READ COMMITTED" if write else "REPEATABLE READ"
            connection = self.engine.connect().execution_options(isolation_level=level)
            return connection, connection.begin()
        options = {"sqlite_begin": "IMMEDIATE" if write else "DEFERRED"}
        for attempt in range(SQLITE_LOCK_RETRIES):
            connection = self.engine.connect().execution_options(**options)
            try:
                return connection, connection.begin()
            except OperationalError as exc:
                connection.close()
                if "locked" not in str(exc.orig) or attempt == SQLITE_LOCK_RETRIES - 1:
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def transaction(self) -> Iterator[CatalogTransaction]:
        """One write transaction: all of it commits, or none of it does."""
        with self._connect(write=True) as connection:
            yield CatalogTransaction(connection)

    @contextmanager
    def reader(self) -> Iterator[CatalogTransaction]:
        """A read-only view (one consistent snapshot)."""
        with self._connect(write=False) as connection:
            yield CatalogTransaction(connection)

    # Convenience reads, each in its own snapshot.
    def summaries(self) -> list[VersionSummary]:
        with self.reader() as tx:
            return tx.summaries()

    def versions(self, model_ids: Iterable[str] | None = None) -> list[StoredVersion]:
        with self.reader() as tx:
            return tx.versions(model_ids)

    def owners(self, model_ids: Iterable[str]) -> dict[str, str]:
        with self.reader() as tx:
            return tx.owners(model_ids)

    def get(self, model_id: str, version: str | None = None) -> StoredVersion:
        with self.reader() as tx:
            return tx.get(model_id, version)

    def aliases(self, model_id: str | None = None) -> list[AliasRecord]:
        with self.reader() as tx:
            return tx.aliases(model_id)

    def set_alias(
        self,
        model_id: str,
        name: str,
        version: str,
        *,
        expect: str | None = None,
        expect_absent: bool = False,
        expect_revision: int | None = None,
        now: datetime | None = None,
    ) -> AliasRecord:
        with self.transaction() as tx:
            return tx.set_alias(
                model_id,
                name,
                version,
                expect=expect,
                expect_absent=expect_absent,
                expect_revision=expect_revision,
                now=now,
            )


def _check_known_revision(current: str | None, where: str) -> None:
    if current is None:
        return
    if current not in known_revisions():
        raise StorageError(
            f"the catalog database {where} has schema revision {current!r}, "
            "written by a newer modelyard; upgrade modelyard to use it"
        )


def _damage_hint(exc: DBAPIError) -> str:
    text = str(exc.orig).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            "; the catalog database file is damaged: run `modelyard doctor`, then "
            "restore it from a backup"
        )
    return ""


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original) if original is not None else str(exc).splitlines()[0]


# The graph columns of every version are read for each page and command; parsing them
# again (names checked, constraints compiled) took 0.3 s a read at 10,000 versions. Both
# results are frozen, so a server keeps them.
@functools.lru_cache(maxsize=100_000)
def _parse_dependencies(text: str) -> tuple[Dependency, ...]:
    return tuple(Dependency.parse(line) for line in text.split("\n")) if text else ()


@functools.lru_cache(maxsize=100_000)
def _parse_version(text: str) -> Version:
    return Version.parse(text)


# summaries_fingerprint() -> every stored version (frozen, so shared): listing 10,000
# models read and rebuilt every row each time, most of a catalog page's time.
_EVERY_VERSION: dict[tuple[object, ...], tuple[StoredVersion, ...]] = {}
_EVERY_VERSION_KEPT = 2


class CatalogTransaction:
    """Reads and writes inside one database transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def summaries(self) -> list[VersionSummary]:
        query = select(
            models.c.domain,
            models.c.name,
            model_versions.c.version,
            model_versions.c.dependencies,
            model_versions.c.content_digest,
            model_versions.c.yanked_reason,
            model_versions.c.deprecated_reason,
        ).join(models, models.c.id == model_versions.c.model_id)
        return [
            VersionSummary(
                f"{domain}/{name}",
                _parse_version(version),
                _parse_dependencies(deps),
                digest,
                yanked,
                deprecated,
            )
            for domain, name, version, deps, digest, yanked, deprecated in self.connection.execute(
                query
            )
        ]

    def summaries_fingerprint(self) -> tuple[object, ...]:
        """A value that changes whenever `summaries()` would answer differently, read in
        two small queries instead of every row: a version is only ever added (a new row,
        so the count grows) or marked (its yanked or deprecated reason and time set or
        cleared, listed whole here: few versions are marked). The digests, dependencies and
        registration times tell one database from another created at the same URL."""
        v = model_versions.c
        totals = self.connection.execute(
            select(
                func.count(),
                func.max(v.id),
                func.max(v.registered_at),
                func.min(v.content_digest),
                func.max(v.content_digest),
                func.sum(func.length(v.dependencies)),
            )
        ).one()
        marked = self.connection.execute(
            select(v.id, v.yanked_reason, v.yanked_at, v.deprecated_reason, v.deprecated_at)
            .where(or_(v.yanked_reason.is_not(None), v.deprecated_reason.is_not(None)))
            .order_by(v.id)
        ).all()
        return (
            self.connection.engine.url.render_as_string(hide_password=False),
            tuple(totals),
            tuple(tuple(row) for row in marked),
        )

    def versions(self, model_ids: Iterable[str] | None = None) -> list[StoredVersion]:
        query = (
            select(*_STORED_COLUMNS)
            .join(models, models.c.id == model_versions.c.model_id)
            .order_by(models.c.domain, models.c.name, *_VERSION_KEY)
        )
        if model_ids is not None:
            pairs = [tuple(m.split("/", 1)) for m in model_ids]
            if not pairs:
                return []
            rows: list[Any] = []
            for chunk in _chunks(pairs, 400):
                rows += self.connection.execute(
                    query.where(tuple_(models.c.domain, models.c.name).in_(chunk))
                ).all()
        else:
            # Every version: what a process read last, while the versions did not change.
            key = self.summaries_fingerprint()
            if (cached := _EVERY_VERSION.get(key)) is not None:
                return list(cached)
            every = tuple(_stored(row) for row in self.connection.execute(query))
            while len(_EVERY_VERSION) >= _EVERY_VERSION_KEPT:
                _EVERY_VERSION.pop(next(iter(_EVERY_VERSION)), None)
            _EVERY_VERSION[key] = every
            return list(every)
        return [_stored(row) for row in rows]

    def get(self, model_id: str, version: str | None = None) -> StoredVersion:
        domain, _, name = model_id.partition("/")
        query = (
            select(*_STORED_COLUMNS)
            .join(models, models.c.id == model_versions.c.model_id)
            .where(models.c.domain == domain, models.c.name == name)
        )
        if version is not None:
            parsed = Version.parse(version)
            query = query.where(tuple_(*_VERSION_KEY) == (parsed.major, parsed.minor, parsed.patch))
        row = self.connection.execute(
            query.order_by(*(c.desc() for c in _VERSION_KEY)).limit(1)
        ).first()
        if row is None:
            known = self.connection.execute(
                select(func.count())
                .select_from(models)
                .where(models.c.domain == domain, models.c.name == name)
            ).scalar_one()
            if known and version is not None:
                raise NotFound(
                    f"{model_id} has no version {version}; "
                    f"`modelyard show {model_id}` lists its versions"
                )
            raise NotFound(
                f"no model {model_id} in the catalog; `modelyard list` shows what is registered"
            )
        return _stored(row)

    def digests(self, refs: Sequence[tuple[str, Version]]) -> dict[tuple[str, Version], str]:
        """Content digests of the given (model id, version) pairs that are registered."""
        wanted = {(m, v.major, v.minor, v.patch): (m, v) for m, v in refs}
        found: dict[tuple[str, Version], str] = {}
        model_pairs = sorted({tuple(m.split("/", 1)) for m, _ in refs})
        for chunk in _chunks(model_pairs, 400):
            query = (
                select(
                    models.c.domain, models.c.name, *_VERSION_KEY, model_versions.c.content_digest
                )
                .join(models, models.c.id == model_versions.c.model_id)
                .where(tuple_(models.c.domain, models.c.name).in_(chunk))
            )
            for domain, name, major, minor, patch, digest in self.connection.execute(query):
                key = (f"{domain}/{name}", major, minor, patch)
                if key in wanted:
                    found[wanted[key]] = digest
        return found

    def insert(
        self,
        specs: Sequence[tuple[ModelSpec, str | None]],
        now: datetime | None = None,
        digests: Mapping[tuple[str, Version], str] | None = None,
    ) -> None:
        """Register new versions (specs with their source file). Callers check conflicts first.

        `digests`: each spec's `content_digest()` by (id, version), where the caller has
        computed them already (they are a tenth of a large apply)."""
        if specs:
            self.connection.execute(model_versions.insert(), self.version_rows(specs, now, digests))

    def version_rows(
        self,
        specs: Sequence[tuple[ModelSpec, str | None]],
        now: datetime | None = None,
        digests: Mapping[tuple[str, Version], str] | None = None,
    ) -> list[dict[str, Any]]:
        """The model_versions rows `insert` writes (creating the models rows it needs)."""
        known = digests or {}
        now = now or datetime.now(UTC)
        ids = self._model_ids({(s.domain, s.name) for s, _ in specs}, now)
        next_triton = self._next_triton_versions(set(ids.values()))
        rows = []
        # Within one batch, a model's versions get increasing integers in version order.
        for spec, source in sorted(specs, key=lambda item: (item[0].id, item[0].parsed_version)):
            version = spec.parsed_version
            model_pk = ids[(spec.domain, spec.name)]
            triton_version = spec.triton_version or next_triton.get(model_pk, 1)
            next_triton[model_pk] = max(next_triton.get(model_pk, 1), triton_version + 1)
            rows.append(
                {
                    "model_id": model_pk,
                    "version": spec.version,
                    "version_major": version.major,
                    "version_minor": version.minor,
                    "version_patch": version.patch,
                    "framework": spec.framework,
                    "model_type": spec.model_type,
                    "owner_team": spec.owner_team,
                    "dependencies": "\n".join(spec.dependencies),
                    "spec_json": spec.model_dump_json(),
                    "content_digest": known.get((spec.id, version)) or spec.content_digest(),
                    "source": source,
                    "registered_at": now,
                    "triton_version": triton_version,
                    # A name with NUL can never be served (registration refuses it) and
                    # PostgreSQL text cannot hold it: such a legacy row claims no name.
                    "triton_name": None if "\x00" in spec.triton_name else spec.triton_name,
                }
            )
        return rows

    def triton_name_owners(self, names: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each of `names` some registered model compiles to: that model's id and its
        newest version's owner team."""
        found: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(sorted(set(names)), 400):
            query = (
                select(
                    model_versions.c.triton_name,
                    models.c.domain,
                    models.c.name,
                    model_versions.c.owner_team,
                )
                .join(models, models.c.id == model_versions.c.model_id)
                .where(model_versions.c.triton_name.in_(chunk))
                .order_by(*_VERSION_KEY)
            )
            for triton_name, domain, name, owner in self.connection.execute(query):
                found[triton_name] = (f"{domain}/{name}", owner)
        return found

    def owners(self, model_ids: Iterable[str]) -> dict[str, str]:
        """The owner team of each registered model among `model_ids`: its newest
        version's `owner_team`."""
        found: dict[str, str] = {}
        pairs = sorted({tuple(m.split("/", 1)) for m in model_ids})
        for chunk in _chunks(pairs, 400):
            query = (
                select(models.c.domain, models.c.name, model_versions.c.owner_team)
                .join(models, models.c.id == model_versions.c.model_id)
                .where(tuple_(models.c.domain, models.c.name).in_(chunk))
                .order_by(*_VERSION_KEY)
            )
            for domain, name, owner in self.connection.execute(query):
                found[f"{domain}/{name}"] = owner  # the newest comes last
        return found

    def triton_versions_in_use(self, model_ids: Iterable[str]) -> dict[str, set[int]]:
        """The Triton version folders already given to each model's versions."""
        found: dict[str, set[int]] = {}
        pairs = sorted({tuple(m.split("/", 1)) for m in model_ids})
        for chunk in _chunks(pairs, 400):
            query = (
                select(models.c.domain, models.c.name, model_versions.c.triton_version)
                .join(models, models.c.id == model_versions.c.model_id)
                .where(tuple_(models.c.domain, models.c.name).in_(chunk))
            )
            for domain, name, number in self.connection.execute(query):
                found.setdefault(f"{domain}/{name}", set()).add(number)
        return found

    def _next_triton_versions(self, model_pks: set[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for chunk in _chunks(sorted(model_pks), 400):
            query = (
                select(model_versions.c.model_id, func.max(model_versions.c.triton_version))
                .where(model_versions.c.model_id.in_(chunk))
                .group_by(model_versions.c.model_id)
            )
            for model_pk, highest in self.connection.execute(query):
                found[model_pk] = highest + 1
        return found

    def _model_ids(self, names: set[tuple[str, str]], now: datetime) -> dict[tuple[str, str], int]:
        found = self._existing_model_ids(names)
        missing = sorted(names - set(found))
        if missing:
            self.connection.execute(
                models.insert(),
                [{"domain": domain, "name": name, "created_at": now} for domain, name in missing],
            )
            found.update(self._existing_model_ids(set(missing)))
        return found

    def _existing_model_ids(self, names: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for chunk in _chunks(sorted(names), 400):
            query = select(models.c.domain, models.c.name, models.c.id).where(
                tuple_(models.c.domain, models.c.name).in_(chunk)
            )
            for domain, name, pk in self.connection.execute(query):
                found[(domain, name)] = pk
        return found

    def mark(
        self,
        model_id: str,
        version: str,
        mark: Literal["yanked", "deprecated"],
        reason: str | None,
        *,
        now: datetime | None = None,
    ) -> VersionStatus:
        """Set (`reason`) or clear (None) one mark of a version; its status after.

        Raises:
            NotFound: the model or version is not registered.
        """
        self.get(model_id, version)  # NotFound naming what is missing
        domain, _, name = model_id.partition("/")
        parsed = Version.parse(version)
        reason_column, at_column = _MARKS[mark]
        self.connection.execute(
            update(model_versions)
            .where(
                model_versions.c.model_id
                == select(models.c.id)
                .where(models.c.domain == domain, models.c.name == name)
                .scalar_subquery(),
                tuple_(*_VERSION_KEY) == (parsed.major, parsed.minor, parsed.patch),
            )
            .values(
                {
                    reason_column: reason,
                    at_column: None if reason is None else now or datetime.now(UTC),
                }
            )
        )
        return self.get(model_id, version).status

    def marked(self, model_ids: Iterable[str] | None = None) -> dict[str, VersionStatus]:
        """`domain/name@version` -> status of every yanked or deprecated version (of
        `model_ids`, or of all models)."""
        query = (
            select(models.c.domain, models.c.name, model_versions.c.version, *_MARK_COLUMNS)
            .join(models, models.c.id == model_versions.c.model_id)
            .where(
                model_versions.c.yanked_reason.is_not(None)
                | model_versions.c.deprecated_reason.is_not(None)
            )
        )
        wanted = None if model_ids is None else set(model_ids)
        return {
            f"{domain}/{name}@{version}": _status(*marks)
            for domain, name, version, *marks in self.connection.execute(query)
            if wanted is None or f"{domain}/{name}" in wanted
        }

    def aliases(self, model_id: str | None = None) -> list[AliasRecord]:
        query = (
            select(
                models.c.domain,
                models.c.name,
                aliases.c.name,
                model_versions.c.version,
                aliases.c.revision,
                aliases.c.updated_at,
            )
            .join(models, models.c.id == aliases.c.model_id)
            .join(model_versions, model_versions.c.id == aliases.c.version_id)
            .order_by(models.c.domain, models.c.name, aliases.c.name)
        )
        if model_id is not None:
            domain, _, name = model_id.partition("/")
            query = query.where(models.c.domain == domain, models.c.name == name)
        return [
            AliasRecord(f"{d}/{n}", alias, version, revision, _utc(updated))
            for d, n, alias, version, revision, updated in self.connection.execute(query)
        ]

    def set_alias(
        self,
        model_id: str,
        name: str,
        version: str,
        *,
        expect: str | None = None,
        expect_absent: bool = False,
        expect_revision: int | None = None,
        now: datetime | None = None,
    ) -> AliasRecord:
        """Point alias `name` of `model_id` at `version`, compare-and-set.

        With `expect`, the alias must point at that version now (a move away and back in
        between goes unnoticed); with `expect_revision`, it must be at that revision,
        which every move raises by one (no move goes unnoticed); with `expect_absent`, it
        must not exist yet. Otherwise it is set unconditionally.

        Raises:
            NotFound: the model or version is not registered.
            AliasConflict: the alias is not where the caller expected.
            VersionYanked: `version` is yanked.
        """
        now = now or datetime.now(UTC)
        domain, _, model_name = model_id.partition("/")
        parsed = Version.parse(version)
        target = self.connection.execute(
            select(
                models.c.id,
                model_versions.c.id,
                model_versions.c.version,
                model_versions.c.yanked_reason,
            )
            .join(models, models.c.id == model_versions.c.model_id)
            .where(
                models.c.domain == domain,
                models.c.name == model_name,
                tuple_(*_VERSION_KEY) == (parsed.major, parsed.minor, parsed.patch),
            )
        ).first()
        if target is None:
            self.get(model_id, version)  # raises NotFound naming what is missing
            raise NotFound(f"{model_id}@{version} is not registered")  # pragma: no cover
        model_pk, version_pk, version_text, yanked_reason = target
        if yanked_reason is not None:
            raise VersionYanked(
                f"{model_id}@{version_text} is yanked ({yanked_reason}); an alias cannot "
                f"point at a yanked version: choose another version, or run "
                f"`modelyard unyank {model_id}@{version_text}` first; nothing changed"
            )
        current = self.connection.execute(
            select(aliases.c.id, aliases.c.revision, model_versions.c.version)
            .join(model_versions, model_versions.c.id == aliases.c.version_id)
            .where(aliases.c.model_id == model_pk, aliases.c.name == name)
        ).first()
        if current is None:
            if expect is not None or expect_revision is not None:
                wanted = f"at {expect}" if expect is not None else f"at revision {expect_revision}"
                raise AliasConflict(
                    f"alias {name!r} of {model_id} does not exist "
                    f"(expected it {wanted}); nothing changed"
                )
            self.connection.execute(
                aliases.insert().values(
                    model_id=model_pk, name=name, version_id=version_pk, revision=1, updated_at=now
                )
            )
            return AliasRecord(model_id, name, version_text, 1, now)
        alias_pk, revision, current_version = current
        if expect_absent:
            raise AliasConflict(
                f"alias {name!r} of {model_id} already points at {current_version}; nothing changed"
            )
        if expect is not None and Version.parse(expect) != Version.parse(current_version):
            raise AliasConflict(
                f"alias {name!r} of {model_id} points at {current_version}, "
                f"not {expect}; nothing changed (re-read and retry)"
            )
        if expect_revision is not None and expect_revision != revision:
            raise AliasConflict(
                f"alias {name!r} of {model_id} is at revision {revision} (now {current_version}), "
                f"not {expect_revision}: it moved since it was read; nothing changed (re-read "
                "and retry)"
            )
        moved = self.connection.execute(
            update(aliases)
            .where(aliases.c.id == alias_pk, aliases.c.revision == revision)
            .values(version_id=version_pk, revision=revision + 1, updated_at=now)
        )
        if moved.rowcount != 1:
            raise AliasConflict(
                f"alias {name!r} of {model_id} was moved by someone else; "
                "nothing changed (re-read and retry)"
            )
        return AliasRecord(model_id, name, version_text, revision + 1, now)


# Specs decoded by this process, by their stored JSON: a server reading the catalog on
# every request decodes each version once (10,000 versions took 0.6 s to decode, most of
# a dashboard page). Specs are frozen, so sharing one is safe.
_DECODED_MAX = 50_000
_decoded: dict[str, ModelSpec] = {}


def _decoded_spec(spec_json: str) -> ModelSpec:
    spec = _decoded.get(spec_json)
    if spec is None:
        spec = trusted_spec(json.loads(spec_json))
        if len(_decoded) >= _DECODED_MAX:
            _decoded.clear()
        _decoded[spec_json] = spec
    return spec


def _stored(row: Any) -> StoredVersion:
    spec_json, digest, registered_at, source, triton_version, *marks = row
    try:
        spec = _decoded_spec(spec_json)
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(
            f"a stored spec cannot be read ({exc}); the catalog database is "
            "damaged: restore it from a backup"
        ) from exc
    return StoredVersion(spec, digest, _utc(registered_at), source, triton_version, _status(*marks))


def _status(
    yanked_reason: str | None,
    yanked_at: datetime | None,
    deprecated_reason: str | None,
    deprecated_at: datetime | None,
) -> VersionStatus:
    if yanked_reason is None and deprecated_reason is None:
        return ACTIVE
    return VersionStatus(
        yanked_reason=yanked_reason,
        yanked_at=_utc(yanked_at) if yanked_at else None,
        deprecated_reason=deprecated_reason,
        deprecated_at=_utc(deprecated_at) if deprecated_at else None,
    )


def _utc(value: datetime) -> datetime:
    # SQLite gives naive datetimes back; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
