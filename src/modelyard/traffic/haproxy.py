"""The gateway driver: HAProxy (Debian's `haproxy`, 2.6) in front of one Triton server.

One generic frontend routes every model through one map file, `routes.map`:
`<triton model> <route>`, the route being `Route.entry()` (traffic/split.py). A request
to `/v2/models/<m>/infer` whose model has a route gets a bucket (`rand(100)`, or a hash
of the sticky header and the model), the arm owning that bucket, and its path rewritten
to the arm's path: `/v2/models/<m>/versions/<n>/infer` for a version of the model,
`/v2/models/<variant>/infer` for an ensemble whose step is in an experiment (the
variant runs the arm's step version; traffic/dependents.py). The response names the arm
in `x-modelyard-arm`. Every other request passes to Triton untouched. A request id
(`x-request-id`, a UUID unless the client sent one) goes to Triton and back.

Weight changes are one `set map` on the stats socket (the runtime API): no reload, no
connection dropped. HAProxy keeps them in memory only, so each change is also written to
the map file it reads at start. A request is routed when HAProxy parses it, so one routed
by the old entry may reach Triton after `set map` returned: before unloading what the old
entry routed to, `RuntimeApi.wait_answered` waits for the requests begun by then.
A configuration change (a new sticky header) is a reload that hands the listening sockets
over (`expose-fd listeners`, `haproxy -x SOCKET -sf OLD`), which loses no request
(TRAFFIC-FACTS.md). Counters per arm live in a stick table keyed `<counter key>/<arm>`;
they start at zero in each new process, so the driver saves them before it stops or
replaces one and adds them back. A second stick table records which experiment and arm
served each request id (for outcomes reported later); its entries are appended to a file
in the folder before a process goes.

Shadow copies: HAProxy 2.6 cannot mirror a request. A route with a shadow draws
`rand(100)` (apart from the arm's bucket) and sends the requests drawn below the shadow's
percent to the `shadow` backend: nginx (traffic/nginx.py), which passes them on to the
arm's version and mirrors a copy to the version named in `x-modelyard-shadow`. Every
other request goes straight to Triton, so a model without a shadow pays no extra hop. The
copies sent are counted under `<counter key>/shadow/<version>`.

Sources: HAProxy 2.6 configuration manual (converters `field`, `sub`, `concat`,
`crc32`; `track-sc0`; `http_fail_cnt`), management guide (runtime API, seamless reload).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modelyard.errors import Conflict, GatewayError, InputError
from modelyard.traffic.split import FIELD_SEPARATOR, MAX_ARMS, Route

ARM_HEADER = "x-modelyard-arm"
# Set by the gateway on requests that nginx copies: the shadow's Triton version, and the
# counter key its copies are logged under. A client's own values are removed first.
SHADOW_HEADER = "x-modelyard-shadow"
SHADOW_KEY_HEADER = "x-modelyard-shadow-key"
EXPERIMENT_HEADER = "x-modelyard-experiment"
REQUEST_ID_HEADER = "x-request-id"
METRICS_PATH = "/gateway/metrics"  # HAProxy's own Prometheus exporter
COUNTERS_TABLE = "modelyard_arms"
# Request id -> (experiment, arm), for outcomes reported later (`experiment feedback`).
# HAProxy keeps the newest REQUESTS_KEPT (least recently used go first; about 300 bytes
# each) for at most 24 days, its longest timer; the driver saves them before a process goes.
REQUESTS_TABLE = "modelyard_requests"
REQUESTS_KEPT = 1_000_000
REQUEST_ID_MAX = 128
REQUEST_ID_PATTERN = "^[A-Za-z0-9._:-]{1,128}$"
REQUESTS_FILE = "requests.tsv"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

CONFIG_FILE = "haproxy.cfg"
MAP_FILE = "routes.map"
SOCKET_FILE = "haproxy.sock"
PID_FILE = "haproxy.pid"
COUNTERS_FILE = "counters.json"
SHADOW_SOCKET_FILE = "shadow.sock"  # nginx's, for the shadow backend
LOCK_FILE = "gateway.lock"
SOCKET_PATH_MAX = 97
# A stream in `show sess all`: `0x55d5c3b0e000: [02/Dec/2026:06:40:08.460690] id=4
# proto=tcpv4 ...`. The id is unique for the process's life (the address is reused as soon
# as it is freed); `proto=unix_stream` is a runtime API session, such as the one asking.
_STREAM = re.compile(r"^0x[0-9a-f]+: \[[^\]]*\] id=(\d+) proto=(\S+)", re.MULTILINE)


def haproxy_binary() -> str:
    """The `haproxy` executable; InputError saying how to install it if there is none."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        raise InputError(
            "the gateway needs HAProxy 2.6 or newer: apt-get install haproxy (Debian, Ubuntu)"
        )
    return found


