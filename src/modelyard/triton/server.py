"""A Triton server on this machine, from the `nvidia-pytriton` package's bundled binary.

The package ships `pytriton/tritonserver/bin/tritonserver`, the python backend and one
backend stub per Python version. Triton wants the stub beside `libtriton_python.so`, so
a backend folder is assembled in the workspace (site-packages is never modified). The
stub runs model code with the Python found first on PATH at server start, so this
interpreter's folder goes first; its libraries (libcudart & co.) sit in
`nvidia_pytriton.libs`, which goes on LD_LIBRARY_PATH.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.errors import InputError, TritonError
from modelyard.triton.client import TritonClient
from modelyard.triton.repository import RepositoryWriter

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class TritonInstallation:
    server_binary: Path
    python_backend: Path
    stub: Path
    library_dir: Path

    @classmethod
    def find(cls) -> TritonInstallation:
        """Locate the bundled Triton; InputError naming the extra to install if absent."""
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise InputError(
                "the local Triton needs the nvidia-pytriton package (Linux x86-64): "
                "pip install 'modelyard[local-triton]'"
            )
        package = Path(next(iter(spec.submodule_search_locations)))
        root = package / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        found = cls(
            root / "bin" / "tritonserver",
            root / "backends" / "python",
            root / "python_backend_stubs" / version / "triton_python_backend_stub",
            package.parent / "nvidia_pytriton.libs",
        )
        for path in (found.server_binary, found.python_backend, found.stub):
            if not path.exists():
                raise InputError(
                    f"the nvidia-pytriton installation lacks {path} (Python {version} "
                    "may not be supported by this release)"
                )
        return found

    def backend_directory(self, folder: Path) -> Path:
        """Assemble `folder/python/` (backend library, utils, this Python's stub); idempotent."""
        python_dir = folder / "python"
        python_dir.mkdir(parents=True, exist_ok=True)
        for source in [
            *self.python_backend.glob("*.so"),
            *self.python_backend.glob("*.py"),
            self.stub,
        ]:
            target = python_dir / source.name
            if not target.exists() or target.stat().st_size != source.stat().st_size:
                shutil.copy2(source, target)
        return folder


def check_port_free(port: int, what: str) -> None:
    """TritonError naming the port unless it can be bound on loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Triton binds: connections of a server just stopped (TIME_WAIT) do not count,
        # only a process listening there now (Linux refuses that bind even so).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise TritonError(
                f"the {what} port {port} on 127.0.0.1 is in use ({exc.strerror}); stop what "
                "listens there or choose other ports (--port, --grpc-port, --metrics-port)"
            ) from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalTriton:
    """A tritonserver process in explicit model-control mode on loopback ports.

    `repository` is a folder, or an S3 URL as Triton reads it (`s3://HOST:PORT/bucket/path`)
    with the credentials in `env` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_DEFAULT_REGION); Triton exits at start if that storage cannot be read."""

    repository: Path | str
    state_dir: Path
    http_port: int = 0
    grpc_port: int = 0
    metrics_port: int = 0
    log_file: Path | None = None
    # Triton's --model-load-thread-count (how many models it loads at once); None: its
    # default, 4.
    load_threads: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Added to the server's environment (e.g. S3 credentials).
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> TritonClient:
        installation = TritonInstallation.find()
        is_remote = isinstance(self.repository, str) and self.repository.startswith("s3://")
        if not is_remote and not Path(self.repository).exists():
            # Triton refuses to start on a missing repository; start on an empty one and
            # let deployments fill it.
            RepositoryWriter(Path(self.repository)).write([])
        self.http_port = self.http_port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        self.metrics_port = self.metrics_port or free_port()
        # Another server on a port answers /v2/health/live as well as ours would, while
        # ours dies with "Socket already in use": refuse before starting instead.
        for what, port in (
            ("HTTP", self.http_port),
            ("gRPC", self.grpc_port),
            ("metrics", self.metrics_port),
        ):
            check_port_free(port, what)
        backends = installation.backend_directory(self.state_dir / "backends")
        env = {**os.environ, **self.env}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        # For this server's own Python only: the backend stub's embedded interpreter is
        # isolated and ignores it; RepositoryWriter's bytecode guards keep __pycache__
        # out of the repository.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [str(installation.library_dir), env.get("LD_LIBRARY_PATH")])
        )
        self.log_file = self.log_file or self.state_dir / "tritonserver.log"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(installation.server_binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--exit-timeout-secs=5",
            "--strict-readiness=false",
            # p50/p90/p95/p99 per model and version, which canary analysis compares
            # (traffic/prometheus.py); the counters alone give only means.
            "--metrics-config=summary_latencies=true",
            *([f"--model-load-thread-count={self.load_threads}"] if self.load_threads else []),
        ]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        client = TritonClient(self.url)
        try:
            self._wait_live(client, timeout_s)
        except BaseException:  # a start-up error, Ctrl-C or SIGTERM: never leave it running
            client.close()
            self.stop()
            raise
        return client

    def _wait_live(self, client: TritonClient, timeout_s: float) -> None:
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise TritonError(
                    f"tritonserver exited with code {self.process.returncode} at "
                    f"start; see {self.log_file}:\n{self.log_tail()}"
                )
            # Live, and still our process that answers (not another server on the port).
            if client.is_live() and self.process.poll() is None:
                return
            time.sleep(0.1)
        raise TritonError(
            f"tritonserver did not become live in {timeout_s:g} s; see {self.log_file}"
        )

    def log_tail(self, lines: int = 20) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL after STOP_TIMEOUT_S."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
