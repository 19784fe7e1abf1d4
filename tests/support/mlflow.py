"""A real MLflow tracking server for the import-mlflow tests, and a helper that fills its
registry over MLflow's REST API (runs, artifacts through the server's artifact proxy,
registered models, versions, tags, aliases).

The server comes from scripts/mlflow.sh, which installs MLflow into .venv-mlflow (its own
virtualenv: its pins clash with the project's) when missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mlflow.sh"
NETFLIX_ARTIFACTS = ROOT / "examples" / "netflix" / "artifacts"
PYTHON_MODEL = b"class TritonPythonModel:\n    def execute(self, requests):\n        return []\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MlflowServer:
    """One `mlflow server` on loopback, its data in `data_dir`."""

    data_dir: Path
    port: int
    uri: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MODELYARD_MLFLOW_DIR": str(self.data_dir),
            "MODELYARD_MLFLOW_PORT": str(self.port),
        }

    def start(self) -> str | None:
        """Start it; None when it runs, else why not (the script's last lines)."""
        done = subprocess.run(
            [str(SCRIPT), "start"], env=self.env, capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            return (done.stderr.strip().splitlines() or ["no output"])[-1]
        self.uri = done.stdout.strip()
        return None

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop"], env=self.env, capture_output=True, timeout=60)


class Registry:
    """Fills an MLflow registry through its REST API, as a data scientist's client would."""

    def __init__(self, uri: str) -> None:
        self.http = httpx.Client(base_url=uri, timeout=30)

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: Mapping[str, object]) -> dict[str, object]:
        response = self.http.post(f"/api/2.0/mlflow/{path}", json=body)
        assert response.is_success, (path, response.status_code, response.text)
        data: dict[str, object] = response.json()
        return data

    def model(self, name: str, tags: Mapping[str, str] | None = None) -> None:
        self._post("registered-models/create", {"name": name, "tags": _tags(tags)})

    def version(
        self,
        name: str,
        files: Mapping[str, bytes],
        tags: Mapping[str, str] | None = None,
        description: str = "",
    ) -> int:
        """A run holding `files` under model/, registered as the next version of `name`."""
        run = self._post("runs/create", {"experiment_id": "0"})["run"]
        info = run["info"]  # type: ignore[index]
        uri = str(info["artifact_uri"])
        root = uri.removeprefix("mlflow-artifacts:/")
        for relative, content in files.items():
            response = self.http.put(
                f"/api/2.0/mlflow-artifacts/artifacts/{root}/model/{relative}", content=content
            )
            assert response.is_success, response.text
        created = self._post(
            "model-versions/create",
            {
                "name": name,
                "source": f"{uri}/model",
                "run_id": info["run_id"],
                "tags": _tags(tags),
                "description": description,
            },
        )
        return int(created["model_version"]["version"])  # type: ignore[index]

    def alias(self, name: str, alias: str, version: int) -> None:
        self._post(
            "registered-models/alias", {"name": name, "alias": alias, "version": str(version)}
        )

    def add_file(self, name: str, version: int, relative: str, content: bytes) -> None:
        """Write one more file among a registered version's artifacts (MLflow allows it)."""
        response = self.http.get(
            "/api/2.0/mlflow/model-versions/get", params={"name": name, "version": str(version)}
        )
        assert response.is_success, response.text
        source = str(response.json()["model_version"]["source"])
        root = source.removeprefix("mlflow-artifacts:/")
        response = self.http.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{root}/{relative}", content=content
        )
        assert response.is_success, response.text

    def version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._post(
            "model-versions/set-tag",
            {"name": name, "version": str(version), "key": key, "value": value},
        )


def _tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in (tags or {}).items()]
