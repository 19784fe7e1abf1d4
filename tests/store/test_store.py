"""The catalog database: immutability, aliases with compare-and-set, migrations, WAL."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from modelyard import AliasConflict, NotFound, VersionConflict, Workspace, parse_manifest_text
from modelyard.registry import apply_documents
from modelyard.store import CatalogStore, head_revision
from modelyard.store.rows import metadata
from tests.support.catalogs import insert_at_old_revision, requires_sqlite

RANKER = """
name: ranker
version: "1.0"
model_type: classification
framework: onnx
domain: shop
owner_team: shop_ml
resource_requirements: {gpu_memory_mb: 2048}
sla_requirements: {max_latency_p99_ms: 40}
"""


def test_migrations_match_the_table_definitions(store: CatalogStore) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
    assert store.schema_revision() == head_revision()


@requires_sqlite
def test_sqlite_runs_in_wal_mode_with_foreign_keys(store: CatalogStore) -> None:
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_open_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    from modelyard import StorageError

    with pytest.raises(StorageError, match="modelyard init"):
        CatalogStore.open(f"sqlite:///{tmp_path / 'missing.db'}")


def test_a_published_version_is_immutable(store: CatalogStore) -> None:
    apply_documents(store, parse_manifest_text(RANKER))
    changed = RANKER.replace("max_latency_p99_ms: 40", "max_latency_p99_ms: 30").replace(
        "gpu_memory_mb: 2048", "gpu_memory_mb: 4096"
    )
    with pytest.raises(VersionConflict) as caught:
        apply_documents(store, parse_manifest_text(changed))
    assert caught.value.differing_fields == [
        "resource_requirements.gpu_memory_mb",
        "sla_requirements.max_latency_p99_ms",
    ]
    assert "shop/ranker@1.0" in caught.value.message
    assert "new version" in caught.value.message
    assert store.get("shop/ranker").spec.sla_requirements.max_latency_p99_ms == 40


def test_same_version_spelled_differently_is_the_same_version(store: CatalogStore) -> None:
    apply_documents(store, parse_manifest_text(RANKER))
    respelled = RANKER.replace('version: "1.0"', 'version: "1.0.0"')
    assert apply_documents(store, parse_manifest_text(respelled)).unchanged == ["shop/ranker@1.0.0"]
    changed = respelled.replace("max_latency_p99_ms: 40", "max_latency_p99_ms: 41")
    with pytest.raises(VersionConflict, match="sla_requirements.max_latency_p99_ms"):
        apply_documents(store, parse_manifest_text(changed))


def test_many_versions_coexist_and_newest_wins(store: CatalogStore) -> None:
    for version in ("1.0", "1.10", "1.9", "2.0.1"):
        apply_documents(store, parse_manifest_text(RANKER.replace('"1.0"', f'"{version}"')))
    assert store.get("shop/ranker").spec.version == "2.0.1"
    assert store.get("shop/ranker", "1.10").spec.version == "1.10"
    assert [v.spec.version for v in store.versions(["shop/ranker"])] == [
        "1.0",
        "1.9",
        "1.10",
        "2.0.1",
    ]


def test_alias_compare_and_set(store: CatalogStore) -> None:
    for version in ("1.0", "1.1", "1.2"):
        apply_documents(store, parse_manifest_text(RANKER.replace('"1.0"', f'"{version}"')))
    first = store.set_alias("shop/ranker", "production", "1.0", expect_absent=True)
    assert (first.version, first.revision) == ("1.0", 1)
    with pytest.raises(AliasConflict, match="already points at 1.0"):
        store.set_alias("shop/ranker", "production", "1.1", expect_absent=True)
    moved = store.set_alias("shop/ranker", "production", "1.1", expect="1.0")
    assert (moved.version, moved.revision) == ("1.1", 2)
    with pytest.raises(AliasConflict, match="points at 1.1, not 1.0"):
        store.set_alias("shop/ranker", "production", "1.2", expect="1.0")
    with pytest.raises(AliasConflict, match="does not exist"):
        store.set_alias("shop/ranker", "canary", "1.2", expect="1.1")
    forced = store.set_alias("shop/ranker", "production", "1.2")
    assert forced.revision == 3
    assert [(a.name, a.version) for a in store.aliases("shop/ranker")] == [("production", "1.2")]


def test_alias_compare_and_set_on_the_revision_notices_a_move_and_back(
    store: CatalogStore,
) -> None:
    """ABA: A reads 1.0; B moves it to 1.1, C back to 1.0. `expect="1.0"` cannot tell,
    the revision can."""
    for version in ("1.0", "1.1", "1.2"):
        apply_documents(store, parse_manifest_text(RANKER.replace('"1.0"', f'"{version}"')))
    read = store.set_alias("shop/ranker", "production", "1.0")
    store.set_alias("shop/ranker", "production", "1.1", expect="1.0")
    store.set_alias("shop/ranker", "production", "1.0", expect="1.1")
    with pytest.raises(AliasConflict, match="is at revision 3 .now 1.0., not 1: it moved"):
        store.set_alias("shop/ranker", "production", "1.2", expect_revision=read.revision)
    assert store.aliases("shop/ranker")[0].version == "1.0"
    with pytest.raises(AliasConflict, match="does not exist .expected it at revision 1."):
        store.set_alias("shop/ranker", "canary", "1.2", expect_revision=1)
    moved = store.set_alias("shop/ranker", "production", "1.2", expect_revision=3)
    assert (moved.version, moved.revision) == ("1.2", 4)
    # The version form is fooled by the same history: that is the documented difference.
    store.set_alias("shop/ranker", "production", "1.0")
    assert store.set_alias("shop/ranker", "production", "1.1", expect="1.0").revision == 6


def test_alias_to_unknown_version_or_model_is_not_found(store: CatalogStore) -> None:
    apply_documents(store, parse_manifest_text(RANKER))
    with pytest.raises(NotFound, match="no version 9.0"):
        store.set_alias("shop/ranker", "production", "9.0")
    with pytest.raises(NotFound, match="no model shop/other"):
        store.set_alias("shop/other", "production", "1.0")


def _register_batch(args: tuple[str, int]) -> int:
    url, worker = args
    store = CatalogStore.open(url)
    docs = [
        f"""
