"""Config text printed only when needed, and its digest learnt once (triton/config_digests.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from modelyard import Workspace
from modelyard.ops.build import CONFIG_DIGESTS
from modelyard.triton.compiler import config_file
from modelyard.triton.config import ModelConfig, to_pbtxt
from modelyard.triton.config_digests import ConfigDigests, binary_key
from modelyard.triton.repository import RepoFile


def a_config(name: str = "shop.ranker", max_batch: int = 8) -> ModelConfig:
    config = ModelConfig()
    config.name = name
    config.max_batch_size = max_batch
    config.backend = "onnxruntime"
    return config


def test_config_text_is_printed_when_read_and_digest_is_of_that_text() -> None:
    printed: list[bytes] = []
    config = a_config()

    def render() -> bytes:
        printed.append(to_pbtxt(config).encode())
        return printed[-1]

    file = RepoFile("shop.ranker/config.pbtxt", render=render)
    assert printed == []  # making the file prints nothing
    assert file.digest == hashlib.sha256(to_pbtxt(config).encode()).hexdigest()
    assert file.content == to_pbtxt(config).encode()
    assert len(printed) == 1  # printed once, kept


def test_file_is_a_snapshot_of_the_config_when_made() -> None:
    config = a_config()
    file = config_file("shop.ranker", config)
    config.max_batch_size = 64  # changed afterwards: another file
    assert file.content == to_pbtxt(a_config()).encode()
    assert file.at("other/config.pbtxt").content == file.content


def test_known_digest_is_used_without_printing_and_learnt_otherwise() -> None:
    digests = ConfigDigests()
    fresh = config_file("shop.ranker", a_config(), digests)
    true_digest = hashlib.sha256(to_pbtxt(a_config()).encode()).hexdigest()
    assert fresh.digest == true_digest
    assert digests.changed  # learnt by printing

    known = config_file("shop.ranker", a_config(), digests)
    assert known.digest == true_digest
    assert known._content is None  # from the cache: not printed

    other = config_file("shop.ranker", a_config(max_batch=16), digests)
    assert other.digest != true_digest  # a changed config is never taken for the old one
    assert other.digest == hashlib.sha256(to_pbtxt(a_config(max_batch=16)).encode()).hexdigest()


def test_saved_digests_load_back_and_a_damaged_file_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "digests.json"
    digests = ConfigDigests()
    _ = config_file("shop.ranker", a_config(), digests).digest
    digests.save(path)
    blob = a_config().SerializeToString(deterministic=True)
    assert (
        ConfigDigests.load(path).get(binary_key(blob))
        == config_file("shop.ranker", a_config()).digest
    )
    for damaged in ("{not json", "[1, 2]", '{"k": 3}'):
        path.write_text(damaged)
        assert ConfigDigests.load(path).get(binary_key(blob)) is None
    assert ConfigDigests.load(tmp_path / "missing.json").get(binary_key(blob)) is None


def test_compile_learns_digests_and_a_wrong_entry_never_reaches_a_repository(
    netflix: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "repo"
    netflix.compile(out)
    assert netflix.root is not None
    cache = netflix.root / CONFIG_DIGESTS
    learnt = json.loads(cache.read_text())
    assert len(learnt) >= 6  # one per compiled model

    # A cache that lies about every digest: the unchanged repository looks changed, and
    # a compile then writes the true text (never the lie) into it.
    cache.write_text(json.dumps({key: "0" * 64 for key in learnt}))
    result = netflix.compile(out)
    for model in result.plan.models.values():
        written = (out / model.triton_name / "config.pbtxt").read_bytes()
        assert written == to_pbtxt(model.config).encode()

    # What that compile recorded is the true text's digest: with no cache, nothing differs.
    cache.unlink()
    assert netflix.compile(out).diff.is_empty
