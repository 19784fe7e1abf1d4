"""From catalog ids to Triton model names.

Triton's repository is flat: every model is a folder named after the model, and names
must be unique. A catalog model `domain/name` becomes `domain.name`. Domains and names
never contain `.` (see catalog/naming.py), so the mapping cannot collide, and Triton
accepts `.` in names (it forbids only empty names, `..` and `/`). A manifest may pick
another name with `triton: {name: ...}`; compile refuses two models on one name.
"""

from __future__ import annotations

import re

from modelyard.catalog.spec import ModelSpec

_TRITON_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def triton_name(spec: ModelSpec) -> str:
    return spec.triton_name


def check_triton_name(name: str) -> str | None:
    """Why `name` cannot be a Triton model (and folder) name, or None if it can."""
    if name in (".", "..") or not _TRITON_NAME.fullmatch(name):
        return (
            f"Triton model name {name!r} must be letters, digits, '_', '.' or '-' "
            "(it is a folder name), not '.' or '..'"
        )
    return None


def variant_name(ensemble: str, step: str, version: str) -> str:
    """The generated ensemble that runs `ensemble`'s steps with its step `step` (a Triton
    name, directly or through a nested ensemble) at catalog version `version`:
    `ensemble~step@version`. `~` and `@` are in no name `check_triton_name` allows, so a
    variant never collides with a catalog model (nor with a rollout's `~candidate`)."""
    return f"{ensemble}~{step}@{version}"


CANDIDATE_SUFFIX = "~candidate"
# Triton's S3 client reads only path parts of [0-9a-zA-Z._-] (measured: a model named
# `m~candidate` on an s3:// repository fails to load, "failed to poll"); a leading `-` is
# in no name check_triton_name allows, so this prefix cannot collide either.
S3_CANDIDATE_PREFIX = "-candidate-"


def candidate_name(name: str) -> str:
    """Where a rollout verifies an upgrade's files: a name no client request uses."""
    return name + CANDIDATE_SUFFIX


def is_generated(name: str) -> bool:
    """Whether a Triton model name is one modelyard generates (a candidate, a variant)."""
    return "~" in name
