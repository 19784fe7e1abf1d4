"""One operation, one build: a selection is read once and compiled once per profile.

Counted with a profile hook (sys.setprofile) on the real functions, so nothing of ours
is replaced: `plan_compile` builds every config, `artifact_digest` hashes an artifact.
"""

from __future__ import annotations

import socket
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from modelyard import Workspace
from modelyard.catalog.artifact_hashes import HASHES_FILE
from modelyard.catalog.manifest import artifact_digest
from modelyard.selection import select
from modelyard.store.history import DeploymentLog
from modelyard.triton.compiler import plan_compile

COUNTED = {
    plan_compile.__code__: "compile",
    artifact_digest.__code__: "artifact hash",
    select.__code__: "selection",
}


@contextmanager
def counting_calls() -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code in COUNTED:
            counts[COUNTED[frame.f_code]] += 1

    previous: Callable[..., Any] | None = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(previous)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _with_two_deployed_targets(netflix: Workspace) -> Workspace:
    """The Netflix workspace with targets `blue` and `green` (nothing answers there) that
    the history says were deployed to."""
    assert netflix.root is not None
    config_path = netflix.root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["targets"] = {
        name: {"url": f"http://127.0.0.1:{_closed_port()}", "repository": f"repo-{name}"}
        for name in ("blue", "green")
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    reopened = Workspace.open(netflix.root)
    log = DeploymentLog(reopened.store)
    for name in ("blue", "green"):
        log.finish(log.start(name, "test", "newest"), "succeeded", [])
    return reopened


def test_html_report_reads_and_compiles_the_selection_once(
    netflix: Workspace, tmp_path: Path
) -> None:
    workspace = _with_two_deployed_targets(netflix)
    assert workspace.root is not None
    # apply learnt every artifact's digest; without them the report's compile reads each.
    (workspace.root / HASHES_FILE).unlink()
    try:
        with counting_calls() as counts:
            page = workspace.html_report(tmp_path / "report", live_timeout_s=0.5)
        html = page.read_text()
        # Both targets' live sections are there, each saying why it could not be read.
        assert html.count("could not read the server") == 2
        assert counts["selection"] == 1
        assert counts["compile"] == 1  # both targets use the production profile
        # Five ONNX artifacts (the ensemble has none), each hashed once by that compile.
        assert counts["artifact hash"] == 5
    finally:
        workspace.close()


def test_status_compiles_once_and_statuses_share_one_build(netflix: Workspace) -> None:
    workspace = _with_two_deployed_targets(netflix)
    try:
        with counting_calls() as counts:
            reads = workspace.statuses(["blue", "green"], timeout_s=0.5)
        assert [r.target for r in reads] == ["blue", "green"]
        assert all(r.status is None and r.error and "127.0.0.1" in r.error for r in reads)
        assert counts["selection"] == 1 and counts["compile"] == 1
    finally:
        workspace.close()
