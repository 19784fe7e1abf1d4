"""Naming rules for model names, domains and teams.

A model's name and domain become a Triton model name and folder names, so they must be
safe there: lower-case letters, digits, `_` and `-`, starting with a letter or digit.
That rules out `..`, `/`, spaces and anything a shell or a file system treats specially.
"""

from __future__ import annotations

import re

NAME_MAX_LENGTH = 64
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
# The seed notebook's convention (lower_snake_case, starting with a letter): a warning only.
CONVENTIONAL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def check_name(value: str, what: str = "name") -> str:
    """Return `value` if it is a safe name, else raise ValueError saying why."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > NAME_MAX_LENGTH:
        raise ValueError(f"{what} {value!r} is longer than {NAME_MAX_LENGTH} characters")
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not allowed: use lower-case letters, digits, '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def normalised_name(value: str) -> str:
    """A name from another system's (an MLflow model's "Fraud Scorer v2"): lower-case,
    each run of characters outside `[a-z0-9_-]` one `_`, no `_` or `-` at either end.
    May still be empty or too long: check it with `check_name`."""
    return re.sub(r"[^a-z0-9_-]+", "_", value.lower()).strip("_-")


def is_conventional_name(value: str) -> bool:
    return CONVENTIONAL_NAME_PATTERN.fullmatch(value) is not None


def model_id(domain: str, name: str) -> str:
    return f"{domain}/{name}"


def split_model_id(value: str) -> tuple[str, str]:
    """Split `domain/name`, checking both halves; raise ValueError otherwise."""
    domain, sep, name = value.partition("/")
    if not sep:
        raise ValueError(f"model id {value!r} must be written domain/name")
    check_name(domain, "domain")
    check_name(name, "name")
    return domain, name
