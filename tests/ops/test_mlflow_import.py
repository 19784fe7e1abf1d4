"""import-mlflow against a real MLflow tracking server (scripts/mlflow.sh, SQLite backend,
artifacts served by the server) on loopback: the registry is reproduced, a re-run changes
exactly what changed in MLflow, and bad input changes nothing.

Each test names its MLflow models with its own prefix and imports with --name-filter, so
one server serves them all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.catalog.manifest import artifact_digest
from modelyard.errors import Conflict, InputError, RegistryError
from modelyard.ops.mlflow import DEFAULTED_LABEL
from tests.support.mlflow import (
    NETFLIX_ARTIFACTS,
    PYTHON_MODEL,
    MlflowServer,
    Registry,
    free_port,
)
from tests.support.workspaces import Cli

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port())
    reason = server.start()
    if reason is not None:
        server.stop()
        if os.environ.get("CI"):
            pytest.fail(f"scripts/mlflow.sh could not start MLflow: {reason}")
        pytest.skip(f"scripts/mlflow.sh could not install or start MLflow: {reason}")
    yield server.uri
    server.stop()


@pytest.fixture
def registry(mlflow_uri: str) -> Iterator[Registry]:
    filled = Registry(mlflow_uri)
    yield filled
    filled.close()


def folder_digest(files: dict[str, bytes], tmp_path: Path) -> str:
    folder = tmp_path / hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return artifact_digest(folder)


def onnx(name: str) -> dict[str, bytes]:
    return {"model.onnx": (NETFLIX_ARTIFACTS / f"{name}.onnx").read_bytes()}


def python_model(marker: str) -> dict[str, bytes]:
    return {"model.py": PYTHON_MODEL + f"# {marker}\n".encode()}


def test_three_models_five_versions_two_aliases_then_a_resync(
    registry: Registry, workspace: Workspace, cli: Cli, mlflow_uri: str, tmp_path: Path
) -> None:
    files = {
        ("acc Fraud Scorer", 1): python_model("fraud 1"),
        ("acc Fraud Scorer", 2): python_model("fraud 2"),
        ("acc-churn", 1): python_model("churn 1"),
        ("acc.Ranker", 1): onnx("content_retrieval"),
        ("acc.Ranker", 2): onnx("user_embedding"),
    }
    registry.model("acc Fraud Scorer", {"team": "risk", "modelyard.gpu_memory_mb": "0"})
    registry.version("acc Fraud Scorer", files["acc Fraud Scorer", 1], {"stage": "old"})
    registry.version(
        "acc Fraud Scorer",
        files["acc Fraud Scorer", 2],
        {"stage": "new", "modelyard.max_latency_p99_ms": "25"},
        description="second try",
    )
    registry.model("acc-churn", {"modelyard.domain": "growth", "modelyard.name": "churn"})
    tensors = '[{"name": "X", "data_type": "FP32", "dims": [4]}]'
    registry.version(
        "acc-churn",
        files["acc-churn", 1],
        {
            "modelyard.framework": "python",
            "modelyard.inputs": tensors,
            "modelyard.outputs": tensors,
        },
    )
    registry.model("acc.Ranker")
    registry.version("acc.Ranker", files["acc.Ranker", 1])
    registry.version("acc.Ranker", files["acc.Ranker", 2])
    registry.alias("acc Fraud Scorer", "champion", 2)
    registry.alias("acc.Ranker", "production", 1)

    first = cli.json(
        "import-mlflow",
        "--tracking-uri",
        mlflow_uri,
        "--domain",
        "risk",
        "--owner-team",
        "ml_platform",
        "--name-filter",
        "acc*",
    )

    assert first["models"] == ["risk/acc_fraud_scorer", "growth/churn", "risk/acc_ranker"]
    assert sorted(v["ref"] for v in first["versions"] if v["status"] == "created") == [
        "growth/churn@1.0",
        "risk/acc_fraud_scorer@1.0",
        "risk/acc_fraud_scorer@2.0",
        "risk/acc_ranker@1.0",
        "risk/acc_ranker@2.0",
    ]
    ids = {"acc Fraud Scorer": "risk/acc_fraud_scorer", "acc-churn": "growth/churn"}
    ids["acc.Ranker"] = "risk/acc_ranker"
    for (name, number), content in files.items():
        shown = workspace.show(f"{ids[name]}@{number}.0")
        assert shown.spec.artifact_sha256 == folder_digest(content, tmp_path)
        assert shown.spec.labels["mlflow_model"] == name
        assert shown.spec.labels["mlflow_version"] == str(number)
        artifact = Path(str(shown.spec.artifact))
        assert artifact.is_relative_to(workspace.root / ".modelyard" / "artifacts" / "mlflow")  # type: ignore[operator]
        assert artifact.name == shown.spec.artifact_sha256
    fraud2 = workspace.show("risk/acc_fraud_scorer@2.0").spec
    assert fraud2.labels["team"] == "risk" and fraud2.labels["stage"] == "new"
    assert fraud2.description == "second try"
    assert fraud2.resource_requirements.gpu_memory_mb == 0  # the model's tag
    assert fraud2.sla_requirements.max_latency_p99_ms == 25  # the version's tag
    assert fraud2.framework == "python"  # from model.py: listed as defaulted
    defaulted = fraud2.labels[DEFAULTED_LABEL].split(",")
    assert "framework" in defaulted and "resource_requirements.memory_mb" in defaulted
    assert "resource_requirements.gpu_memory_mb" not in defaulted
    assert "sla_requirements.max_latency_p99_ms" not in defaulted
    result_of = {v["ref"]: v for v in first["versions"]}
    assert result_of["risk/acc_fraud_scorer@2.0"]["defaulted"] == defaulted
    churn = workspace.show("growth/churn@1.0").spec
    assert [t.name for t in churn.inputs] == ["X"] and churn.owner_team == "ml_platform"
    assert "inputs" not in result_of["growth/churn@1.0"]["defaulted"]
    assert workspace.show("risk/acc_ranker@1.0").spec.framework == "onnx"
    assert {(a.model_id, a.name, a.version, a.revision) for a in workspace.aliases()} == {
        ("risk/acc_fraud_scorer", "champion", "2.0", 1),
        ("risk/acc_ranker", "production", "1.0", 1),
    }

    # MLflow moves on: a third Ranker version, production moved to version 2.
    files["acc.Ranker", 3] = onnx("query_understanding")
    registry.version("acc.Ranker", files["acc.Ranker", 3])
    registry.alias("acc.Ranker", "production", 2)
    second = cli.json(
        "import-mlflow",
        "--tracking-uri",
        mlflow_uri,
        "--domain",
        "risk",
        "--owner-team",
        "ml_platform",
        "--name-filter",
        "acc*",
    )

    statuses = {v["ref"]: v["status"] for v in second["versions"]}
    assert statuses.pop("risk/acc_ranker@3.0") == "created"
    assert set(statuses.values()) == {"unchanged"} and len(statuses) == 5
    moved = [a for a in second["aliases"] if a["status"] != "unchanged"]
    assert moved == [
        {
            "model_id": "risk/acc_ranker",
            "alias": "production",
            "version": "2.0",
            "previous": "1.0",
            "status": "moved",
        }
    ]
    assert len(workspace.list_models(all_versions=True)) == 6
    assert {(a.model_id, a.name, a.version, a.revision) for a in workspace.aliases()} == {
        ("risk/acc_fraud_scorer", "champion", "2.0", 1),
        ("risk/acc_ranker", "production", "2.0", 2),
    }
    assert workspace.show("risk/acc_ranker@3.0").spec.artifact_sha256 == folder_digest(
        files["acc.Ranker", 3], tmp_path
    )
    # A third run with nothing new in MLflow changes nothing.
    third = workspace.import_mlflow(
        mlflow_uri, domain="risk", owner_team="ml_platform", name_filter="acc*"
    )
    assert {v.status for v in third.versions} == {"unchanged"}
    assert {a.status for a in third.aliases} == {"unchanged"}


def test_a_changed_tag_keeps_the_registered_version_and_names_the_field(
    registry: Registry, workspace: Workspace, mlflow_uri: str
) -> None:
    registry.model("kept-model")
    number = registry.version("kept-model", python_model("kept"), {"owner": "ana"})
    workspace.import_mlflow(mlflow_uri, domain="d", owner_team="t", name_filter="kept-*")
    registry.version_tag("kept-model", number, "owner", "bo")

    again = workspace.import_mlflow(mlflow_uri, domain="d", owner_team="t", name_filter="kept-*")

    (version,) = again.versions
    assert (version.status, version.differing) == ("kept", ["labels.owner"])
    assert workspace.show("d/kept-model@1.0").spec.labels["owner"] == "ana"


def test_artifacts_changed_in_mlflow_are_refused_and_nothing_else_is_imported(
    registry: Registry, workspace: Workspace, mlflow_uri: str
) -> None:
    registry.model("changed-model")
    registry.version("changed-model", python_model("changed"))
    registry.alias("changed-model", "champion", 1)
    first = workspace.import_mlflow(mlflow_uri, domain="d", owner_team="t", name_filter="changed-*")
    registry.add_file("changed-model", 1, "helpers.py", b"X = 1\n")  # behind our back
    registry.version("changed-model", python_model("changed 2"))
    registry.alias("changed-model", "champion", 2)

    with pytest.raises(Conflict, match=r"changed-model/1: its artifacts changed since it was"):
        workspace.import_mlflow(mlflow_uri, domain="d", owner_team="t", name_filter="changed-*")

    assert [s.ref for s in workspace.list_models(all_versions=True)] == ["d/changed-model@1.0"]
    assert [(a.name, a.version) for a in workspace.aliases()] == [("champion", "1.0")]
    assert workspace.root is not None
    store = workspace.root / ".modelyard" / "artifacts" / "mlflow" / "d" / "changed-model"
    assert [p.parent.name for p in store.glob("*/*")] == ["1"]  # version 2 removed again
    assert first.versions[0].artifact == str(next(store.glob("1/*")))


def test_dry_run_registers_and_downloads_nothing(
    registry: Registry, workspace: Workspace, mlflow_uri: str
) -> None:
    registry.model("dry-model")
    number = registry.version("dry-model", python_model("dry"))
    registry.alias("dry-model", "champion", number)

    result = workspace.import_mlflow(
        mlflow_uri, domain="d", owner_team="t", name_filter="dry-*", dry_run=True
    )

    assert result.dry_run and [v.status for v in result.versions] == ["created"]
    assert [a.status for a in result.aliases] == ["created"]
    assert workspace.list_models(all_versions=True) == [] and workspace.aliases() == []
    assert workspace.root is not None
    store = workspace.root / ".modelyard" / "artifacts" / "mlflow"
    assert [p for p in store.rglob("*") if p.is_file()] == []


def test_a_version_without_artifacts_imports_nothing(
    registry: Registry, workspace: Workspace, cli: Cli, mlflow_uri: str
) -> None:
    registry.model("empty-a")
    registry.version("empty-a", python_model("fine"))
    registry.model("empty-b")
    registry.version("empty-b", {})  # a run with no files: its model/ folder is empty

    refused = cli(
        "import-mlflow",
        "--tracking-uri",
        mlflow_uri,
        "--domain",
        "d",
        "--owner-team",
        "t",
        "--name-filter",
        "empty-*",
        expect=RegistryError.exit_code,
    )

    assert "MLflow model 'empty-b' version 1: MLflow has no artifacts at" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert workspace.list_models(all_versions=True) == []
    assert workspace.root is not None
    store = workspace.root / ".modelyard" / "artifacts" / "mlflow"
    assert [p for p in store.rglob("*") if p.is_file()] == []


def test_a_name_that_cannot_be_mapped_is_refused_with_the_tag_to_set(
    registry: Registry, workspace: Workspace, mlflow_uri: str
) -> None:
    registry.model("!!! ???")
    registry.version("!!! ???", python_model("unnamed"))

    with pytest.raises(InputError, match=r"MLflow model '!!! \?\?\?'.*set .*tag `modelyard.name`"):
        workspace.import_mlflow(mlflow_uri, domain="d", owner_team="t", name_filter="!!!*")
    assert workspace.list_models(all_versions=True) == []


@pytest.mark.parametrize(
    ("tag", "value", "message"),
    [
        ("modelyard.gpu_memory_mb", "12GB", r"version 1: tag modelyard.gpu_memory_mb='12GB'"),
        ("modelyard.gpu_memory", "1024", r"version 1: unknown tag 'modelyard.gpu_memory'"),
        ("modelyard.availability", "2", r"availability: .*fix the tag `modelyard.availability`"),
    ],
)
def test_a_bad_tag_names_the_tag(
    registry: Registry, workspace: Workspace, mlflow_uri: str, tag: str, value: str, message: str
) -> None:
    name = f"badtag-{tag.replace('.', '-').replace('_', '-')}"
    registry.model(name, {tag: value})
    registry.version(name, python_model("bad"))

    with pytest.raises(InputError, match=message):
        workspace.import_mlflow(mlflow_uri, domain="d", owner_team="t", name_filter=name)
    assert workspace.list_models(all_versions=True) == []
