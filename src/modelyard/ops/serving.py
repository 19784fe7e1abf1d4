"""Serve the catalog on a Triton on this machine (`modelyard serve`, `modelyard demo`).

Compiles the `local` profile into the workspace, starts the bundled tritonserver on it
and loads every compiled model, dependencies first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from modelyard.deploy.estimate import SERVE_LOAD_THREADS
from modelyard.errors import TritonError
from modelyard.ops.build import CompileResult, compile_repository
from modelyard.ops.context import ENDPOINT_FILE, Context
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton

DEFAULT_HTTP_PORT = 8000
DEFAULT_METRICS_PORT = 8002


@dataclass
class LocalServing:
    server: LocalTriton
    client: TritonClient
    compiled: CompileResult
    loaded: list[str] = field(default_factory=list)
    # Triton name -> why it did not load (Triton's own message).
    failed: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def local_state_dir(ctx: Context) -> Path:
    if ctx.root is None:
        raise TritonError("the local Triton lives in a workspace folder; pass --workspace DIR")
    return ctx.root / ".modelyard" / "triton"


def serve_locally(
    ctx: Context,
    *,
    http_port: int | None = 0,
    grpc_port: int = 0,
    metrics_port: int | None = 0,
    load: bool = True,
    alias: str | None = None,
    strict: bool = False,
    load_threads: int | None = None,
) -> LocalServing:
    """Compile the local profile, start Triton on it and (by default) load every model.

    `None` for the HTTP or metrics port means the `local` target's (modelyard.yaml's, else
    8000 and 8002); 0 means any free port. Where it listens is written to
    `.modelyard/triton/endpoint.json`, which the undeclared `local` target reads: after
    `serve --port P`, `deploy`, `status` and `perf` reach that server without flags.

    A model that fails to load is named in `failed` with Triton's reason and the others
    are served (what needs it fails in turn, with its own reason); with `strict`, the
    first failure stops the server and raises.
    """
    state = local_state_dir(ctx)
    repository = state / "repository"
    declared = ctx.config.targets.get("local")
    if http_port is None:
        http_port = _port_of(declared.url if declared else None, DEFAULT_HTTP_PORT)
    if metrics_port is None:
        metrics_port = _port_of(declared.metrics_url if declared else None, DEFAULT_METRICS_PORT)
    compiled = compile_repository(ctx, repository, profile="local", alias=alias, allow_empty=True)
    server = LocalTriton(
        repository,
        state,
        http_port,
        grpc_port,
        metrics_port,
        load_threads=load_threads
        or (declared.load_threads if declared else None)
        or SERVE_LOAD_THREADS,
    )
    client = server.start()
    _write_endpoint(state / ENDPOINT_FILE, server)
    serving = LocalServing(server, client, compiled)
    if load:
        try:
            for model in compiled.plan.models.values():  # dependencies come first
                try:
                    client.load(model.triton_name)
                except TritonError as exc:
                    if strict:
                        raise
                    serving.failed[model.triton_name] = exc.message
                    continue
                serving.loaded.append(model.triton_name)
        except TritonError as exc:
            serving.stop()
            raise TritonError(f"{exc}\n{server.log_tail()}") from exc
        except BaseException:  # Ctrl-C or SIGTERM while loading: stop the server too
            serving.stop()
            raise
    return serving


def _port_of(url: str | None, default: int) -> int:
    port = urlsplit(url).port if url else None
    return port or default


def _write_endpoint(path: Path, server: LocalTriton) -> None:
    """Record where this server listens (atomically: a reader never sees half a file)."""
    endpoint = {
        "url": server.url,
        "metrics_url": f"http://127.0.0.1:{server.metrics_port}/metrics",
        "load_threads": server.load_threads,
    }
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(endpoint), encoding="utf-8")
    partial.replace(path)
