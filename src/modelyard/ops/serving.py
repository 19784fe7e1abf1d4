"""Serve the catalog on a Triton on this machine (`modelyard serve`, `modelyard demo`).

Compiles the `local` profile into the workspace, starts the bundled tritonserver on it
and loads every compiled model, dependencies first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelyard.errors import TritonError
from modelyard.ops.build import CompileResult, compile_repository
from modelyard.ops.context import Context
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton


@dataclass
class LocalServing:
    server: LocalTriton
    client: TritonClient
    compiled: CompileResult
    loaded: list[str] = field(default_factory=list)

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
    http_port: int = 0,
    grpc_port: int = 0,
    metrics_port: int = 0,
    load: bool = True,
    alias: str | None = None,
) -> LocalServing:
    """Compile the local profile, start Triton on it and (by default) load every model."""
    state = local_state_dir(ctx)
    repository = state / "repository"
    compiled = compile_repository(ctx, repository, profile="local", alias=alias, allow_empty=True)
    server = LocalTriton(repository, state, http_port, grpc_port, metrics_port)
    client = server.start()
    serving = LocalServing(server, client, compiled)
    if load:
        try:
            for model in compiled.plan.models.values():  # dependencies come first
                client.load(model.triton_name)
                serving.loaded.append(model.triton_name)
        except TritonError as exc:
            serving.stop()
            raise TritonError(f"{exc}\n{server.log_tail()}") from exc
        except BaseException:  # Ctrl-C or SIGTERM while loading: stop the server too
            serving.stop()
            raise
    return serving
