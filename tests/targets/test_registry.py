"""The registry of target kinds: the default kind, unknown kinds, registering a kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard import Conflict, InputError
from modelyard.config import TargetConfig, read_config
from modelyard.targets import (
    Target,
    TargetRegistry,
    TritonFolderTarget,
    open_target,
    register_target_kind,
    target_kinds,
)
from modelyard.targets.registry import registry


class RecordingKind:
    """A factory of a kind of our own: remembers what it was asked to open."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, TargetConfig, float]] = []

    def __call__(
        self,
        name: str,
        config: TargetConfig,
        *,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
    ) -> Target:
        self.opened.append((name, config, timeout_s))
        return TritonFolderTarget(
            name, config.url, Path(config.repository), timeout_s=timeout_s, transport=transport
        )


@pytest.fixture
def gateway_kind() -> Iterator[RecordingKind]:
    """A kind `gateway` in the default registry for one test."""
    kind = RecordingKind()
    register_target_kind("gateway", kind)
    yield kind
    registry.unregister("gateway")


def test_a_target_without_kind_is_a_triton_folder(tmp_path: Path) -> None:
    (tmp_path / "modelyard.yaml").write_text(
        "targets:\n  edge: {url: 'http://edge:8000/', repository: /srv/models}\n"
    )
    config = read_config(tmp_path / "modelyard.yaml").targets["edge"]
    assert config.kind == "triton"
    with open_target("edge", config) as target:
        assert isinstance(target, TritonFolderTarget)
        assert (target.name, target.kind, target.url) == ("edge", "triton", "http://edge:8000")
        assert target.repository == Path("/srv/models")
    assert "triton" in target_kinds()


def test_an_unknown_kind_names_itself_and_the_known_kinds() -> None:
    config = TargetConfig(kind="s3", url="http://edge:8000", repository="/srv/models")
    with pytest.raises(InputError, match=r"target 'edge': unknown target kind 's3'") as failed:
        open_target("edge", config)
    assert "(known kinds: triton, triton-s3)" in failed.value.message


def test_a_kind_that_is_no_name_is_refused_when_read(tmp_path: Path) -> None:
    (tmp_path / "modelyard.yaml").write_text(
        "targets:\n  edge: {kind: '../plugins', url: 'http://edge:8000', repository: r}\n"
    )
    with pytest.raises(InputError, match=r"targets.edge.kind: expected a target kind"):
        read_config(tmp_path / "modelyard.yaml")


def test_a_registered_kind_opens_its_targets(gateway_kind: RecordingKind) -> None:
    assert target_kinds() == ["gateway", "triton", "triton-s3"]
    config = TargetConfig(kind="gateway", url="http://gw:8000", repository="/srv/gw")
    with open_target("front", config, timeout_s=3.0) as target:
        assert target.name == "front"
    assert gateway_kind.opened == [("front", config, 3.0)]


def test_registering_a_kind_twice_needs_replace(gateway_kind: RecordingKind) -> None:
    with pytest.raises(Conflict, match="'gateway' is registered already"):
        register_target_kind("gateway", RecordingKind())
    other = RecordingKind()
    register_target_kind("gateway", other, replace=True)
    open_target(
        "front", TargetConfig(kind="gateway", url="http://gw:8000", repository="/srv/gw")
    ).close()
    assert len(other.opened) == 1 and gateway_kind.opened == []


def test_a_registry_of_its_own_starts_empty_and_checks_names() -> None:
    own = TargetRegistry(group=None)
    assert own.kinds() == []
    with pytest.raises(InputError, match=r"known kinds: \)"):
        own.open("x", TargetConfig(url="http://x:1", repository="/r"))
    with pytest.raises(InputError, match="cannot register target kind: expected a target kind"):
        own.register("Not A Name", RecordingKind())
    own.register("triton", RecordingKind())
    assert own.kinds() == ["triton"]