def upstream_of(url: str) -> str:
    """`host:port` of a Triton HTTP URL (`http://127.0.0.1:8000` -> `127.0.0.1:8000`)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"the gateway fronts Triton over plain HTTP; cannot use {url!r}")
    return f"{parts.hostname}:{parts.port or 80}"


def check_port_free(port: int) -> None:
    """Conflict naming the port unless it can be bound on loopback now (as HAProxy binds:
    SO_REUSEADDR, so only a process listening there counts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise Conflict(
                f"gateway port {port} on 127.0.0.1 is in use ({exc.strerror}); stop what "
                "listens there or choose another with --port; nothing was started"
            ) from None


# --------------------------------------------------------------------------- the files


def socket_path(folder: Path, name: str = SOCKET_FILE) -> Path:
    """A Unix socket of the gateway: in its folder, unless that path is longer than a Unix
    socket may be (HAProxy allows 97 bytes); then in a private folder under the temporary
    directory, named after a hash of the folder."""
    inside = folder / name
    if len(str(inside).encode()) <= SOCKET_PATH_MAX:
        return inside
    private = Path(tempfile.gettempdir()) / f"modelyard-gateway-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:20]
    suffix = "" if name == SOCKET_FILE else f"-{Path(name).stem}"
    return private / f"{digest}{suffix}.sock"


def render_config(
    folder: Path,
    *,
    port: int,
    upstream: str,
    sticky_headers: Iterable[str],
    bind_address: str = "127.0.0.1",
    model_upstreams: Mapping[str, Sequence[str]] | None = None,
    shadow_socket: Path | None = None,
    grpc_port: int | None = None,
    grpc_upstream: str | None = None,
) -> str:
    """haproxy.cfg for a gateway on `bind_address`:`port` in front of `upstream` (host:port).

    With `grpc_port` and `grpc_upstream` (Triton's gRPC host:port) a second frontend
    passes gRPC through (`_grpc_lines`).

    Requests drawn for a shadow copy go to nginx on `shadow_socket` (default: the
    folder's). With `model_upstreams` (Triton model -> the host:port of every server that
    serves it), a request under `/v2/models/<m>/` goes to the servers serving `m`, balanced
    between them; anything else (health, an unlisted model) to `upstream`. The Kubernetes
    export uses this: each model is served by the Services of the server groups holding it.
    """
    maps = folder / MAP_FILE
    shadow_socket = shadow_socket or socket_path(folder, SHADOW_SOCKET_FILE)
    route = "var(txn.route)"
    when = "if routed"
    lines = [
        "# Written by modelyard (traffic/haproxy.py); changes are overwritten.",
        "global",
        f"    stats socket {socket_path(folder)} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        # A process replaced by a reload stops at the latest this long after.
        "    hard-stop-after 120s",
        "",
        "defaults",
        "    mode http",
        "    option http-keep-alive",
        # On a reload the old process answers the next request of each idle keep-alive
        # connection (with `Connection: close`) instead of closing it under the client,
        # which loses a request sent at that moment (seen: 1 in ~1,000 under load).
        "    option idle-close-on-response",
        "    timeout connect 5s",
        "    timeout client 300s",
        "    timeout server 300s",
        "    timeout http-keep-alive 60s",
        "    retries 3",
        "",
        "frontend modelyard",
        f"    bind {bind_address}:{port}",
        f"    http-request use-service prometheus-exporter if {{ path {METRICS_PATH} }}",
        "    unique-id-format %[uuid()]",
        f"    http-request set-header {REQUEST_ID_HEADER} %[unique-id] "
        f"unless {{ req.hdr({REQUEST_ID_HEADER}) -m found }}",
        f"    http-request set-var(txn.request_id) req.hdr({REQUEST_ID_HEADER})",
        "    acl is_infer path_reg ^/v2/models/[^/]+/infer$",
        "    http-request set-var(txn.model) path,field(4,/) if is_infer",
        # Read before an arm's rewrite changes the path.
        *(
            ["    http-request set-var(txn.served) path,field(4,/) if { path_beg /v2/models/ }"]
            if model_upstreams
            else []
        ),
        f"    http-request set-var(txn.route) var(txn.model),map({maps}) if is_infer",
        "    acl routed var(txn.route) -m found",
        f"    http-request set-var(txn.bucket) rand(100) {when}",
        f"    http-request set-var(txn.sticky) {route},{_field(MAX_ARMS * 3 + 1)} {when}",
        f"    http-request set-var(txn.buckets) {route},{_field(MAX_ARMS * 3 + 3)} {when}",
    ]
    for header in sorted(set(sticky_headers)):
        lines.append(
            f"    http-request set-var(txn.bucket) req.hdr({header}),concat(@,txn.buckets),"
            f"crc32(1),mod(100) {when} {{ var(txn.sticky) -m str {header} }} "
            f"{{ req.hdr({header}) -m found }}"
        )
    lines += [
        f"    http-request set-var(txn.key) {route},{_field(MAX_ARMS * 3 + 2)} {when}",
        # The last arm by default; then each earlier arm whose range holds the bucket.
        f"    http-request set-var(txn.arm) {route},{_field(MAX_ARMS * 3 - 2)} {when}",
        f"    http-request set-var(txn.label) {route},{_field(MAX_ARMS * 3)} {when}",
        f"    http-request set-var(txn.arm_position) int({MAX_ARMS}) {when}",
    ]
    for arm in range(MAX_ARMS - 1, 0, -1):
        first = (arm - 1) * 3 + 1
        lines += [
            f"    http-request set-var(txn.cut{arm}) {route},{_field(first + 1)} {when}",
            f"    acl in_arm{arm} var(txn.bucket),sub(txn.cut{arm}) lt 0",
            f"    http-request set-var(txn.arm) {route},{_field(first)} {when} in_arm{arm}",
            f"    http-request set-var(txn.label) {route},{_field(first + 2)} {when} in_arm{arm}",
            f"    http-request set-var(txn.arm_position) int({arm}) {when} in_arm{arm}",
        ]
    shadowed = f"{when} shadowed"
    lines += [
        "    http-request set-path /v2/models/%[var(txn.arm)]/infer " + when,
        f"    http-request set-var(txn.counter) var(txn.key),concat(/,txn.label) {when}",
        f"    http-request track-sc0 var(txn.counter) table {COUNTERS_TABLE} {when}",
        # Shadow copies: a draw of its own, so the copied requests are a sample of every
        # arm's (and of every sticky user's). Only the gateway may ask nginx for a copy.
        f"    http-request del-header {SHADOW_HEADER}",
        f"    http-request del-header {SHADOW_KEY_HEADER}",
        f"    http-request set-var(txn.shadow_percent) {route},{_field(MAX_ARMS * 3 + 5)} {when}",
        f"    http-request set-var(txn.shadow_draw) rand(100) {when}",
        "    acl shadowed var(txn.shadow_draw),sub(txn.shadow_percent) lt 0",
        f"    http-request set-var(txn.shadow_version) {route},{_field(MAX_ARMS * 3 + 4)} "
        + shadowed,
        f"    http-request set-var(txn.shadow_label) {route},{_field(MAX_ARMS * 3 + 6)} "
        + shadowed,
        "    http-request set-var(txn.shadow_key) var(txn.key),concat(/shadow/,txn.shadow_label) "
        + shadowed,
        f"    http-request set-header {SHADOW_HEADER} %[var(txn.shadow_version)] {shadowed}",
        f"    http-request set-header {SHADOW_KEY_HEADER} %[var(txn.shadow_key)] {shadowed}",
        f"    http-request track-sc1 var(txn.shadow_key) table {COUNTERS_TABLE} {shadowed}",
        *_request_record_lines(when),
        f"    http-response set-header {ARM_HEADER} %[var(txn.label)] "
        "if { var(txn.label) -m found }",
        f"    http-response set-header {EXPERIMENT_HEADER} %[var(txn.key)] "
        "if { var(txn.key) -m found }",
        f"    http-response set-header {REQUEST_ID_HEADER} %[var(txn.request_id)]",
        "    use_backend shadow if routed shadowed",
        *_model_backend_rules(model_upstreams or {}),
        "    default_backend triton",
        "",
        "backend triton",
        f"    server triton {upstream}" + (_RESOLVED if model_upstreams else ""),
        "",
        *_model_backends(model_upstreams or {}),
        # nginx passes each request on to the arm and mirrors a copy to the shadow. While
        # it fails its health check (not started, or gone), requests go straight to
        # Triton: a client never depends on the shadow's proxy.
        "backend shadow",
        f"    server nginx unix@{shadow_socket} check inter 1s fall 1 rise 1",
        f"    server triton {upstream} backup" + (_RESOLVED if model_upstreams else ""),
        "",
        *(_grpc_lines(bind_address, grpc_port, grpc_upstream, maps) if grpc_port else []),
        f"backend {COUNTERS_TABLE}",
        "    stick-table type string len 160 size 100k store http_req_cnt,http_err_cnt,"
        "http_fail_cnt",
        "",
        f"backend {REQUESTS_TABLE}",
        f"    stick-table type string len {REQUEST_ID_MAX} size {REQUESTS_KEPT} "
        "expire 24d store gpt(2)",
        "",
    ]
    return "\n".join(lines)


GRPC_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
GRPC_STREAM_PATH = "/inference.GRPCInferenceService/ModelStreamInfer"
GRPC_FAILED_PRECONDITION = 9  # the gRPC status code of a call the gateway refuses
# The characters of a Triton model name modelyard writes (catalog names, `.` between
# domain and name, `~` for candidates): none is a protobuf tag that may follow the name.
_GRPC_NAME_CHARACTERS = "-A-Za-z0-9._~"


def _grpc_lines(
    bind_address: str, grpc_port: int | None, grpc_upstream: str | None, maps: Path
) -> list[str]:
    """A gRPC (HTTP/2 cleartext) frontend passing every call to Triton's gRPC port,
    except one it must refuse: an unversioned `ModelInfer` of a model the gateway routes.

    HAProxy cannot rewrite a protobuf body, so it cannot send a gRPC call to an arm's
    version the way it rewrites an HTTP path; passed on unversioned, the call would reach
    Triton's highest loaded version, which during an experiment is the candidate, for
    every gRPC client. So such a call is answered FAILED_PRECONDITION, naming the model;
    one naming a version (the protobuf's `model_version`) goes through as asked.

    The model and version are read from the start of the body, which may be partial (a
    large request is longer than HAProxy's buffer, and `ungrpc` refuses a partial
    message): a ModelInferRequest is serialised in field order, the 5-byte gRPC prefix,
    then field 1 (`model_name`: tag 0x0a, its length as a varint, one byte under 128, the
    name) and, when a version is named, field 2 (tag 0x12). A name's characters cannot be
    0x12, so "name then 0x12" is "versioned".

    A stream (`ModelStreamInfer`) never ends its body, so HAProxy waits for its first
    bytes only (a client writes its first message in one HTTP/2 frame, which arrives
    whole) and checks that first message the same way; the stream's later messages pass
    as they come. A first frame that arrived in part reads as a shorter name, which no
    route has: that stream passes, as every stream did before they were checked.
    """
    assert grpc_upstream is not None
    name = f"[{_GRPC_NAME_CHARACTERS}]"
    refusal = (
        "%[var(txn.grpc_model)] is routed by the modelyard gateway (an experiment or a "
        "pinned version), and a gRPC call cannot be split: name a model_version or call "
        "over HTTP"
    )
    return [
        "frontend modelyard_grpc",
        f"    bind {bind_address}:{grpc_port} proto h2",
        f"    acl grpc_unary path {GRPC_INFER_PATH}",
        f"    acl grpc_infer path {GRPC_INFER_PATH} {GRPC_STREAM_PATH}",
        "    http-request wait-for-body time 2s at-least 4k if grpc_unary",
        "    http-request wait-for-body time 2s at-least 8 if grpc_infer !grpc_unary",
        # A name of 128 bytes or more has a two-byte length (its first byte >= 0x80).
        "    acl grpc_long_name req.body,bytes(6,1),hex -m reg ^[89A-F]",
        "    http-request set-var(txn.grpc_name) req.body,bytes(7,200) "
        "if grpc_infer !grpc_long_name",
        "    http-request set-var(txn.grpc_name) req.body,bytes(8,200) "
        "if grpc_infer grpc_long_name",
        "    http-request set-var(txn.grpc_model) "
        f"var(txn.grpc_name),regsub('[^{_GRPC_NAME_CHARACTERS}][\\s\\S]*$','') if grpc_infer",
        f"    acl grpc_versioned var(txn.grpc_name) -m reg '^{name}+\\x12'",
        f"    acl grpc_routed var(txn.grpc_model),map({maps}) -m found",
        f"    http-request return status 200 hdr content-type application/grpc "
        f'hdr grpc-status {GRPC_FAILED_PRECONDITION} hdr grpc-message "{refusal}" '
        "if grpc_infer grpc_routed !grpc_versioned",
        "    default_backend triton_grpc",
        "",
        "backend triton_grpc",
        f"    server triton {grpc_upstream} proto h2",
        "",
    ]


def _upstream_sets(
    model_upstreams: Mapping[str, Sequence[str]],
) -> dict[tuple[str, ...], list[str]]:
    """Each distinct set of servers -> the models it serves, both sorted: one backend each."""
    sets: dict[tuple[str, ...], list[str]] = {}
    for model in sorted(model_upstreams):
        sets.setdefault(tuple(sorted(set(model_upstreams[model]))), []).append(model)
    return dict(sorted(sets.items()))


def _model_backend_rules(model_upstreams: Mapping[str, Sequence[str]]) -> list[str]:
    return [
        f"    use_backend triton_{index} if {{ var(txn.served) -m str {' '.join(models)} }}"
        for index, models in enumerate(_upstream_sets(model_upstreams).values(), 1)
    ]


_RESOLVED = " resolvers system init-addr last,libc,none"


def _model_backends(model_upstreams: Mapping[str, Sequence[str]]) -> list[str]:
    if not model_upstreams:
        return []
    # Names are resolved through the system's resolvers at start and again while running,
    # and a name not yet resolvable leaves its server down instead of failing the start
    # (a Service created after the gateway).
    lines = ["resolvers system", "    parse-resolv-conf", "    hold valid 10s", ""]
    for index, servers in enumerate(_upstream_sets(model_upstreams), 1):
        lines += [f"backend triton_{index}", "    balance roundrobin"]
        lines += [
            f"    server s{number} {server}{_RESOLVED}" for number, server in enumerate(servers, 1)
        ]
        lines.append("")
    return lines


def _request_record_lines(when: str) -> list[str]:
    """Which experiment and arm served each request id: an entry of the requests table,
    keyed by the id, with gpt0 the experiment and gpt1 the arm's position in the route
    (1 for the first arm; an A/B outcome reported later by request id finds its arm
    there). The position, not a version: an ensemble's arm is a model name. Tracked as
    sc2 (sc0 counts arms, sc1 shadow copies). Only experiments' routes (a numeric key,
    not a pin) and only ids the runtime API can look up are recorded."""
    recorded = (
        f"{when} {{ var(txn.key) -m reg ^[0-9]+$ }} "
        f"{{ var(txn.request_id) -m reg {REQUEST_ID_PATTERN} }}"
    )
    return [
        f"    http-request track-sc2 var(txn.request_id) table {REQUESTS_TABLE} {recorded}",
        f"    http-request sc-set-gpt(0,2) var(txn.key) {recorded}",
        f"    http-request sc-set-gpt(1,2) var(txn.arm_position) {recorded}",
    ]


def _field(index: int) -> str:
    return f"field({index},{FIELD_SEPARATOR})"


def render_map(routes: Iterable[Route]) -> str:
    return "".join(f"{r.model} {r.entry()}\n" for r in sorted(routes, key=lambda r: r.model))


def write_atomically(path: Path, text: str) -> None:
    """Write `path` through a temporary file and a rename: a reader (HAProxy starting)
    sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# --------------------------------------------------------------------------- counters


@dataclass(frozen=True)
class ArmCounts:
    """What the gateway counted for one arm: requests, 4xx and 5xx answers."""

    requests: int = 0
    client_errors: int = 0
    errors: int = 0

    def __add__(self, other: ArmCounts) -> ArmCounts:
        return ArmCounts(
            self.requests + other.requests,
            self.client_errors + other.client_errors,
            self.errors + other.errors,
        )


_TABLE_ROW = re.compile(r"key=(\S+) .*?http_req_cnt=(\d+) http_err_cnt=(\d+) http_fail_cnt=(\d+)")


def parse_table(text: str) -> dict[str, ArmCounts]:
    """`show table` output -> counter key -> counts."""
    found: dict[str, ArmCounts] = {}
    for line in text.splitlines():
        match = _TABLE_ROW.search(line)
        if match:
            key, requests, client_errors, errors = match.groups()
            found[key] = ArmCounts(int(requests), int(client_errors), int(errors))
    return found


@dataclass(frozen=True)
class RequestArm:
    """Which experiment (its id) and which arm (its position in the experiment's arms,
    1 for the first) served a request."""

    experiment: int
    position: int


_REQUEST_ROW = re.compile(r"key=(\S+) .*?gpt0=(\d+) gpt1=(\d+)")


def parse_requests(text: str) -> dict[str, RequestArm]:
    """`show table` output of the requests table -> request id -> experiment and arm."""
    found: dict[str, RequestArm] = {}
    for line in text.splitlines():
        match = _REQUEST_ROW.search(line)
        if match:
            key, experiment, version = match.groups()
            found[key] = RequestArm(int(experiment), int(version))
    return found


def is_request_id(text: str) -> bool:
    """Whether the gateway records requests with this id (see REQUEST_ID_PATTERN)."""
    return re.fullmatch(REQUEST_ID_PATTERN.strip("^$"), text) is not None


# --------------------------------------------------------------------------- the process


class RuntimeApi:
    """HAProxy's runtime API on its stats socket (one command per connection)."""

    def __init__(self, path: Path, timeout_s: float = 10.0) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def command(self, line: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(self.timeout_s)
                connection.connect(str(self.path))
                connection.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise GatewayError(
                f"the gateway's runtime API ({self.path}) does not answer: {exc.strerror or exc}"
            ) from exc
        return b"".join(chunks).decode(errors="replace")

    def set_route(self, map_file: Path, route: Route) -> None:
        """Set (or add) one model's route in the running process's map."""
        entry = route.entry()
        answer = self.command(f"set map {map_file} {route.model} {entry}").strip()
        if answer == "entry not found.":
            answer = self.command(f"add map {map_file} {route.model} {entry}").strip()
        if answer:
            raise GatewayError(f"HAProxy refused the route of {route.model}: {answer}")

    def del_route(self, map_file: Path, model: str) -> None:
        answer = self.command(f"del map {map_file} {model}").strip()
        if answer and answer != "entry not found.":
            raise GatewayError(f"HAProxy refused to remove the route of {model}: {answer}")

    def routes(self, map_file: Path) -> dict[str, str]:
        """model -> route entry, as the running process has them."""
        found = {}
        for line in self.command(f"show map {map_file}").splitlines():
            parts = line.split()
            if len(parts) == 3:
                found[parts[1]] = parts[2]
        return found

    def counters(self) -> dict[str, ArmCounts]:
        return parse_table(self.command(f"show table {COUNTERS_TABLE}"))

    def request_arm(self, request_id: str) -> RequestArm | None:
        """The experiment and arm that served `request_id` in this process, if recorded."""
        found = parse_requests(self.command(f"show table {REQUESTS_TABLE} key {request_id}"))
        return found.get(request_id)

    def request_arms(self) -> dict[str, RequestArm]:
        return parse_requests(self.command(f"show table {REQUESTS_TABLE}"))

    def streams(self) -> set[int]:
        """The ids of the process's streams now: one per request being answered (an idle
        keep-alive connection has none until its next request arrives)."""
        return {
            int(found)
            for found, proto in _STREAM.findall(self.command("show sess all"))
            if proto != "unix_stream"
        }

    def wait_answered(self, timeout_s: float) -> set[int]:
        """Wait until every request the process has begun by now is answered: after a
        route changes, the last request routed by the old entry. Returns the streams still
        open after `timeout_s` (none when all were answered).

        A request looks its route up when HAProxy parses it, then still travels to the
        server, queued behind others; under load it reaches Triton milliseconds after
        `del map`/`set map` returned, so what it was routed to must serve until then.
        """
        pending = self.streams()
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            time.sleep(0.01)
            pending &= self.streams()  # a new stream (a new id) routes by the new map
        return pending


@dataclass(frozen=True)
class GatewayFiles:
    """A gateway's folder: configuration, routes, socket, pid and saved counters."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def map(self) -> Path:
        return self.folder / MAP_FILE

    @property
    def socket(self) -> Path:
        return socket_path(self.folder)

    @property
    def pid_file(self) -> Path:
        return self.folder / PID_FILE

    @property
    def api(self) -> RuntimeApi:
        return RuntimeApi(self.socket)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock: one process at a time changes this gateway."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / LOCK_FILE).open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def pids(self) -> list[int]:
        """The running HAProxy processes this folder's pid file names (none if stale)."""
        try:
            listed = [int(p) for p in self.pid_file.read_text().split()]
        except (OSError, ValueError):
            return []
        return [pid for pid in listed if _is_haproxy(pid, self.config)]

    def is_running(self) -> bool:
        return bool(self.pids())

    def saved_counters(self) -> dict[str, ArmCounts]:
        try:
            data = json.loads((self.folder / COUNTERS_FILE).read_text())
            return {key: ArmCounts(*values) for key, values in data.items()}
        except (OSError, ValueError, TypeError):
            return {}

    def counters(self) -> dict[str, ArmCounts]:
        """Every arm's counts since the folder's first gateway: saved plus live."""
        total = self.saved_counters()
        if self.is_running():
            for key, counts in self.api.counters().items():
                total[key] = total.get(key, ArmCounts()) + counts
        return total

    def request_arm(self, request_id: str) -> RequestArm | None:
        """The experiment and arm that served `request_id`: the running process's record,
        else the newest one saved from the processes before it."""
        if self.is_running():
            found = self.api.request_arm(request_id)
            if found is not None:
                return found
        saved = None
        with contextlib.suppress(OSError), (self.folder / REQUESTS_FILE).open() as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 3 and parts[0] == request_id:
                    saved = RequestArm(int(parts[1]), int(parts[2]))
        return saved

    def save_counters(self) -> None:
        """Fold the running process's counters into the saved ones, and append its request
        records to the saved ones (before it goes)."""
        if self.is_running():
            arms = self.api.request_arms()
            with (self.folder / REQUESTS_FILE).open("a", encoding="utf-8") as handle:
                handle.writelines(
                    f"{key} {arm.experiment} {arm.position}\n" for key, arm in arms.items()
                )
        total = self.counters()
        write_atomically(
            self.folder / COUNTERS_FILE,
            json.dumps(
                {key: [c.requests, c.client_errors, c.errors] for key, c in sorted(total.items())}
            ),
        )


def _is_haproxy(pid: int, config: Path) -> bool:
    """Whether `pid` is a live HAProxy running `config` (not a reused pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and str(config).encode() in command


def write_files(
    files: GatewayFiles,
    routes: Sequence[Route],
    *,
    port: int,
    upstream: str,
    sticky_headers: Iterable[str],
    grpc_port: int | None = None,
    grpc_upstream: str | None = None,
) -> None:
    files.folder.mkdir(parents=True, exist_ok=True)
    write_atomically(files.map, render_map(routes))
    write_atomically(
        files.config,
        render_config(
            files.folder,
            port=port,
            upstream=upstream,
            sticky_headers=sticky_headers,
            grpc_port=grpc_port,
            grpc_upstream=grpc_upstream,
        ),
    )


def start(files: GatewayFiles, *, replace: Sequence[int] = ()) -> list[int]:
    """Start HAProxy on the folder's files, in the background; with `replace`, take the
    listening sockets over from those processes (`-x`) and let them finish (`-sf`).

    Returns the new process ids. Raises GatewayError with HAProxy's alerts if it refuses.
    """
    command = [haproxy_binary(), "-D", "-f", str(files.config), "-p", str(files.pid_file)]
    if replace:
        command += ["-x", str(files.socket), "-sf", *map(str, replace)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise GatewayError(f"HAProxy did not start within {START_TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        alerts = [line for line in done.stderr.splitlines() if "ALERT" in line] or [
            done.stderr.strip() or f"exit code {done.returncode}"
        ]
        raise GatewayError(f"HAProxy refused to start: {'; '.join(alerts)[:600]}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pids = [p for p in files.pids() if p not in replace]
        if pids:
            with contextlib.suppress(GatewayError):
                files.api.command("show info")
                return pids
        time.sleep(0.05)
    raise GatewayError(f"HAProxy started but its runtime API ({files.socket}) never answered")


def stop(files: GatewayFiles, pids: Sequence[int]) -> None:
    """Stop the processes: SIGUSR1 (finish what runs, then exit), then SIGTERM, then
    SIGKILL, each after STOP_TIMEOUT_S."""
    for signal_number in (signal.SIGUSR1, signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid in pids if _is_haproxy(pid, files.config)]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [pid for pid in alive if _is_haproxy(pid, files.config)]
        if not alive:
            break
    # HAProxy leaves its stats socket behind (a stale one could sit in the temporary folder).
    files.socket.unlink(missing_ok=True)
