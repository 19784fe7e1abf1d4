"""Which versions a selection holds: the alias rule for dependencies, and yanked versions."""

from __future__ import annotations

import pytest

from modelyard import ModelRef, VersionYanked, Workspace
from modelyard.selection import select
from tests.support.netflix import NETFLIX_MODELS, register_query_understanding

QU = "search/query_understanding"
CR = "search/content_retrieval"

RERANKER = """
name: reranker
version: "1.0"
model_type: ranking
framework: onnx
artifact: ../artifacts/content_retrieval.onnx
domain: search
owner_team: search_experience
dependencies:
  - search/query_understanding>=1.6
"""


@pytest.fixture
def production(netflix: Workspace) -> Workspace:
    """The Netflix example with a newer query_understanding@1.6 (say, broken), and alias
    `production` on query_understanding@1.5 and content_retrieval@2.0 (which needs
    query_understanding>=1.0)."""
    register_query_understanding(netflix, "1.6")
    netflix.set_alias(QU, "production", "1.5")
    netflix.set_alias(CR, "production", "2.0")
    return netflix


def test_in_an_alias_selection_a_dependency_resolves_to_the_aliased_version(
    production: Workspace,
) -> None:
    view = select(production.store, alias="production")
    assert view.resolution.resolved[(f"{CR}@2.0", QU)] == f"{QU}@1.5"
    assert sorted(view.specs) == [f"{CR}@2.0", f"{QU}@1.5"]
    assert view.problems() == []
    # The default selection is unchanged: the highest version the constraint allows.
    newest = select(production.store)
    assert newest.resolution.resolved[(f"{CR}@2.0", QU)] == f"{QU}@1.6"


def test_a_constraint_the_aliased_version_does_not_meet_takes_the_highest_allowed(
    production: Workspace,
) -> None:
    production.apply_text(RERANKER, base_dir=NETFLIX_MODELS)
    production.set_alias("search/reranker", "production", "1.0")
    view = select(production.store, alias="production")
    assert view.resolution.resolved[("search/reranker@1.0", QU)] == f"{QU}@1.6"
    assert view.resolution.resolved[(f"{CR}@2.0", QU)] == f"{QU}@1.5"
    assert {f"{QU}@1.5", f"{QU}@1.6"} <= set(view.specs)


def test_a_yanked_version_is_never_chosen(production: Workspace) -> None:
    production.yank(f"{QU}@1.6", "wrong tokenizer")
    newest = select(production.store)
    assert f"{QU}@1.5" in newest.roots and f"{QU}@1.6" not in newest.specs
    assert newest.resolution.resolved[(f"{CR}@2.0", QU)] == f"{QU}@1.5"
    # Nor through a pin on it.
    production.unyank(f"{QU}@1.6")
    production.set_alias(QU, "canary", "1.6")
    production.yank(f"{QU}@1.5", "leaks memory", force=True)
    production.yank(f"{QU}@1.6", "wrong tokenizer", force=True)
    view = select(production.store, alias="production")
    [yanked_alias] = [p for p in view.problems() if p.code == "alias-yanked"]
    assert "alias 'production' points at search/query_understanding@1.5, which is yanked" in (
        yanked_alias.message
    )
    [unresolved] = [p for p in view.problems() if p.code == "unsatisfiable-dependency"]
    assert "1.5 would, but it is yanked (leaks memory)" in unresolved.message
    assert "1.6 would, but it is yanked (wrong tokenizer)" in unresolved.message
    assert f"{QU}@1.5" not in view.specs


def test_selecting_a_model_whose_every_version_is_yanked_says_so(production: Workspace) -> None:
    production.yank(f"{QU}@1.6", "wrong tokenizer")
    production.yank(f"{QU}@1.5", "leaks memory", force=True)
    assert not any(ref.startswith(QU) for ref in select(production.store).roots)
    with pytest.raises(VersionYanked, match=f"every version of {QU} is yanked"):
        select(production.store, model_ids=[QU])


def test_named_roots_follow_the_same_rules(production: Workspace) -> None:
    def named(*refs: str, alias: str | None = None) -> list[str]:
        view = select(production.store, alias=alias, refs=[ModelRef.parse(r) for r in refs])
        return sorted(view.specs)

    # `deploy search/content_retrieval@production`: an alias selection of production.
    assert named(f"{CR}@production") == [f"{CR}@2.0", f"{QU}@1.5"]
    assert named(CR, alias="production") == [f"{CR}@2.0", f"{QU}@1.5"]
    assert named(CR) == [f"{CR}@2.0", f"{QU}@1.6"]
    production.yank(f"{QU}@1.6", "wrong tokenizer")
    assert named(QU) == [f"{QU}@1.5"]
    with pytest.raises(VersionYanked, match=rf"{QU}@1\.6 is yanked \(wrong tokenizer\)"):
        named(f"{QU}@1.6")
    production.yank(f"{QU}@1.5", "leaks memory", force=True)
    with pytest.raises(VersionYanked, match="alias 'production' points at it"):
        named(f"{QU}@production")
    with pytest.raises(VersionYanked, match=f"every version of {QU} is yanked"):
        named(QU)
