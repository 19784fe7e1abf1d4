"""Figures as people read them: memory in MB, GB or TB, one rule for every page."""

from __future__ import annotations

# Below 10 GB, MB keep the figures manifests declare (6,144 MB, not 6.0 GB).
_STEPS = (("TB", 1024 * 1024, 1024 * 1024), ("GB", 1024, 10 * 1024))


def megabytes(value: float | None) -> str:
    """MB as people read them: `6,144 MB`, `12.3 GB`, `4.1 TB` (`not measured` for None)."""
    if value is None:
        return "not measured"
    for unit, size, from_size in _STEPS:
        if abs(value) >= from_size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f} MB"


def count(value: float) -> str:
    """A count or a figure with thousands separators: `10,000`, `12.5`."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
