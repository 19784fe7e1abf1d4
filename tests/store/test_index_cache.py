"""The version index a process keeps (selection.load_index): made again whenever the
versions changed (a new version, a yank, an unyank, a deprecation, another reason), and
only then; two catalogs never share one. The same for every stored version, which a
process keeps too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelyard import Workspace
from modelyard.graph.resolve import VersionIndex
from modelyard.selection import load_index, select
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.workspaces import init_workspace


def _index(ws: Workspace) -> VersionIndex:
    with ws.store.reader() as tx:
        return load_index(tx)


def _states(ws: Workspace) -> dict[str, tuple[str | None, str | None]]:
    """Each version's (yanked, deprecated) reasons, by the index and by every stored
    version (also kept per process), which must agree."""
    indexed = {e.ref: (e.yanked, e.deprecated) for e in _index(ws).by_ref.values()}
    stored = {
        v.spec.ref: (v.status.yanked_reason, v.status.deprecated_reason)
        for v in ws.store.versions()
    }
    assert stored == indexed
    return indexed


def test_the_index_is_made_again_exactly_when_the_versions_change(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.apply([python_model(tmp_path, "echo", v, GOOD_MODEL) for v in ("1.0", "2.0")])
    first = _index(workspace)
    assert _index(workspace) is first  # nothing changed: the same index
    assert select(workspace.store).roots == ["tools/echo@2.0"]

    workspace.yank("tools/echo@2.0", reason="bad weights", force=True)
    assert _index(workspace) is not first
    assert _states(workspace)["tools/echo@2.0"] == ("bad weights", None)
    assert select(workspace.store).roots == ["tools/echo@1.0"]

    yanked_at = next(v.status.yanked_at for v in workspace.store.versions() if v.status.yanked_at)
    workspace.unyank("tools/echo@2.0")
    assert _states(workspace)["tools/echo@2.0"] == (None, None)
    workspace.yank("tools/echo@2.0", reason="bad weights", force=True)  # again, later
    again = next(v.status.yanked_at for v in workspace.store.versions() if v.status.yanked_at)
    assert again is not None and yanked_at is not None and again > yanked_at
    workspace.unyank("tools/echo@2.0")
    assert select(workspace.store).roots == ["tools/echo@2.0"]

    workspace.deprecate("tools/echo@1.0", reason="old")
    assert _states(workspace)["tools/echo@1.0"] == (None, "old")
    workspace.deprecate("tools/echo@1.0", reason="older")  # another reason, same count
    assert _states(workspace)["tools/echo@1.0"] == (None, "older")

    workspace.apply([python_model(tmp_path, "echo", "3.0", GOOD_MODEL)])
    assert set(_states(workspace)) == {"tools/echo@1.0", "tools/echo@2.0", "tools/echo@3.0"}
    assert select(workspace.store).roots == ["tools/echo@3.0"]
    # The whole-catalog graph is made again with it.
    assert "tools/echo@3.0" in _index(workspace).everything().graph.nodes


def test_two_catalogs_with_the_same_versions_have_indexes_of_their_own(
    tmp_path: Path, catalog_url: str, new_catalog_url: Callable[[], str]
) -> None:
    manifests = [python_model(tmp_path, "echo", "1.0", GOOD_MODEL)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = init_workspace(tmp_path / "a", catalog_url)
    b = init_workspace(tmp_path / "b", new_catalog_url())
    try:
        a.apply(manifests)
        b.apply(manifests)
        assert _index(a) is not _index(b)
        b.yank("tools/echo@1.0", reason="only here", force=True)
        assert _states(a)["tools/echo@1.0"] == (None, None)
        assert _states(b)["tools/echo@1.0"] == ("only here", None)
    finally:
        a.close()
        b.close()