name: m{worker}_{i}
version: "1.0"
model_type: embedding
framework: onnx
domain: d{worker % 2}
owner_team: team{worker}
dependencies: [{"d0/m0_0" if worker and i == 0 else ""}]
""".replace("dependencies: []", "")
        for i in range(40)
    ]
    created = 0
    for doc in docs:
        created += len(apply_documents(store, parse_manifest_text(doc)).created)
    store.dispose()
    return created


@pytest.mark.slow
@pytest.mark.every_backend
def test_concurrent_writers_lose_nothing(store: CatalogStore) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    _register_batch((url, 0))  # worker 0 first: the others depend on its first model
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        created = pool.map(_register_batch, [(url, w) for w in range(1, 5)])
    assert created == [40, 40, 40, 40]
    versions = store.versions()
    assert len(versions) == 200
    assert len({v.spec.ref for v in versions}) == 200


def test_workspace_relative_sqlite_url(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "modelyard.yaml").write_text("catalog:\n  url: sqlite:///state/my.db\n")
    workspace = Workspace.init(root)
    assert workspace.db_url == f"sqlite:///{root / 'state' / 'my.db'}"
    assert (root / "state" / "my.db").is_file()
    workspace.close()


def test_triton_versions_are_given_once_and_can_be_requested(store: CatalogStore) -> None:
    from modelyard import InputError

    apply_documents(store, parse_manifest_text(RANKER))
    apply_documents(store, parse_manifest_text(RANKER.replace('"1.0"', '"1.1"')))
    numbers = {v.spec.version: v.triton_version for v in store.versions(["shop/ranker"])}
    assert numbers == {"1.0": 1, "1.1": 2}
    apply_documents(
        store, parse_manifest_text(RANKER.replace('"1.0"', '"2.0"') + "triton_version: 7\n")
    )
    apply_documents(store, parse_manifest_text(RANKER.replace('"1.0"', '"2.1"')))
    numbers = {v.spec.version: v.triton_version for v in store.versions(["shop/ranker"])}
    assert numbers == {"1.0": 1, "1.1": 2, "2.0": 7, "2.1": 8}
    with pytest.raises(InputError, match="folder 7 is already given"):
        apply_documents(
            store, parse_manifest_text(RANKER.replace('"1.0"', '"3.0"') + "triton_version: 7\n")
        )


def test_migration_0002_numbers_existing_versions(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from modelyard.store.store import _alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001_catalog")
        connection.execute(
            text(
                "INSERT INTO models (id, domain, name, created_at) "
                "VALUES (1, 'shop', 'ranker', '2026-01-01')"
            )
        )
        for pk, version, registered in ((1, "2.0", "2026-01-02"), (2, "1.0", "2026-01-03")):
            major, minor = version.split(".")
            spec = parse_manifest_text(RANKER.replace('"1.0"', f'"{version}"'))[0].spec
            connection.execute(
                text(
                    "INSERT INTO model_versions (id, model_id, version, version_major, version_minor, "
                    "version_patch, framework, model_type, owner_team, dependencies, spec_json, "
                    "content_digest, registered_at) VALUES (:id, 1, :v, :ma, :mi, 0, 'onnx', "
                    "'classification', 'shop_ml', '', :spec, :digest, :at)"
                ),
                {
                    "id": pk,
                    "v": version,
                    "ma": int(major),
                    "mi": int(minor),
                    "spec": spec.model_dump_json(),
                    "digest": spec.content_digest(),
                    "at": registered,
                },
            )
    engine.dispose()
    store = CatalogStore.open(url)
    assert store.schema_revision() == head_revision()
    numbers = {v.spec.version: v.triton_version for v in store.versions()}
    assert numbers == {"2.0": 1, "1.0": 2}  # registration order, as they were served
    store.dispose()


@requires_sqlite
def test_a_writer_waits_out_a_lock_held_beyond_the_busy_timeout(
    store: CatalogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3
    import threading
    import time

    from modelyard.store import store as store_module

    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = store.engine.url.database
    assert path is not None
    impatient = CatalogStore.open(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write
    released = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        began = time.monotonic()
        created = apply_documents(
            impatient,
            parse_manifest_text(
                "name: waited\nversion: '1.0'\nmodel_type: t\nframework: onnx\ndomain: d\n"
                "owner_team: t\n"
            ),
        ).created
        assert created == ["d/waited@1.0"]
        assert time.monotonic() - began > 0.5  # it did wait for the lock, and then wrote
    finally:
        released.join()
        holder.close()
        impatient.dispose()


def _at_revision(url: str, revision: str) -> None:
    from alembic import command

    from modelyard.store.store import _alembic_config, create_catalog_engine

    engine = create_catalog_engine(url)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        move = command.downgrade if current and current > revision else command.upgrade
        move(_alembic_config(connection), revision)
        connection.commit()
    engine.dispose()


def test_migration_0008_keeps_versions_active_and_downgrades(catalog_url: str) -> None:
    from modelyard.store.store import create_catalog_engine

    # A catalog as 0007 left it, holding two versions.
    _at_revision(catalog_url, "0007_deployment_holder")
    specs = [
        parse_manifest_text(RANKER.replace('"1.0"', f'"{version}"'))[0].spec
        for version in ("1.0", "1.1")
    ]
    engine = create_catalog_engine(catalog_url)
    with engine.connect() as connection:
        insert_at_old_revision(connection, specs, "0007_deployment_holder")
        connection.commit()
    engine.dispose()

    store = CatalogStore.open(catalog_url)  # migrates to head
    try:
        assert store.schema_revision() == head_revision()
        assert [v.status.status for v in store.versions()] == ["active", "active"]
        with store.transaction() as tx:
            tx.mark("shop/ranker", "1.1", "yanked", "broken")
        assert store.get("shop/ranker", "1.1").status.yanked_reason == "broken"
    finally:
        store.dispose()
    # Down again: the marks go, every version stays.
    _at_revision(catalog_url, "0007_deployment_holder")
    engine = create_catalog_engine(catalog_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM model_versions")).scalar() == 2
    engine.dispose()
    store = CatalogStore.open(catalog_url)
    try:
        assert {v.spec.version: v.status.status for v in store.versions()} == {
            "1.0": "active",
            "1.1": "active",
        }
    finally:
        store.dispose()


def test_an_alias_never_points_at_a_yanked_version(store: CatalogStore) -> None:
    from modelyard import VersionYanked

    apply_documents(store, parse_manifest_text(RANKER))
    with store.transaction() as tx:
        tx.mark("shop/ranker", "1.0.0", "yanked", "wrong weights")
    with pytest.raises(VersionYanked, match=r"shop/ranker@1\.0 is yanked \(wrong weights\)"):
        store.set_alias("shop/ranker", "production", "1.0")
    assert store.aliases() == []
    assert store.get("shop/ranker").status.is_yanked  # still there, marked


def test_head_read_from_the_migration_files_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from modelyard.store.store import _MIGRATIONS, known_revisions

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert head_revision() == script.get_current_head()
    assert set(known_revisions()) == {s.revision for s in script.walk_revisions()}
