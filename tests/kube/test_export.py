"""`modelyard export kubernetes` on the Netflix example: validated, read back against the
placement, idempotent, and bad input refused with one line and nothing written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from modelyard import Workspace
from modelyard.kube.files import MANIFEST_FILE
from tests.support.gateway import needs_haproxy
from tests.support.workspaces import Cli

REPOSITORY = "s3://netflix-models/fleet"


def _export(cli: Cli, out: Path, *args: str) -> Any:
    return cli.json("export", "kubernetes", "--out", str(out), "--repository", REPOSITORY, *args)


def _read(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted(out.glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        objects[(obj["kind"], obj["metadata"]["name"])] = obj
    return objects


def test_netflix_objects_pass_kubernetes_validate_strict(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    result = _export(cli, out)
    assert result["ok"] and result["kubernetes_version"] == "1.31"
    files = sorted(p.name for p in out.glob("*.yaml"))
    assert files == result["files"] == sorted(result["written"])
    # The command line tool once over every file, as a user would run it.
    tool = Path(sys.executable).with_name("kubernetes-validate")
    checked = subprocess.run(
        [str(tool), "--strict", "-k", "1.31.0", *(str(out / f) for f in files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(" passed for resource ") == len(files)


def test_netflix_objects_match_the_placement(netflix: Workspace, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    _export(cli, out)
    objects = _read(out)
    placement = netflix.place()
    fleet = netflix.fleet
    assert fleet is not None
    specs = netflix.select().specs
    for server in fleet.servers:
        name = f"triton-{server.name}"
        deployment = objects[("Deployment", name)]
        assert deployment["spec"]["replicas"] == 1  # the two servers' shares differ
        pod = deployment["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == server.labels == {"gpu": "a10g"}
        (container,) = pod["containers"]
        assigned = placement.on(server.name)
        gpus = {a.gpu_index for a in assigned if a.gpu_index is not None}
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(len(gpus)) == "2"
        assert container["resources"]["requests"]["memory"] == (
            f"{sum(a.memory_mb for a in assigned)}Mi"
        )
        loads = sorted(a.removeprefix("--load-model=") for a in container["args"] if "load" in a)
        assert loads == sorted(specs[a.ref].triton_name for a in assigned)
        assert f"--model-repository={REPOSITORY}/{server.name}" in container["args"]
        assert "--model-control-mode=explicit" in container["args"]
        assert set(placement.rate_limit_flags(server.name)) <= set(container["args"])
        assert container["readinessProbe"]["httpGet"] == {
            "path": "/v2/health/ready",
            "port": "http",
        }
        assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
        secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
        assert secrets == {"modelyard-s3"}
        service = objects[("Service", name)]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # Every model runs on both servers (availability >= 0.999): one budget over both pods,
    # and required anti-affinity keeps them on two nodes.
    budget = objects[("PodDisruptionBudget", "triton-inference-a")]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["metadata"]["annotations"]["modelyard.io/servers"] == "inference-a,inference-b"
    gateway = objects[("Deployment", "modelyard-gateway")]
    assert gateway["spec"]["replicas"] == 2


def test_a_rerun_writes_nothing_and_an_other_format_removes_only_its_own_files(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    first = _export(cli, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "kustomization.yaml").write_text("resources: []\n")
    again = _export(cli, out)
    assert again["written"] == [] and again["removed"] == []
    assert again["unchanged"] == first["files"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in before} == before
    kserve = _export(cli, out, "--format", "kserve")
    assert sorted(kserve["removed"]) == sorted(set(first["files"]) - set(kserve["files"]))
    left = sorted(p.name for p in out.glob("*.yaml"))
    assert left == sorted([*kserve["files"], "kustomization.yaml"])
    assert (out / MANIFEST_FILE).is_file()
    assert not list(out.glob(".*.modelyard-tmp"))
    for name in kserve["files"]:
        obj = yaml.safe_load((out / name).read_text())
        if obj["kind"] != "InferenceService":  # no schema for KServe's CRD: see test_manifests
            kubernetes_validate.validate(obj, "1.31.0", strict=True)


def test_a_file_it_did_not_write_is_never_overwritten(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    out.mkdir()
    mine = out / "service-modelyard-gateway.yaml"
    mine.write_text("# mine\n")
    result = cli("export", "kubernetes", "--out", str(out), "--repository", REPOSITORY, expect=2)
    assert result.output.strip().splitlines() == [
        f"error: --out {out}: service-modelyard-gateway.yaml exists and no earlier export "
        "wrote it; move it away or export into another folder"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["service-modelyard-gateway.yaml"]
    assert mine.read_text() == "# mine\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--alias", "nope"], 3, "no model has an alias 'nope'"),
        (["--kubernetes-version", "1.19"], 2, "--kubernetes-version '1.19': expected one of"),
        (["--format", "helm"], 2, "--format 'helm': expected one of kubernetes, kserve"),
        (["--namespace", "Prod"], 2, "--namespace 'Prod': expected a DNS label"),
        (["--target", "nowhere"], 3, "no target 'nowhere'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    netflix: Workspace, cli: Cli, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "k8s"
    repository = [] if "--target" in args else ["--repository", REPOSITORY]
    result = cli("export", "kubernetes", "--out", str(out), *repository, *args, expect=code)
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert not out.exists()


def test_an_out_that_is_a_file_and_a_missing_repository_are_refused(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    file = tmp_path / "k8s.yaml"
    file.write_text("kept\n")
    result = cli("export", "kubernetes", "--out", str(file), "--repository", REPOSITORY, expect=2)
    assert result.output.strip() == (
        f"error: --out {file}: {file} is a file, not a folder; give a folder"
    )
    assert file.read_text() == "kept\n"
    result = cli("export", "kubernetes", "--out", str(tmp_path / "k8s"), expect=2)
    assert "--repository s3://bucket/path" in result.output
    result = cli(
        "export",
        "kubernetes",
        "--out",
        str(tmp_path / "k8s"),
        "--repository",
        "s3://A_B/x",
        expect=2,
    )
    assert "bucket 'A_B' must be 3 to 63 lower-case letters" in result.output
    assert not (tmp_path / "k8s").exists()


def test_a_target_with_an_s3_repository_gives_the_url(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    assert netflix.root is not None
    config_path = netflix.root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["targets"] = {
        "cluster": {"url": "http://triton:8000", "repository": "s3://netflix-models/prod"},
        "box": {"url": "http://127.0.0.1:8000", "repository": "repo"},
    }
    config_path.write_text(yaml.safe_dump(config))
    result = cli.json("export", "kubernetes", "--out", str(tmp_path / "k8s"), "--target", "cluster")
    assert [g["repository"] for g in result["groups"]] == [
        "s3://netflix-models/prod/inference-a",
        "s3://netflix-models/prod/inference-b",
    ]
    refused = cli(
        "export", "kubernetes", "--out", str(tmp_path / "k2"), "--target", "box", expect=2
    )
    assert "is a folder, which a cluster cannot read" in refused.output


@pytest.mark.gateway
@needs_haproxy
def test_the_gateway_configuration_is_valid_for_haproxy(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    _export(cli, out)
    config_map = _read(out)[("ConfigMap", "modelyard-gateway")]
    folder = tmp_path / "gw"
    folder.mkdir()
    for name, text in config_map["data"].items():
        (folder / name).write_text(text.replace("/var/run/modelyard-gateway", str(folder)))
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(folder / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout + checked.stderr
