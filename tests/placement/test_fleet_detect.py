"""`modelyard fleet detect`: this machine as a fleet entry."""

from __future__ import annotations

import types

import pytest
import yaml
from typer.testing import CliRunner

from modelyard.cli.app import app
from modelyard.fleet_detect import detect_local_server
from modelyard.placement.fleet import Fleet


def test_detect_prints_a_server_the_fleet_accepts() -> None:
    result = CliRunner().invoke(app, ["fleet", "detect", "--name", "box-1"], catch_exceptions=False)
    assert result.exit_code == 0
    entries = yaml.safe_load(result.stdout)
    fleet = Fleet.model_validate({"servers": entries})
    server = fleet.servers[0]
    assert server.name == "box-1" and server.cpu_cores >= 1 and server.memory_mb > 100


def test_gpus_come_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU on this machine: NVML is replaced by a stand-in with two devices.
    memory = types.SimpleNamespace(total=80 * 1024**3)
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda handle: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMemoryInfo=lambda handle: memory,
    )
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake)
    server, note = detect_local_server("gpu-box")
    assert note is None
    assert [(g.index, g.model, g.memory_mb) for g in server.gpus] == [
        (0, "NVIDIA H100 80GB HBM3", 81920),
        (1, "NVIDIA H100 80GB HBM3", 81920),
    ]
