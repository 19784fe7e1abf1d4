"""Registering through the API names artifacts only under `api.artifact_roots`: a path
outside (absolute, `..`, a symlink, a folder holding a symlink) is refused with 403
before the file is opened, and the catalog is unchanged. Local `apply` is not limited."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from tests.support.api import SEARCH, bearer

Tokens = dict[tuple[str, str], str]
SECRET = b"root:$6$not-for-maintainers\n"

# Files opened by this process, recorded by an audit hook (PEP 578): a real observation
# of `open`, with no patching of our code. Hooks cannot be removed, so one is installed
# once and records only while a test watches.
_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], (str, Path)):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened_files() -> Iterator[list[str]]:
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def manifest(artifact: str, version: str = "1.0") -> str:
    return f"""\
name: tokenizer
version: "{version}"
model_type: regression
framework: python
domain: search
owner_team: {SEARCH}
artifact: {artifact}
inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
"""


@pytest.fixture
def secret(tmp_path: Path, api_ws: Workspace) -> Path:
    """A file next to the workspace folder, outside it."""
    assert api_ws.root is not None and not tmp_path.resolve().is_relative_to(api_ws.root)
    path = tmp_path / "shadow"
    path.write_bytes(SECRET)
    return path


def register(client: TestClient, tokens: Tokens, text: str) -> Any:
    return client.post(
        "/api/v1/models", json={"manifest": text}, headers=bearer(tokens[("maintainer", SEARCH)])
    )


def assert_refused(response: Any, api_ws: Workspace, opened: list[str], secret: Path) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["ok"] is False and body["status"] == 403
    assert body["error"]["code"] == "forbidden" and body["error"]["field"] == "artifact"
    assert "outside the folders this server reads artifacts from" in body["error"]["message"]
    assert "api.artifact_roots" in body["error"]["message"]
    assert [e["code"] for e in body["errors"]] == ["artifact-outside-roots"]
    # Nothing about the file leaks (not its digest, not where a link points) ...
    assert hashlib.sha256(SECRET).hexdigest() not in response.text
    # ... it was never opened, and the catalog holds nothing new.
    assert not [p for p in opened if Path(p).resolve() == secret.resolve()], opened
    assert not any(s.id == "search/tokenizer" for s in api_ws.list_models())


def test_absolute_path_outside_is_refused(
    client: TestClient, tokens: Tokens, api_ws: Workspace, secret: Path, opened_files: list[str]
) -> None:
    for path in (str(secret), "/etc/shadow", "/etc/passwd", "~/.ssh/id_rsa", "/"):
        assert_refused(register(client, tokens, manifest(path)), api_ws, opened_files, secret)


def test_dot_dot_escape_is_refused(
    client: TestClient, tokens: Tokens, api_ws: Workspace, secret: Path, opened_files: list[str]
) -> None:
    assert api_ws.root is not None
    (api_ws.root / "models").mkdir(exist_ok=True)
    for path in ("../shadow", "models/../../shadow", f"{api_ws.root}/../shadow"):
        assert_refused(register(client, tokens, manifest(path)), api_ws, opened_files, secret)


def test_symlink_inside_pointing_outside_is_refused(
    client: TestClient, tokens: Tokens, api_ws: Workspace, secret: Path, opened_files: list[str]
) -> None:
    assert api_ws.root is not None
    (api_ws.root / "model.py").symlink_to(secret)
    assert_refused(register(client, tokens, manifest("model.py")), api_ws, opened_files, secret)
    # A folder artifact inside the root holding a link to the file outside.
    folder = api_ws.root / "tokenizer"
    folder.mkdir()
    (folder / "config.txt").write_text("fine\n")
    (folder / "model.py").symlink_to(secret)
    assert_refused(register(client, tokens, manifest("tokenizer")), api_ws, opened_files, secret)
    # A linked folder: the link itself leads outside.
    (api_ws.root / "linked").symlink_to(secret.parent, target_is_directory=True)
    assert_refused(
        register(client, tokens, manifest("linked/shadow")), api_ws, opened_files, secret
    )


def test_artifact_under_the_workspace_is_registered(
    client: TestClient, tokens: Tokens, api_ws: Workspace, opened_files: list[str]
) -> None:
    assert api_ws.root is not None
    weights = api_ws.root / "artifacts" / "model.py"
    weights.parent.mkdir()
    weights.write_text("# the model\n")
    # Relative to the workspace folder, not the server's current folder; `..` that stays
    # inside is fine.
    response = register(client, tokens, manifest("artifacts/../artifacts/model.py"))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == ["search/tokenizer@1.0"]
    spec = api_ws.show("search/tokenizer").spec
    assert spec.artifact == str(weights.resolve())
    assert spec.artifact_sha256 == hashlib.sha256(b"# the model\n").hexdigest()
    assert str(weights.resolve()) in opened_files  # the audit hook does see the reads


def test_configured_roots(
    tokens: Tokens, api_ws: Workspace, tmp_path: Path, secret: Path, opened_files: list[str]
) -> None:
    """`api.artifact_roots`: relative ones under the workspace folder, absolute ones as
    written; the workspace folder itself is then no longer allowed."""
    assert api_ws.root is not None
    shared = tmp_path / "srv-models"
    (shared / "tok").mkdir(parents=True)
    (shared / "tok" / "model.py").write_text("# shared\n")
    (api_ws.root / "artifacts").mkdir()
    (api_ws.root / "artifacts" / "model.py").write_text("# local\n")
    (api_ws.root / "elsewhere.py").write_text("# not under a root\n")
    config_path = api_ws.root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["api"] = {"artifact_roots": ["artifacts", str(shared)]}
    config_path.write_text(yaml.safe_dump(config))
    configured = Workspace.open(api_ws.root, db_url=api_ws.db_url)
    try:
        assert configured.api_artifact_roots == [
            (api_ws.root / "artifacts").resolve(),
            shared.resolve(),
        ]
        with TestClient(create_app(configured)) as client:
            refused = register(client, tokens, manifest("elsewhere.py"))
            assert refused.status_code == 403 and "srv-models" in refused.text
            assert_refused(
                register(client, tokens, manifest(str(secret))), configured, opened_files, secret
            )
            assert register(client, tokens, manifest("artifacts/model.py")).status_code == 200
            shared_version = register(client, tokens, manifest(str(shared / "tok"), "2.0"))
            assert shared_version.status_code == 200, shared_version.text
    finally:
        configured.close()


def test_no_roots_refuses_every_artifact(
    tokens: Tokens, api_ws: Workspace, secret: Path, opened_files: list[str]
) -> None:
    assert api_ws.root is not None
    config_path = api_ws.root / "modelyard.yaml"
    config_path.write_text(config_path.read_text() + "api: {artifact_roots: []}\n")
    (api_ws.root / "model.py").write_text("# local\n")
    configured = Workspace.open(api_ws.root, db_url=api_ws.db_url)
    try:
        with TestClient(create_app(configured)) as client:
            assert_refused(
                register(client, tokens, manifest("model.py")), configured, opened_files, secret
            )
    finally:
        configured.close()


def test_local_apply_is_not_limited(api_ws: Workspace, secret: Path, tmp_path: Path) -> None:
    """A local user applies with their own file access: no roots."""
    path = tmp_path / "manifests" / "tokenizer.yaml"
    path.parent.mkdir()
    path.write_text(manifest(str(secret)))
    assert api_ws.apply([path]).created == ["search/tokenizer@1.0"]
    assert api_ws.apply_text(manifest(str(secret), "1.1")).created == ["search/tokenizer@1.1"]
