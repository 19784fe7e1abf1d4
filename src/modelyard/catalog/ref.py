"""`ModelRef`: how users name a model, one version of it, or the version an alias points to.

    search/ranker              the model (commands pick the newest version)
    search/ranker@1.5          one version
    search/ranker@production   the version alias `production` points to

After the `@`, text with a dot or only digits is a version (`MAJOR.MINOR[.PATCH]`) and any
other safe name is an alias: alias names have no dots and are never all digits
(`check_alias_name`), so the two never collide. Parsed once here; every command and route
takes the same three forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.catalog.naming import check_name, split_model_id
from modelyard.catalog.version import Version
from modelyard.errors import InputError


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed reference: the model id and at most one of version and alias."""

    model_id: str
    version: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str, *, allow_alias: bool = True) -> ModelRef:
        """Parse `domain/name[@version|@alias]`; InputError naming the text if malformed."""
        model_id, sep, after = text.partition("@")
        try:
            split_model_id(model_id)
        except ValueError as exc:
            raise InputError(f"{text}: {exc}") from None
        if not sep:
            return cls(model_id)
        if not after:
            raise InputError(f"{text}: nothing after '@'; write {model_id}@VERSION or @ALIAS")
        if _reads_as_version(after):
            check_version(after, text)
            return cls(model_id, version=after)
        if not allow_alias:
            raise InputError(f"{text}: expected {model_id}@VERSION (MAJOR.MINOR[.PATCH])")
        check_alias_name(after, text)
        return cls(model_id, alias=after)

    @property
    def domain(self) -> str:
        return self.model_id.partition("/")[0]

    @property
    def name(self) -> str:
        return self.model_id.partition("/")[2]

    def __str__(self) -> str:
        suffix = self.version or self.alias
        return f"{self.model_id}@{suffix}" if suffix else self.model_id


def split_ref(ref: str) -> tuple[str, str]:
    """`domain/name@version` of a catalog version -> (model id, version).

    For the resolved references the catalog builds itself (spec.ref, graph nodes), which
    always carry a version; user input goes through `ModelRef.parse`.
    """
    model_id, _, version = ref.rpartition("@")
    return model_id, version


def model_id_of(ref: str) -> str:
    """The model id of a catalog version's reference (`domain/name@version`)."""
    return ref.rpartition("@")[0] if "@" in ref else ref


def check_version(version: str, where: str) -> None:
    """InputError (prefixed with `where`) unless `version` is `MAJOR.MINOR[.PATCH]`."""
    try:
        Version.parse(version)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def check_alias_name(alias: str, where: str | None = None) -> None:
    """InputError unless `alias` is a safe name that cannot be read as a version."""
    try:
        check_name(alias, "alias")
    except ValueError as exc:
        raise InputError(f"{where}: {exc}" if where else str(exc)) from None
    if _reads_as_version(alias):
        raise InputError(
            f"alias {alias!r} looks like a version; give aliases a letter "
            "(production, canary, ...) so that MODEL@ALIAS is never read as a version"
        )


def _reads_as_version(text: str) -> bool:
    return "." in text or text.isdigit()
