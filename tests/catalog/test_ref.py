"""ModelRef: `domain/name`, `@version` and `@alias`, parsed once, taken by every command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard import ModelRef, Workspace
from modelyard.errors import InputError, NotFound
from tests.support.netflix import NETFLIX_MODELS
from tests.support.workspaces import Cli

NAME = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)
ALIAS = NAME.filter(lambda a: not a.isdigit())
VERSION = st.from_regex(
    r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})(\.(0|[1-9][0-9]{0,3}))?", fullmatch=True
)


def test_the_three_forms() -> None:
    assert ModelRef.parse("search/ranker") == ModelRef("search/ranker")
    assert ModelRef.parse("search/ranker@1.5") == ModelRef("search/ranker", version="1.5")
    alias = ModelRef.parse("search/ranker@production")
    assert alias == ModelRef("search/ranker", alias="production")
    assert (alias.domain, alias.name) == ("search", "ranker")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ranker", "must be written domain/name"),
        ("search/Ranker", "not allowed"),
        ("search/ranker@", "nothing after '@'"),
        ("search/ranker@1", "MAJOR.MINOR"),
        ("search/ranker@1.x", "MAJOR.MINOR"),
        ("search/ranker@Prod", "alias 'Prod' is not allowed"),
        ("search/ranker@a@b", "alias 'a@b' is not allowed"),
    ],
)
def test_malformed_references_name_the_text_and_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as caught:
        ModelRef.parse(text)
    assert caught.value.message.startswith(f"{text}:")


def test_a_version_only_reference_refuses_an_alias() -> None:
    with pytest.raises(InputError, match="expected search/ranker@VERSION"):
        ModelRef.parse("search/ranker@production", allow_alias=False)


@given(domain=NAME, name=NAME, suffix=st.one_of(st.none(), VERSION, ALIAS))
def test_parse_and_str_round_trip(domain: str, name: str, suffix: str | None) -> None:
    text = f"{domain}/{name}" + (f"@{suffix}" if suffix else "")
    ref = ModelRef.parse(text)
    assert str(ref) == text and ModelRef.parse(str(ref)) == ref
    assert (ref.version or ref.alias) == suffix


def test_an_alias_may_not_look_like_a_version(netflix: Workspace) -> None:
    with pytest.raises(InputError, match="looks like a version"):
        netflix.set_alias("search/query_understanding", "2", "1.5")


def test_show_deps_and_impact_follow_an_alias(netflix: Workspace, cli: Cli) -> None:
    netflix.apply([NETFLIX_MODELS])
    netflix.set_alias("search/query_understanding", "production", "1.5")
    shown = cli.json("show", "search/query_understanding@production")
    assert shown["ref"] == "search/query_understanding@1.5"
    assert shown["aliases"] == {"production": "1.5"}
    netflix.set_alias("search/content_retrieval", "production", "2.0")
    assert cli.json("deps", "search/content_retrieval@production")["dependencies"] == [
        "search/query_understanding@1.5"
    ]
    assert cli.json("impact", "search/query_understanding@production")["dependents"] == [
        "search/content_retrieval@2.0"
    ]
    missing = cli("show", "search/query_understanding@canary", expect=3)
    assert "has no alias 'canary'" in missing.stderr
    with pytest.raises(NotFound, match="no alias 'canary'"):
        netflix.show("search/query_understanding@canary")
