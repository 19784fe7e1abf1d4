"""Model versions (`MAJOR.MINOR[.PATCH]`) and dependency version constraints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.catalog.version import Version, VersionConstraint

CANDIDATES = [
    "0.9",
    "1.0",
    "1.0.0",
    "1.0.1",
    "1.1",
    "1.2",
    "1.2.5",
    "1.9.9",
    "1.10",
    "2.0",
    "2.1",
    "2.1.0",
    "2.1.1",
    "2.2",
    "3.0",
]


def allowed(constraint: str) -> list[str]:
    parsed = VersionConstraint.parse(constraint)
    return [v for v in CANDIDATES if parsed.allows(Version.parse(v))]


# Version ----------------------------------------------------------------------------


def test_parse_fields_and_spelling() -> None:
    version = Version.parse("2.1")
    assert (version.major, version.minor, version.patch) == (2, 1, 0)
    assert str(version) == "2.1"  # keeps the spelling
    assert version.canonical == "2.1.0"
    assert str(Version.parse("2.1.3")) == "2.1.3"
    assert str(Version(1, 2)) == "1.2.0"


def test_short_and_long_forms_are_one_version() -> None:
    assert Version.parse("1.0") == Version.parse("1.0.0")
    assert hash(Version.parse("1.0")) == hash(Version.parse("1.0.0"))
    assert len({Version.parse("1.0"), Version.parse("1.0.0")}) == 1
    assert not Version.parse("1.0") < Version.parse("1.0.0")


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("1.9", "1.10"),
        ("1.99.99", "2.0"),
        ("1.0", "1.0.1"),
        ("0.9", "1.0"),
        ("1.2.9", "1.2.10"),
        ("9.0", "10.0"),
    ],
)
def test_ordering_is_numeric(low: str, high: str) -> None:
    assert Version.parse(low) < Version.parse(high)
    assert Version.parse(high) > Version.parse(low)
    assert max(Version.parse(high), Version.parse(low)) == Version.parse(high)


def test_sorting() -> None:
    texts = ["1.10", "2.0", "1.9", "1.99.99", "0.1", "1.9.1"]
    assert [str(v) for v in sorted(Version.parse(t) for t in texts)] == [
        "0.1",
        "1.9",
        "1.9.1",
        "1.10",
        "1.99.99",
        "2.0",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.",
        ".1",
        "1.0.0.0",
        "v1.0",
        "1.0a1",
        "1.0-rc1",
        "01.0",
        "1.00",
        "1.0.01",
        "-1.0",
        "1.-1",
        " 1.0",
        "1.0 ",
        "1,0",
        "a.b",
        "1.x",
        "1.0.0+local",
        "1234567890.0",
    ],
)
def test_invalid_versions_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="MAJOR.MINOR"):
        Version.parse(text)


@given(
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.booleans(),
    st.booleans(),
)
def test_ordering_matches_tuple_ordering(
    a: tuple[int, int, int], b: tuple[int, int, int], short_a: bool, short_b: bool
) -> None:
    def spell(t: tuple[int, int, int], short: bool) -> str:
        return f"{t[0]}.{t[1]}" if short and t[2] == 0 else f"{t[0]}.{t[1]}.{t[2]}"

    va, vb = Version.parse(spell(a, short_a)), Version.parse(spell(b, short_b))
    assert (va < vb) == (a < b)
    assert (va == vb) == (a == b)
    assert (va <= vb) == (a <= b)
    assert (va.major, va.minor, va.patch) == a
    assert Version.parse(va.canonical) == va


# VersionConstraint ------------------------------------------------------------------


def test_range() -> None:
    assert allowed(">=1.0,<2") == ["1.0", "1.0.0", "1.0.1", "1.1", "1.2", "1.2.5", "1.9.9", "1.10"]


def test_exact() -> None:
    assert allowed("==2.1") == ["2.1", "2.1.0"]
    assert allowed("==2.1.1") == ["2.1.1"]


def test_compatible_release() -> None:
    assert allowed("~=1.2") == ["1.2", "1.2.5", "1.9.9", "1.10"]
    assert allowed("~=1.2.0") == ["1.2", "1.2.5"]


def test_bare_version_means_exactly_that_version() -> None:
    assert VersionConstraint.parse("1.0").text == "==1.0"
    assert allowed("1.0") == ["1.0", "1.0.0"]
    assert VersionConstraint.parse("1.0") == VersionConstraint.parse("==1.0")


@pytest.mark.parametrize("text", ["", "*", " "])
def test_empty_and_star_mean_any(text: str) -> None:
    constraint = VersionConstraint.parse(text)
    assert constraint.text == ""
    assert str(constraint) == ""
    assert allowed(text) == CANDIDATES


def test_other_operators_and_spaces() -> None:
    assert allowed("!=2.1") == [v for v in CANDIDATES if v not in ("2.1", "2.1.0")]
    assert allowed(">2.1,<=3") == ["2.1.1", "2.2", "3.0"]
    assert allowed(" >= 1.0 , < 2 ") == allowed(">=1.0,<2")
    assert VersionConstraint.parse(" >= 1.0 , < 2 ").text == ">=1.0,<2"


@pytest.mark.parametrize(
    "text",
    [
        ">>1",
        "abc",
        "1",
        "1.0.0.0",
        "1.01",
        "==",
        ">=",
        "1.x",
        ">=1.0;<2",
        "=>1.0",
        "<<2",
        ">=1.0 <2",
        "latest",
    ],
)
def test_invalid_constraints_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not valid"):
        VersionConstraint.parse(text)


@given(
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.integers(0, 50), st.integers(0, 50)),
)
def test_range_constraint_matches_tuple_comparison(
    version: tuple[int, int, int], low: tuple[int, int], high: tuple[int, int]
) -> None:
    constraint = VersionConstraint.parse(f">={low[0]}.{low[1]},<{high[0]}.{high[1]}")
    parsed = Version.parse("{}.{}.{}".format(*version))
    expected = (*low, 0) <= version < (*high, 0)
    assert constraint.allows(parsed) == expected


@given(
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
)
def test_exact_constraint_matches_equality(
    version: tuple[int, int, int], pinned: tuple[int, int, int]
) -> None:
    constraint = VersionConstraint.parse("{}.{}.{}".format(*pinned))
    assert constraint.allows(Version.parse("{}.{}.{}".format(*version))) == (version == pinned)
