"""Content identity in the catalog: re-applying unchanged manifests changes nothing, a
real conflict names its fields, and migration 0006 recomputes digests of the old rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from sqlalchemy import bindparam, select, update

from modelyard import VersionConflict, Workspace, load_manifests, parse_manifest_text
from modelyard.catalog.spec import ModelSpec
from modelyard.registry import apply_documents
from modelyard.store import CatalogStore, head_revision
from modelyard.store.rows import model_versions, models
from modelyard.store.store import _alembic_config, create_catalog_engine
from tests.support.catalogs import insert_at_old_revision
from tests.support.digests import whole_spec_digest
from tests.support.netflix import NETFLIX_MODELS, NETFLIX_REFS

PREVIOUS_HEAD = "0005_access"
RANKER = """
name: ranker
version: "1.0"
model_type: classification
framework: onnx
domain: shop
owner_team: shop_ml
resource_requirements: {gpu_memory_mb: 2048}
"""


def _user_embedding_text() -> str:
    text = (NETFLIX_MODELS / "recommendation.yaml").read_text()
    return text.split("\n---\n")[0]


def test_the_netflix_catalog_reapplies_unchanged(workspace: Workspace) -> None:
    first = workspace.apply([NETFLIX_MODELS])
    assert first.created == NETFLIX_REFS
    again = workspace.apply([NETFLIX_MODELS])
    assert (again.created, again.unchanged) == ([], NETFLIX_REFS)
    documents = {d.spec.ref: d.spec for d in load_manifests([NETFLIX_MODELS])}
    for stored in workspace.store.versions():
        assert stored.content_digest == documents[stored.spec.ref].content_digest()
        assert stored.content_digest == stored.spec.content_digest()


def test_a_real_conflict_names_exactly_the_differing_fields(workspace: Workspace) -> None:
    workspace.apply([NETFLIX_MODELS])
    text = _user_embedding_text()
    # Defaults written out, and the same numbers spelled as floats: still unchanged.
    respelled = text.replace("cpu_cores: 4", "cpu_cores: 4.0\n  instance_count: 1") + (
        "\nlabels: {}\nplacement: {replicas: null}\ntriton_version: null\n"
    )
    result = workspace.apply_text(respelled, source="respelled.yaml", base_dir=NETFLIX_MODELS)
    assert result.unchanged == ["recommendation/user_embedding@1.0"]
    changed = text.replace(
        "owner_team: recommendation_platform", "owner_team: personalisation"
    ).replace("gpu_memory_mb: 6144", "gpu_memory_mb: 8192")
    with pytest.raises(VersionConflict) as caught:
        workspace.apply_text(changed, source="changed.yaml", base_dir=NETFLIX_MODELS)
    assert caught.value.differing_fields == ["owner_team", "resource_requirements.gpu_memory_mb"]
    assert caught.value.message.startswith(
        "changed.yaml:3: recommendation/user_embedding@1.0 is already registered with different "
        "owner_team, resource_requirements.gpu_memory_mb; a published version is immutable"
    )
    # Back to a default is a change too.
    to_default = text.replace("max_batch_size: 128", "max_batch_size: 32")
    with pytest.raises(VersionConflict, match=r"different resource_requirements\.max_batch_size;"):
        workspace.apply_text(to_default, source="default.yaml", base_dir=NETFLIX_MODELS)


def test_a_stale_stored_digest_neither_blocks_nor_hides_fields(store: CatalogStore) -> None:
    apply_documents(store, parse_manifest_text(RANKER))
    with store.transaction() as tx:
        tx.connection.execute(update(model_versions).values(content_digest="0" * 64))
    assert apply_documents(store, parse_manifest_text(RANKER)).unchanged == ["shop/ranker@1.0"]
    with pytest.raises(VersionConflict, match="already registered with different owner_team;"):
        apply_documents(store, parse_manifest_text(RANKER.replace("shop_ml", "search_ml")))


def _generated_specs(count: int) -> list[ModelSpec]:
    specs = []
    for i in range(count):
        data: dict[str, Any] = {
            "name": f"model_{i % 37}",
            "version": f"1.{i // 37}",
            "model_type": "classification",
            "framework": "onnx",
            "domain": "bulk",
            "owner_team": f"team_{i % 5}",
        }
        if i % 2:
            data["resource_requirements"] = {"gpu_memory_mb": 1024 * (i % 7), "cpu_cores": 2}
        if i % 3:
            data["labels"] = {"shard": str(i % 11)}
        specs.append(ModelSpec.model_validate(data))
    return specs


def _manifest_text(spec: ModelSpec) -> str:
    """A manifest (JSON is YAML) holding what the spec's author wrote."""
    return json.dumps(spec.model_dump(mode="json", exclude_defaults=True))


