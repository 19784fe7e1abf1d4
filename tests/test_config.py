"""modelyard.yaml's `regions:`: each fault is its own line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config import read_config
from modelyard.errors import InputError

TARGETS = """\
targets:
  eu-1: {url: 'http://127.0.0.1:9', repository: eu}
  eu-2: {url: 'http://127.0.0.1:9', repository: eu2}
  us-1: {url: 'http://127.0.0.1:9', repository: us}
"""


def config_file(tmp_path: Path, regions: str) -> Path:
    path = tmp_path / "modelyard.yaml"
    path.write_text(TARGETS + regions)
    return path


def test_regions_keep_their_targets_in_order(tmp_path: Path) -> None:
    config = read_config(config_file(tmp_path, "regions: {eu: [eu-2, eu-1], us: [us-1]}\n"))
    assert config.regions == {"eu": ("eu-2", "eu-1"), "us": ("us-1",)}
    assert read_config(config_file(tmp_path, "")).regions == {}


@pytest.mark.parametrize(
    ("regions", "expected"),
    [
        (
            "regions: {eu: [eu-1, eu-3]}",
            r"regions\.eu: unknown target 'eu-3' \(targets: eu-1, eu-2, us-1\); declare it",
        ),
        (
            "regions: {eu: [eu-1], us: [us-1, eu-1]}",
            r"regions\.us: target 'eu-1' is in region 'eu' already; a target belongs to one",
        ),
        ("regions: {eu: [eu-1, eu-1]}", r"regions\.eu: names target 'eu-1' twice"),
        ("regions: {eu: []}", r"regions\.eu: names no target; list at least one or remove"),
        ("regions: {EU: [eu-1]}", r"regions\.EU: region name 'EU' is not allowed"),
        ("regions: {eu: eu-1}", r"regions\.eu: Input should be a valid tuple"),
    ],
)
def test_a_bad_region_is_one_line_naming_file_and_field(
    tmp_path: Path, regions: str, expected: str
) -> None:
    path = config_file(tmp_path, regions + "\n")
    with pytest.raises(InputError, match=f"^{path}: {expected}") as raised:
        read_config(path)
    assert "\n" not in raised.value.message


def test_every_bad_region_is_named(tmp_path: Path) -> None:
    path = config_file(tmp_path, "regions: {eu: [nowhere], us: [], ap: [us-1], sa: [us-1]}\n")
    with pytest.raises(InputError) as raised:
        read_config(path)
    assert [p.field for p in raised.value.problems] == ["regions.eu", "regions.us", "regions.sa"]
    assert raised.value.message.startswith(f"{path} is not valid (3 problems):")
