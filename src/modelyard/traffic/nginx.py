"""The shadow proxy: Debian's nginx (1.22, its built-in `mirror` module) beside the gateway.

HAProxy 2.6 has no request mirroring, so the gateway sends the requests it draws for a
shadow copy (traffic/haproxy.py) to this nginx on a Unix socket. nginx passes each one on
to Triton unchanged (the arm's versioned path, whose answer the client gets) and mirrors
a copy to `/v2/models/<model>/versions/<x-modelyard-shadow>/infer`, whose answer it only
logs: `<counter key> <status> <seconds>` per copy, in `shadow.log`.

The configuration names no model and no version: the gateway's map carries the shadow in
a header, so starting, changing and ending a shadow is one runtime `set map` on HAProxy
and never an nginx reload (nginx's open-source build has no runtime API; a route held in
nginx's configuration would cost a reload per change).

nginx finishes a request only once its mirror subrequests have finished, and holds the
next request of a keep-alive connection until then: a slow shadow would delay the next
client request that HAProxy sent on that connection. `keepalive_timeout 0` closes each
connection after its answer, which nginx sends as soon as the arm answered; HAProxy opens
a new Unix-socket connection for the next request (measured: README, bench/gateway.py).

Sources: nginx documentation (ngx_http_mirror_module, `log_subrequest`,
`proxy_ignore_client_abort`, `keepalive_timeout`), nginx 1.22 as Debian ships it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from modelyard.errors import GatewayError, InputError
from modelyard.traffic.haproxy import (
    SHADOW_HEADER,
    SHADOW_KEY_HEADER,
    SHADOW_SOCKET_FILE,
    socket_path,
    write_atomically,
)

CONFIG_FILE = "nginx.conf"
PID_FILE = "nginx.pid"
LOG_FILE = "shadow.log"
ERROR_LOG_FILE = "nginx-error.log"
TEMP_FOLDER = "nginx-temp"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# How long a copy may take before nginx gives up on it (logged as 504): copies in flight
# hold connections, and a hung shadow must not pile them up.
SHADOW_TIMEOUT_S = 60


def nginx_binary() -> str:
    """The `nginx` executable; InputError saying how to install it if there is none."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        raise InputError(
            "shadow traffic needs nginx (its mirror module): apt-get install nginx-light "
            "(Debian, Ubuntu); nothing changed"
        )
    return found


