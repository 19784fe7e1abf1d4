"""Compiling the catalog into Triton repositories (no server needed here)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard import Conflict, InputError, ValidationFailed, Workspace
from modelyard.cli.app import app
from modelyard.triton.config import parse_pbtxt, preferred_batch_sizes, queue_delay_us
from tests.support.netflix import NETFLIX

ARTIFACTS = NETFLIX / "artifacts"


def manifest(
    name: str,
    version: str = "1.0",
    *,
    artifact: Path | str | None = None,
    extra: str = "",
    framework: str = "onnx",
    domain: str = "shop",
    max_batch: int = 8,
) -> str:
    artifact_line = f"artifact: {artifact}\n" if artifact else ""
    return (
        f'---\nname: {name}\nversion: "{version}"\nmodel_type: embedding\n'
        f"framework: {framework}\ndomain: {domain}\nowner_team: shop_ml\n{artifact_line}"
        f"resource_requirements: {{max_batch_size: {max_batch}}}\n{extra}"
    )


def apply_text(workspace: Workspace, tmp_path: Path, text: str, name: str = "m.yaml") -> None:
    path = tmp_path / name
    path.write_text(text)
    workspace.apply([path])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_layout_and_round_trip(netflix: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    result = netflix.compile(out)
    assert out.is_symlink()
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "recommendation.content_embedding",
        "recommendation.ranking_scorer",
        "recommendation.recommendation_ranker",
        "recommendation.user_embedding",
        "search.content_retrieval",
        "search.query_understanding",
    ]
    assert (out / "search.query_understanding" / "1" / "model.onnx").is_file()
    for model in result.plan.models.values():
        text = (out / model.triton_name / "config.pbtxt").read_text()
        assert parse_pbtxt(text) == model.config  # what is written parses back to itself
    scorer = result.plan.models["recommendation/ranking_scorer"].config
    assert scorer.backend == "onnxruntime"
    assert scorer.instance_group[0].kind == scorer.instance_group[0].KIND_GPU
    assert [(t.name, list(t.dims)) for t in scorer.input] == [
        ("user_vector", [8]),
        ("item_vector", [8]),
    ]
    assert list(scorer.version_policy.specific.versions) == [1]


def test_queue_delay_is_a_bounded_share_of_the_p99_budget() -> None:
    assert queue_delay_us(100) == 10_000
    assert queue_delay_us(20) == 2_000
    assert queue_delay_us(1_000) == 10_000  # capped
    assert queue_delay_us(0.5) == 50
    assert preferred_batch_sizes(128) == [32, 64, 128]
    assert preferred_batch_sizes(2) == [2]


def test_triton_versions_are_stable(netflix: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    first = netflix.compile(out)
    assert first.plan.models["recommendation/user_embedding"].versions == {"1.0": 1}
    same_sla = (
        "sla_requirements: {max_latency_p99_ms: 50, min_throughput_rps: 100, "
        "availability: 0.9999}\n"
    )
    apply_text(
        netflix,
        tmp_path,
        manifest(
            "user_embedding",
            "1.1",
            domain="recommendation",
            artifact=ARTIFACTS / "user_embedding.onnx",
            max_batch=128,
            extra=same_sla,
        ).replace("owner_team: shop_ml", "owner_team: recommendation_platform"),
    )
    second = netflix.compile(out)
    assert second.plan.models["recommendation/user_embedding"].versions == {"1.1": 2}
    assert (out / "recommendation.user_embedding" / "2" / "model.onnx").is_file()
    assert not (out / "recommendation.user_embedding" / "1").exists()
    netflix.set_alias("recommendation/user_embedding", "production", "1.0")
    netflix.set_alias("recommendation/recommendation_ranker", "production", "3.0")
    pinned = netflix.compile(tmp_path / "pinned", alias="production")
    # The alias rule: the ranker's constraint <2 allows 1.0, the version the alias names, so
    # the selection holds 1.0 alone, still in folder 1.
    assert pinned.plan.models["recommendation/user_embedding"].versions == {"1.0": 1}


def test_recompile_without_changes_writes_nothing(netflix: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    first = netflix.compile(out)
    inode = (out / "search.content_retrieval" / "config.pbtxt").stat().st_ino
    second = netflix.compile(out)
    assert second.diff.is_empty and second.generation == first.generation
    assert (out / "search.content_retrieval" / "config.pbtxt").stat().st_ino == inode


def test_check_reports_an_out_of_date_repository(netflix: Workspace, tmp_path: Path) -> None:
    assert netflix.root is not None
    out = tmp_path / "repo"
    runner = CliRunner()
    args = ["compile", "--out", str(out), "--workspace", str(netflix.root), "--json"]
    missing = runner.invoke(app, [*args, "--check"], catch_exceptions=False)
    assert missing.exit_code == 1 and '"up_to_date": false' in missing.stdout
    assert not out.exists()
    assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    fresh = runner.invoke(app, [*args, "--check"], catch_exceptions=False)
    assert fresh.exit_code == 0 and '"up_to_date": true' in fresh.stdout


def test_readers_never_see_a_partial_repository(workspace: Workspace, tmp_path: Path) -> None:
    artifact = ARTIFACTS / "user_embedding.onnx"
    for index in range(4):
        apply_text(
            workspace,
            tmp_path,
            manifest("emb", f"1.{index}", artifact=artifact, max_batch=8 * (index + 1)),
            f"v{index}.yaml",
        )
        workspace.set_alias("shop/emb", f"v{index}", f"1.{index}")
    out = tmp_path / "repo"
    workspace.compile(out, alias="v0")
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            try:
                config = parse_pbtxt((out / "shop.emb" / "config.pbtxt").read_text())
                seen.append(str(config.max_batch_size))
            except Exception as exc:  # a missing or partial file is what this test hunts
                failures.append(repr(exc))
            time.sleep(0.0002)  # leave the compiling thread some of the GIL

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for round_ in range(12):
            workspace.compile(out, alias=f"v{round_ % 4}")
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert {"8", "16", "24", "32"} <= set(seen)


def test_local_profile_wraps_onnx_and_skips_what_cannot_run(
    workspace: Workspace, tmp_path: Path
) -> None:
    plan_file = tmp_path / "model.plan"
    plan_file.write_bytes(b"not really a TensorRT engine")
    apply_text(
        workspace,
        tmp_path,
        manifest("emb", artifact=ARTIFACTS / "user_embedding.onnx")
        + manifest("trt", framework="tensorrt", artifact=plan_file)
        + manifest("meta_only"),
    )
    result = workspace.compile(tmp_path / "local", profile="local")
    assert set(result.plan.models) == {"shop/emb"}
    assert "no tensorrt backend" in result.plan.skipped["shop/trt"]
    assert "no artifact" in result.plan.skipped["shop/meta_only"]
    folder = tmp_path / "local" / "shop.emb" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["__pycache__", "model.onnx", "model.py"]
    assert (folder / "__pycache__").read_bytes() == b""  # the guard: no bytecode can go here
    production = workspace.compile(tmp_path / "prod")
    assert (tmp_path / "prod" / "shop.trt" / "1" / "model.plan").is_file()
    assert "shop/trt" in production.plan.models


def test_manifest_io_must_match_the_onnx_graph(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"m.yaml:2: inputs: the manifest declares user_features "
        r"FP32 \[17\] but .* has user_features FP32 \[16\]",
    ):
        apply_text(
            workspace,
            tmp_path,
            manifest(
                "emb",
                artifact=ARTIFACTS / "user_embedding.onnx",
                extra="inputs: [{name: user_features, data_type: FP32, dims: [17]}]\n",
            ),
        )
    assert workspace.list_models() == []


def test_artifact_missing_or_changed_after_registration(
    workspace: Workspace, tmp_path: Path
) -> None:
    copy = tmp_path / "emb.onnx"
    shutil.copyfile(ARTIFACTS / "user_embedding.onnx", copy)
    apply_text(workspace, tmp_path, manifest("emb", artifact=copy))
    out = tmp_path / "repo"
    workspace.compile(out)
    before = snapshot(out)
    copy.write_bytes(copy.read_bytes() + b"\0")
    with pytest.raises(ValidationFailed, match="changed after registration"):
        workspace.compile(out)
    copy.unlink()
    with pytest.raises(ValidationFailed, match="is missing"):
        workspace.compile(out)
    assert snapshot(out) == before


def test_unreadable_onnx_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes((ARTIFACTS / "user_embedding.onnx").read_bytes()[:200])
    with pytest.raises(InputError, match="artifact: .*is not a readable ONNX model"):
        apply_text(workspace, tmp_path, manifest("emb", artifact=broken))
    assert workspace.list_models() == []


def test_two_models_on_one_triton_name(workspace: Workspace, tmp_path: Path) -> None:
    """Refused at registration now (compile would fail for every selection holding both);
    tests/catalog/test_ownership.py covers the other orders."""
    artifact = ARTIFACTS / "user_embedding.onnx"
    with pytest.raises(Conflict, match="compiles to the Triton model 'same', as shop/a"):
        apply_text(
            workspace,
            tmp_path,
            manifest("a", artifact=artifact, extra="triton: {name: same}\n")
            + manifest("b", artifact=artifact, extra="triton: {name: same}\n"),
        )
    assert workspace.store.summaries() == []


def test_triton_block_overrides_generated_fields(workspace: Workspace, tmp_path: Path) -> None:
    apply_text(
        workspace,
        tmp_path,
        manifest(
            "emb",
            artifact=ARTIFACTS / "user_embedding.onnx",
            extra="triton:\n  dynamic_batching: {max_queue_delay_microseconds: 123}\n"
            "  instance_group: [{kind: KIND_CPU, count: 3}]\n",
        ),
    )
    config = workspace.compile(tmp_path / "repo").plan.models["shop/emb"].config
    assert config.dynamic_batching.max_queue_delay_microseconds == 123
    assert list(config.dynamic_batching.preferred_batch_size) == []  # replaced whole
    assert config.instance_group[0].count == 3


def test_out_that_is_not_ours_is_refused(netflix: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not written by modelyard"):
        netflix.compile(out)
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_unwritable_location_keeps_the_previous_repository(
    netflix: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "repo"
    netflix.compile(out)
    before = snapshot(out)
    generations = tmp_path / ".repo.generations"
    generations.chmod(0o500)
    try:
        with pytest.raises(InputError, match="previous repository is unchanged"):
            netflix.compile(out, alias=None, profile="local")
    finally:
        generations.chmod(0o700)
    assert snapshot(out) == before


def test_a_bad_ensemble_fails_in_validate_not_at_load(workspace: Workspace, tmp_path: Path) -> None:
    ensemble = """---
