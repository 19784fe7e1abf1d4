"""Model versions (`MAJOR.MINOR[.PATCH]`) and dependency version constraints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version as PackagingVersion

# One comparison of a constraint: the operators model versions need, versions of one to
# three numbers, and a trailing `.*` only where PEP 440 allows it (== and !=).
_CLAUSE_PATTERN = re.compile(
    r"(?:(?:==|!=)\d+(?:\.\d+){0,2}(?:\.\*)?|(?:>=|<=|>|<)\d+(?:\.\d+){0,2}|~=\d+(?:\.\d+){1,2})"
)
VERSION_PATTERN = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(?:\.(0|[1-9][0-9]{0,8}))?")


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """A model version. `1.0` and `1.0.0` are the same version; `text` keeps the spelling."""

    major: int
    minor: int
    patch: int = 0
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, value: str) -> Version:
        return _parse_version(value)

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}"

    @property
    def canonical(self) -> str:
        """`MAJOR.MINOR.PATCH`, the form that identifies a version in the catalog."""
        return f"{self.major}.{self.minor}.{self.patch}"


@lru_cache(maxsize=65536)
def _parse_version(value: str) -> Version:
    match = VERSION_PATTERN.fullmatch(value)
    if match is None:
        raise ValueError(
            f"version {value!r} must be MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. '1.0' or '2.1.3'"
        )
    major, minor, patch = match.groups()
    return Version(int(major), int(minor), int(patch or 0), value)


@dataclass(frozen=True, slots=True)
class VersionConstraint:
    """A PEP 440 style specifier set over model versions: `>=1.0,<2`, `==2.1`, `~=1.2`.

    Empty means any version. A bare version (`1.0`) means exactly that version.
    """

    text: str
    _specifiers: SpecifierSet = field(compare=False, repr=False)

    @classmethod
    def parse(cls, value: str) -> VersionConstraint:
        return _parse_constraint(value)

    def allows(self, version: Version) -> bool:
        if not self.text:
            return True
        return _allows(self._specifiers, version.canonical)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=65536)
def _parse_constraint(value: str) -> VersionConstraint:
    text = value.replace(" ", "")
    if text in ("", "*"):
        return VersionConstraint("", SpecifierSet())
    if VERSION_PATTERN.fullmatch(text):
        text = f"=={text}"
    if not all(_CLAUSE_PATTERN.fullmatch(clause) for clause in text.split(",")):
        raise ValueError(
            f"version constraint {value!r} is not valid: use comparisons "
            "(==, !=, >=, <=, >, <, ~=) "
            "of MAJOR[.MINOR[.PATCH]] joined by commas, e.g. '>=1.0,<2' or '==2.1'"
        )
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(
            f"version constraint {value!r} is not valid: use comparisons joined by commas, "
            "e.g. '>=1.0,<2' or '==2.1'"
        ) from None
    return VersionConstraint(text, specifiers)


@lru_cache(maxsize=262144)
def _allows(specifiers: SpecifierSet, canonical_version: str) -> bool:
    return specifiers.contains(PackagingVersion(canonical_version), prereleases=True)
