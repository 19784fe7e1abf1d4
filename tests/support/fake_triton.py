"""A fake Triton behind `httpx.MockTransport`: the client's transport is our seam.

It answers the parts of Triton's HTTP API a rollout uses (repository index, load, unload,
readiness, config, inference), reading a real repository folder the way Triton does in
explicit model-control mode, and produces on demand what a real server cannot: a
connection reset, a refusal, at a chosen request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from google.protobuf import json_format

from modelyard.config import TargetConfig
from modelyard.targets import Target, TritonFolderTarget, open_target, register_target_kind
from modelyard.targets.registry import registry
from modelyard.triton.config import parse_pbtxt

URL = "http://fake-triton:8000"

_MODEL = re.compile(
    r"/v2/(?:repository/)?models/(?P<model>[^/]+)(?:/versions/(?P<version>\d+))?/(?P<action>\w+)"
)


class FakeTriton:
    """Triton's HTTP API in process, over the repository folder `repository`.

    `ready` maps each loaded model to its READY versions; `calls` lists every
    (action, model) it was asked, in order. Faults: `reset(action, model)` cuts the
    connection, `refuse(action, model, ...)` answers an HTTP error, `times` times each.
    """

    def __init__(self, repository: Path, url: str = URL) -> None:
        self.repository = repository
        self.url = url
        self.ready: dict[str, list[int]] = {}
        self.calls: list[tuple[str, str]] = []
        self._faults: dict[tuple[str, str], list[Any]] = {}
        self._lock = threading.Lock()  # the runner loads from several threads

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def target(self, name: str = "fake", *, timeout_s: float = 30.0) -> Target:
        """A `triton` target of the registry, its HTTP carried to this fake."""
        config = TargetConfig(url=self.url, repository=str(self.repository))
        return open_target(name, config, timeout_s=timeout_s, transport=self.transport)

    @contextmanager
    def serving(self, name: str = "fake") -> Iterator[Target]:
        target = self.target(name)
        try:
            yield target
        finally:
            target.close()

    # Faults ---------------------------------------------------------------------------

    def reset(self, action: str, model: str, *, times: int = 1) -> None:
        """The next `times` `action` requests ('load', 'unload', 'ready', 'config',
        'infer') for `model` lose their connection (ECONNRESET)."""
        self._faults[(action, model)] = ["reset"] * times

    def refuse(
        self,
        action: str,
        model: str,
        *,
        status: int = 400,
        message: str = "refused",
        times: int = 1,
    ) -> None:
        """The next `times` `action` requests for `model` get HTTP `status` and `message`."""
        self._faults[(action, model)] = [(status, message)] * times

    # The API --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/v2/health/live", "/v2/health/ready"):
            return httpx.Response(200)
        if path == "/v2":
            return httpx.Response(200, json={"name": "fake-triton", "version": "0.0"})
        if path == "/v2/repository/index":
            with self._lock:
                self.calls.append(("index", ""))
                return httpx.Response(200, json=self._index())
        match = _MODEL.fullmatch(path)
        if match is None:
            return httpx.Response(404, json={"error": f"no route {path}"})
        model, action = match["model"], match["action"]
        version = int(match["version"]) if match["version"] else None
        with self._lock:
            self.calls.append((action, model))
            fault = self._faults.get((action, model))
            if fault:
                what = fault.pop(0)
                if what == "reset":
                    raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
                status, message = what
                return httpx.Response(status, json={"error": message})
            return self._answer(action, model, version, request)

    def _answer(
        self, action: str, model: str, version: int | None, request: httpx.Request
    ) -> httpx.Response:
        if action == "load":
            versions = self._versions_in_repository(model)
            if versions is None:
                return httpx.Response(
                    400,
                    json={
                        "error": f"failed to load '{model}', failed to poll from model repository"
                    },
                )
            self.ready[model] = versions
            return httpx.Response(200)
        if action == "unload":
            self.ready.pop(model, None)
            return httpx.Response(200)
        serving = self.ready.get(model, [])
        if action == "ready":
            is_ready = bool(serving) and (version is None or version in serving)
            return httpx.Response(200 if is_ready else 400)
        if not serving or (version is not None and version not in serving):
            return httpx.Response(
                400, json={"error": f"Request for unknown model: '{model}' is not found"}
            )
        config = self._config(model)
        if action == "config":
            return httpx.Response(
                200, json=json_format.MessageToDict(config, preserving_proto_field_name=True)
            )
        if action == "infer":
            json.loads(request.content)  # a well-formed body
            outputs = [
                {"name": o.name, "datatype": "FP32", "shape": [1], "data": [float(version or 0)]}
                for o in config.output
            ]
            return httpx.Response(200, json={"model_name": model, "outputs": outputs})
        return httpx.Response(404, json={"error": f"no action {action}"})

    def _index(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        names = set(self.ready)
        if self.repository.is_dir():
            names |= {p.name for p in self.repository.iterdir() if p.is_dir()}
        for name in sorted(names):
            if name in self.ready:
                entries += [
                    {"name": name, "version": str(v), "state": "READY"} for v in self.ready[name]
                ]
            else:
                entries.append({"name": name, "state": "UNAVAILABLE", "reason": "unloaded"})
        return entries

    def _config(self, model: str) -> Any:
        return parse_pbtxt((self.repository / model / "config.pbtxt").read_text())

    def _versions_in_repository(self, model: str) -> list[int] | None:
        """The versions Triton would serve: the config's specific policy, else the newest."""
        folder = self.repository / model
        if not (folder / "config.pbtxt").is_file():
            return None
        present = sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
        config = self._config(model)
        if config.version_policy.HasField("specific"):
            return sorted(v for v in config.version_policy.specific.versions if v in present)
        return present[-1:]


@contextmanager
def fake_target_kind(fake: FakeTriton, kind: str = "fake-triton") -> Iterator[str]:
    """A target kind `kind` (in the default registry, while in the block) whose targets are
    Triton folders with their HTTP carried to `fake`: modelyard.yaml's targets of that kind
    reach it through the workspace, the CLI and the API."""

    def open_fake(
        name: str,
        config: TargetConfig,
        *,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
    ) -> Target:
        return TritonFolderTarget(
            name, config.url, Path(config.repository), timeout_s=timeout_s, transport=fake.transport
        )

    register_target_kind(kind, open_fake)
    try:
        yield kind
    finally:
        registry.unregister(kind)


def add_fake_target(root: Path, name: str = "dev") -> FakeTriton:
    """Target `name` (kind `fake-triton`, local profile, repository `repo-<name>`) added to
    the modelyard.yaml under `root`, and the FakeTriton it reaches inside
    `fake_target_kind(...)`. A workspace opened after this sees it."""
    config_path = root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["targets"][name] = {
        "kind": "fake-triton",
        "url": "http://fake-triton:8000",
        "repository": f"repo-{name}",
        "profile": "local",
    }
    config_path.write_text(yaml.safe_dump(config))
    return FakeTriton(root / f"repo-{name}")
