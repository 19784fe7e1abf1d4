"""Dependency graphs: constraint resolution, cycles with their path, waves, impact."""

from modelyard.graph.dag import Chains, CycleFound, DependencyGraph
from modelyard.graph.resolve import (
    Resolution,
    VersionEntry,
    VersionIndex,
    cycle_problems,
    entry_for,
    newest_refs,
    resolve,
)

__all__ = [
    "Chains",
    "CycleFound",
    "DependencyGraph",
    "Resolution",
    "VersionEntry",
    "VersionIndex",
    "cycle_problems",
    "entry_for",
    "newest_refs",
    "resolve",
]
