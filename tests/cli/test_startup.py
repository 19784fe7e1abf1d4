"""Start-up: every command's `--help` works, and the CLI imports only what a command
needs (the library, SQLAlchemy, Alembic, tritonclient and numpy are imported by the
commands that use them, not by `modelyard --help`). bench/catalog.py times it."""

from __future__ import annotations

import json
import subprocess
import sys

import typer.main
from typer.testing import CliRunner

from modelyard.cli.app import app

HEAVY = (
    "sqlalchemy",
    "alembic",
    "tritonclient",
    "numpy",
    "fastapi",
    "modelyard.workspace",
    # The export's manifests and the placement solver (0.3 s): only `export` needs them.
    "modelyard.kube.manifests",
    "modelyard.placement",
)


def _commands(group: object, path: list[str]) -> list[list[str]]:
    found = []
    for name, sub in getattr(group, "commands", {}).items():
        found.append([*path, name])
        found += _commands(sub, [*path, name])
    return found


def test_every_command_has_help() -> None:
    runner = CliRunner()
    commands = _commands(typer.main.get_command(app), [])
    assert len(commands) > 40
    failed = {}
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        if result.exit_code != 0:
            failed[" ".join(command)] = (result.output or repr(result.exception))[-200:]
    assert failed == {}


def test_the_cli_module_imports_no_heavy_library() -> None:
    probe = (
        "import json, sys; import modelyard.cli.app; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(loaded) == []


def test_modelyard_help_in_a_fresh_process() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "--help"], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "deploy" in shown.stdout and "experiment" in shown.stdout


def test_version_completion_and_flags_shown_as_flags() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("modelyard ")
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "100"}).output
    assert "--install-completion" in shown and "--show-completion" in shown
    listed = runner.invoke(app, ["list", "--help"], env={"COLUMNS": "100"}).output
    assert "--json" in listed and "<bool>" not in listed
    assert "<str>" in listed  # an option that takes a value still says what


def test_opening_a_workspace_imports_no_numpy_onnx_or_grpc() -> None:
    # numpy, onnx and grpc come with the statistics, ONNX artifacts and the Triton
    # client: the commands that compute, read or call them (0.25 s of every start else).
    code = (
        "import sys; import modelyard.workspace; "
        "print([m for m in ('numpy', 'onnx', 'grpc', 'scipy') if m in sys.modules])"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert ran.stdout.strip() == "[]", ran.stdout + ran.stderr


def test_triton_configs_need_protobuf_only() -> None:
    # The config messages come without tritonclient.grpc's __init__ (grpc and numpy,
    # 0.13-0.19 s), and the Triton client still finds them when it is imported later.
    code = (
        "import sys; import modelyard.triton.config as c; "
        "print('grpc' in sys.modules, 'numpy' in sys.modules); "
        "import tritonclient.grpc as g; "
        "print(g.model_config_pb2.ModelConfig is c.ModelConfig)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert ran.stdout.split() == ["False", "False", "True"], ran.stdout + ran.stderr
