"""A folder (a compiled Triton repository) as a tree with sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_ENTRIES = 2000


@dataclass
class TreeNode:
    name: str
    size_bytes: int
    is_dir: bool
    children: list[TreeNode] = field(default_factory=list)


def read_tree(root: Path) -> TreeNode:
    """The folder under `root` (following the repository link), sizes summed upward."""
    budget = [MAX_ENTRIES]

    def walk(path: Path) -> TreeNode:
        if not path.is_dir():
            return TreeNode(path.name, path.stat().st_size, False)
        children = []
        for child in sorted(path.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
            if budget[0] <= 0:
                break
            budget[0] -= 1
            children.append(walk(child))
        return TreeNode(path.name, sum(c.size_bytes for c in children), True, children)

    node = walk(root.resolve())
    node.name = root.name
    return node


def human_size(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover
