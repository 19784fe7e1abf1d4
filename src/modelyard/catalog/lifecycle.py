"""Yanked and deprecated versions: withdrawing a published version without deleting it.

A yanked version stays in the catalog (`show`, `list --all-versions`, the audit log and
the deployment history keep it) but nothing chooses it: neither a dependency constraint
nor the default selection (the newest version that is not yanked), and no alias may be
moved onto it. A deprecated version is still chosen; `validate` warns about it. The two
marks are independent (`unyank` leaves a deprecation in place), as in Cargo's `yank`
and npm's `deprecate`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from modelyard.errors import InputError

# A reason is one line for tables and error messages, not a changelog.
REASON_MAX_CHARS = 500

Status = Literal["active", "deprecated", "yanked"]


class VersionStatus(BaseModel):
    """Whether a version is yanked or deprecated, why, and since when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    yanked_reason: str | None = None
    yanked_at: datetime | None = None
    deprecated_reason: str | None = None
    deprecated_at: datetime | None = None

    @property
    def is_yanked(self) -> bool:
        return self.yanked_reason is not None

    @property
    def is_deprecated(self) -> bool:
        return self.deprecated_reason is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Status:
        """`yanked` wins over `deprecated`: a yanked version is not chosen at all."""
        if self.is_yanked:
            return "yanked"
        return "deprecated" if self.is_deprecated else "active"

    @property
    def reason(self) -> str | None:
        """The reason of `status` (the yank's, when both marks are set)."""
        return self.yanked_reason if self.is_yanked else self.deprecated_reason

    def describe(self) -> str:
        """`yanked: <reason>`, `deprecated: <reason>`, or `active`, for tables and messages."""
        return f"{self.status}: {self.reason}" if self.reason is not None else "active"


ACTIVE = VersionStatus()


def check_reason(reason: str) -> str:
    """The reason, stripped; InputError if it is empty, several lines, or too long."""
    text = reason.strip()
    if not text:
        raise InputError(
            "--reason: say why (e.g. 'wrong tokenizer, use 1.7'); it is shown to users"
        )
    if "\n" in text or "\r" in text:
        raise InputError("--reason: keep the reason on one line")
    if len(text) > REASON_MAX_CHARS:
        raise InputError(
            f"--reason: {len(text)} characters; at most {REASON_MAX_CHARS} "
            "(link to the details instead)"
        )
    return text