def _set_revision(url: str, revision: str, *, down: bool) -> None:
    engine = create_catalog_engine(url)
    with engine.connect() as connection:
        move = command.downgrade if down else command.upgrade
        move(_alembic_config(connection), revision)
        connection.commit()
    engine.dispose()


def _stored_digests(url: str) -> dict[str, str]:
    """`domain/name@version` -> the content_digest column, read with plain SQL."""
    engine = create_catalog_engine(url)
    query = select(
        models.c.domain, models.c.name, model_versions.c.version, model_versions.c.content_digest
    ).join(models, models.c.id == model_versions.c.model_id)
    with engine.connect() as connection:
        found = {f"{d}/{n}@{v}": digest for d, n, v, digest in connection.execute(query)}
    engine.dispose()
    return found


def test_migration_0006_recomputes_digests_of_the_old_rule(catalog_url: str) -> None:
    netflix = load_manifests([NETFLIX_MODELS])
    # More versions than the migration's batches hold, so that batching is exercised.
    specs = [d.spec for d in netflix] + _generated_specs(2345)
    by_ref = {s.ref: s for s in specs}
    # A catalog as the previous release left it: schema at 0005, digests of the whole spec.
    _set_revision(catalog_url, PREVIOUS_HEAD, down=True)
    engine = create_catalog_engine(catalog_url)
    with engine.connect() as connection:
        insert_at_old_revision(connection, specs, PREVIOUS_HEAD)
        rows = connection.execute(select(model_versions.c.id, model_versions.c.spec_json)).all()
        old = []
        for pk, spec_json in rows:
            data = json.loads(spec_json)
            ref = f"{data['domain']}/{data['name']}@{data['version']}"
            old.append({"pk": pk, "old": whole_spec_digest(by_ref[ref])})
        connection.execute(
            update(model_versions)
            .where(model_versions.c.id == bindparam("pk"))
            .values(content_digest=bindparam("old")),
            old,
        )
        connection.commit()
    engine.dispose()
    before = _stored_digests(catalog_url)
    assert len(before) == len(specs)
    assert all(before[ref] == whole_spec_digest(spec) for ref, spec in by_ref.items())
    assert all(before[ref] != spec.content_digest() for ref, spec in by_ref.items())

    store = CatalogStore.open(catalog_url)  # migrates to head
    try:
        assert store.schema_revision() == head_revision()
        after = _stored_digests(catalog_url)
        assert after == {ref: spec.content_digest() for ref, spec in by_ref.items()}
        result = apply_documents(store, netflix)
        assert (result.created, result.unchanged) == ([], NETFLIX_REFS)
        bulk = [
            d for s in specs[len(netflix) :: 97] for d in parse_manifest_text(_manifest_text(s))
        ]
        assert apply_documents(store, bulk).unchanged == sorted(d.spec.ref for d in bulk)
    finally:
        store.dispose()

    # The downgrade puts the old rule's digests back; upgrading again, the new ones.
    _set_revision(catalog_url, PREVIOUS_HEAD, down=True)
    assert _stored_digests(catalog_url) == before
    _set_revision(catalog_url, "head", down=False)
    assert _stored_digests(catalog_url) == after


def test_migration_0006_leaves_a_damaged_spec_to_doctor(catalog_url: str) -> None:
    _set_revision(catalog_url, PREVIOUS_HEAD, down=True)
    spec = parse_manifest_text(RANKER)[0].spec
    engine = create_catalog_engine(catalog_url)
    with engine.connect() as connection:
        insert_at_old_revision(connection, [spec], PREVIOUS_HEAD)
        connection.execute(
            update(model_versions).values(spec_json="{not json", content_digest="a" * 64)
        )
        connection.commit()
    engine.dispose()
    store = CatalogStore.open(catalog_url)
    try:
        assert store.schema_revision() == head_revision()
        assert _stored_digests(catalog_url) == {"shop/ranker@1.0": "a" * 64}
        assert any("cannot be read" in p for p in store.integrity_problems())
    finally:
        store.dispose()