name: pipeline
version: "1.0"
model_type: ensemble
framework: ensemble
domain: shop
owner_team: shop_ml
dependencies: [shop/emb]
inputs: [{name: features, data_type: FP32, dims: [16]}]
outputs: [{name: vector, data_type: INT64, dims: [8]}]
resource_requirements: {max_batch_size: 8}
ensemble:
  steps:
    - model: shop/emb
      input_map: {user_feature: features}
      output_map: {user_vector: vector}
"""
    apply_text(
        workspace, tmp_path, manifest("emb", artifact=ARTIFACTS / "user_embedding.onnx") + ensemble
    )
    report = workspace.validate()
    messages = [p.message for p in report.errors if p.code == "triton-config"]
    assert any("user_feature" in m for m in messages), messages  # not an input of emb
    assert any("INT64" in m or "data type" in m for m in messages), messages
    with pytest.raises(ValidationFailed, match="Triton would refuse shop.pipeline"):
        workspace.compile(tmp_path / "repo")


def test_import_triton_cli_then_compile(workspace: Workspace, tmp_path: Path) -> None:
    assert workspace.root is not None
    repo = tmp_path / "existing"
    (repo / "echo" / "1").mkdir(parents=True)
    (repo / "echo" / "1" / "model.py").write_text("# echo model\n")
    (repo / "echo" / "config.pbtxt").write_text(
        'backend: "python"\nmax_batch_size: 4\n'
        'input [{ name: "IN" data_type: TYPE_FP32 dims: [ 3 ] }]\n'
        'output [{ name: "OUT" data_type: TYPE_FP32 dims: [ 3 ] }]\n'
        "instance_group [{ kind: KIND_CPU count: 2 }]\n"
    )
    (repo / "ident" / "1").mkdir(parents=True)
    (repo / "ident" / "1" / "model.bin").write_text("weights")
    (repo / "ident" / "config.pbtxt").write_text('backend: "identity"\nmax_batch_size: 2\n')
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "import-triton",
            str(repo),
            "--domain",
            "legacy",
            "--owner-team",
            "ops",
            "--workspace",
            str(workspace.root),
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert '"legacy/echo@1.0"' in result.stdout and '"legacy/ident@1.0"' in result.stdout
    local = workspace.compile(tmp_path / "local", profile="local")
    assert set(local.plan.models) == {"legacy/echo"}
    assert "'identity'" in local.plan.skipped["legacy/ident"]
    compiled = parse_pbtxt((tmp_path / "local" / "echo" / "config.pbtxt").read_text())
    assert compiled.instance_group[0].count == 2 and compiled.max_batch_size == 4


@pytest.mark.slow
def test_concurrent_compiles_publish_only_complete_repositories(
    netflix: Workspace, tmp_path: Path
) -> None:
    import subprocess
    import sys

    assert netflix.root is not None
    out = tmp_path / "repo"
    command = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "compile",
        "--out",
        str(out),
        "--workspace",
        str(netflix.root),
        "--json",
    ]
    for _ in range(2):
        shutil.rmtree(out, ignore_errors=True)
        if out.is_symlink():
            out.unlink()
        shutil.rmtree(tmp_path / ".repo.generations", ignore_errors=True)
        runs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        results = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in results]
        configs = sorted(p.parent.name for p in out.glob("*/config.pbtxt"))
        assert len(configs) == 6
        assert netflix.compile(out, check=True).up_to_date


def test_concurrent_writers_take_turns(tmp_path: Path) -> None:
    import hashlib

    from modelyard.triton.repository import RepoFile, RepositoryWriter

    def files(tag: str) -> list[RepoFile]:
        made = []
        for index in range(40):
            content = f"{tag} {index}\n".encode() * 50
            made.append(
                RepoFile(
                    f"m{index}/config.pbtxt", hashlib.sha256(content).hexdigest(), content=content
                )
            )
        return made

    out = tmp_path / "repo"
    errors: list[str] = []

    def write(tag: str) -> None:
        try:
            RepositoryWriter(out).write(files(tag))
        except Exception as exc:  # the test collects what went wrong in any writer
            errors.append(repr(exc))

    for round_ in range(10):
        writers = [threading.Thread(target=write, args=(f"r{round_}w{w}",)) for w in range(3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert errors == []
        served = {p.parent.name: p.read_text().split()[0] for p in out.glob("*/config.pbtxt")}
        assert len(served) == 40 and len(set(served.values())) == 1  # one writer's, complete
        assert RepositoryWriter(out).diff(files(next(iter(served.values())))).is_empty


def test_imported_version_folders_keep_their_files(workspace: Workspace, tmp_path: Path) -> None:
    repo = tmp_path / "existing"
    (repo / "net" / "1").mkdir(parents=True)
    shutil.copyfile(ARTIFACTS / "user_embedding.onnx", repo / "net" / "1" / "net.onnx")
    (repo / "net" / "config.pbtxt").write_text(
        'backend: "onnxruntime"\nmax_batch_size: 8\ndefault_model_filename: "net.onnx"\n'
    )
    (repo / "ext" / "1").mkdir(parents=True)
    shutil.copyfile(ARTIFACTS / "content_embedding.onnx", repo / "ext" / "1" / "model.onnx")
    (repo / "ext" / "1" / "model.onnx.data").write_bytes(b"external weights")
    (repo / "ext" / "config.pbtxt").write_text('backend: "onnxruntime"\nmax_batch_size: 8\n')
    workspace.import_triton(repo, domain="legacy", owner_team="ops")
    out = tmp_path / "out"
    workspace.compile(out)
    assert sorted(p.name for p in (out / "net" / "1").iterdir()) == ["net.onnx"]
    assert sorted(p.name for p in (out / "ext" / "1").iterdir()) == [
        "model.onnx",
        "model.onnx.data",
    ]
    assert (
        parse_pbtxt((out / "net" / "config.pbtxt").read_text()).default_model_filename == "net.onnx"
    )


def test_netflix_placement_compiles_into_one_repository_per_server(
    netflix: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "fleet"
    results = netflix.compile_fleet(out)
    assert set(results) == {"inference-a", "inference-b"}
    placement = netflix.place()
    for server in ("inference-a", "inference-b"):
        placed = {a.model_id: a.gpu_index for a in placement.on(server)}
        folders = {p.name for p in (out / server).iterdir()}
        assert folders == {f"{m.split('/')[0]}.{m.split('/')[1]}" for m in placed}
        for model_id, gpu in placed.items():
            config = parse_pbtxt(
                (out / server / model_id.replace("/", ".") / "config.pbtxt").read_text()
            )
            if gpu is None:
                assert all(g.kind != g.KIND_GPU for g in config.instance_group)
            else:
                [group] = list(config.instance_group)
                assert group.kind == group.KIND_GPU and list(group.gpus) == [gpu]
                # Every Netflix GPU is shared: each group carries its memory as the GPU's
                # rate limiter resource, as placement computed it.
                [resource] = placement.rate_limiter_resources(server)[model_id]
                assert [(r.name, r.count) for r in group.rate_limiter.resources] == [
                    (resource["name"], resource["count"])
                ]