def render_config(folder: Path, *, upstream: str) -> str:
    """nginx.conf for the shadow proxy of the gateway in `folder`, in front of `upstream`
    (host:port of Triton's HTTP endpoint)."""
    temp = folder / TEMP_FOLDER
    shadow_header = SHADOW_HEADER.replace("-", "_")
    key_header = SHADOW_KEY_HEADER.replace("-", "_")
    lines = [
        "# Written by modelyard (traffic/nginx.py); changes are overwritten.",
        "daemon on;",
        "worker_processes 1;",
        f"pid {folder / PID_FILE};",
        f"error_log {folder / ERROR_LOG_FILE} warn;",
    ]
    if os.geteuid() == 0:
        # Started by root, nginx runs its worker as `nobody`, which may not reach the
        # gateway's folder (its temporary files and socket live there).
        lines.append(f"user {pwd.getpwuid(0).pw_name};")
    lines += [
        # Each copy in flight holds a connection from HAProxy and one to Triton.
        "events { worker_connections 4096; }",
        "http {",
        "    access_log off;",
        *(
            f"    {kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "    client_max_body_size 0;",  # Triton's limit is the one that applies
        "    client_body_buffer_size 1m;",
        # Close each connection after its answer: a keep-alive connection's next request
        # would wait until this one's copy has finished (see the module docstring).
        "    keepalive_timeout 0;",
        f"    log_format shadow '$http_{key_header} $status $request_time';",
        f"    upstream triton {{ server {upstream}; keepalive 32; }}",
        "    map $request_uri $shadow_path {",
        '        "~^/v2/models/(?<model>[^/?]+)/versions/[0-9]+/infer$"',
        "            /v2/models/$model/versions/;",
        "    }",
        f"    map $http_{shadow_header} $shadow_version {{",
        '        "~^(?<version>[0-9]{1,9})$" $version;',
        "    }",
        "    server {",
        f"        listen unix:{socket_path(folder, SHADOW_SOCKET_FILE)};",
        "        location / {",
        "            mirror /_modelyard_shadow;",
        "            proxy_pass http://triton;",
        "            proxy_http_version 1.1;",
        '            proxy_set_header Connection "";',
        f'            proxy_set_header {SHADOW_HEADER} "";',
        f'            proxy_set_header {SHADOW_KEY_HEADER} "";',
        "            proxy_read_timeout 300s;",
        "        }",
        "        location = /_modelyard_shadow {",
        "            internal;",
        '            if ($shadow_path = "") { return 400; }',
        '            if ($shadow_version = "") { return 400; }',
        "            log_subrequest on;",
        f"            access_log {folder / LOG_FILE} shadow;",
        "            proxy_pass http://triton$shadow_path$shadow_version/infer;",
        "            proxy_http_version 1.1;",
        '            proxy_set_header Connection "";',
        f'            proxy_set_header {SHADOW_HEADER} "";',
        f'            proxy_set_header {SHADOW_KEY_HEADER} "";',
        # HAProxy closes its connection once it has the arm's answer; the copy goes on.
        "            proxy_ignore_client_abort on;",
        "            proxy_connect_timeout 5s;",
        f"            proxy_read_timeout {SHADOW_TIMEOUT_S}s;",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class CopyCounts:
    """What nginx logged of one shadow's copies: answered (2xx) and failed (the rest)."""

    answered: int = 0
    errors: int = 0


_LOG_LINE = re.compile(r"(\S+) (\d{3}) ")


def parse_log(text: str) -> dict[str, CopyCounts]:
    """shadow.log -> counter key -> counts."""
    answered: dict[str, int] = {}
    errors: dict[str, int] = {}
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        key, status = match.group(1), int(match.group(2))
        into = answered if 200 <= status < 300 else errors
        into[key] = into.get(key, 0) + 1
    return {
        key: CopyCounts(answered.get(key, 0), errors.get(key, 0))
        for key in sorted(set(answered) | set(errors))
    }


@dataclass(frozen=True)
class ShadowProxy:
    """The nginx of the gateway in `folder`: its files, its process, its log."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def pid_file(self) -> Path:
        return self.folder / PID_FILE

    @property
    def socket(self) -> Path:
        return socket_path(self.folder, SHADOW_SOCKET_FILE)

    @property
    def log(self) -> Path:
        return self.folder / LOG_FILE

    def pids(self) -> list[int]:
        """The running nginx master this folder's pid file names (none if stale)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return []
        return [pid] if _is_nginx(pid, self.config) else []

    def is_running(self) -> bool:
        return bool(self.pids())

    def counts(self) -> dict[str, CopyCounts]:
        """Every shadow's logged copies since the folder's first nginx."""
        try:
            return parse_log(self.log.read_text(errors="replace"))
        except OSError:
            return {}

    def write_config(self, upstream: str) -> None:
        (self.folder / TEMP_FOLDER).mkdir(parents=True, exist_ok=True)
        write_atomically(self.config, render_config(self.folder, upstream=upstream))

    def start(self, upstream: str) -> list[int]:
        """Write the configuration and start nginx in the background; returns its pid.

        Raises:
            GatewayError: nginx refused the configuration or never listened.
        """
        self.write_config(upstream)
        self.socket.unlink(missing_ok=True)  # left by a killed one: nginx would not bind
        self._nginx("-c", str(self.config), "-e", str(self.folder / ERROR_LOG_FILE))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            pids = self.pids()
            if pids and self._answers():
                return pids
            time.sleep(0.02)
        raise GatewayError(f"nginx started but never listened on {self.socket}")

    def reload(self, upstream: str) -> None:
        """Rewrite the configuration and have nginx load it (new workers; the old ones
        finish their requests and copies first)."""
        self.write_config(upstream)
        self._nginx("-c", str(self.config), "-e", str(self.folder / ERROR_LOG_FILE), "-t")
        for pid in self.pids():
            os.kill(pid, signal.SIGHUP)

    def stop(self) -> None:
        """SIGQUIT (finish requests and copies in flight, then exit), then SIGTERM, then
        SIGKILL, each after STOP_TIMEOUT_S."""
        pids = self.pids()
        for signal_number in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
            alive = [pid for pid in pids if _is_nginx(pid, self.config)]
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal_number)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while alive and time.monotonic() < deadline:
                time.sleep(0.05)
                alive = [pid for pid in alive if _is_nginx(pid, self.config)]
            if not alive:
                break
        self.socket.unlink(missing_ok=True)

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                probe.connect(str(self.socket))
        except OSError:
            return False
        return True

    def _nginx(self, *args: str) -> None:
        command = [nginx_binary(), "-p", str(self.folder), *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise GatewayError(f"nginx did not answer within {START_TIMEOUT_S:g} s") from exc
        if done.returncode != 0:
            said = [line for line in done.stderr.splitlines() if "[emerg]" in line] or [
                done.stderr.strip() or f"exit code {done.returncode}"
            ]
            raise GatewayError(f"nginx (the shadow proxy) refused: {'; '.join(said)[:600]}")


def _is_nginx(pid: int, config: Path) -> bool:
    """Whether `pid` is a live nginx master running `config` (not a reused pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and b"nginx" in command and str(config).encode() in command
