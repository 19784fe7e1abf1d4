"""The placement as Kubernetes objects: pure, `render_manifests(...) -> list of dicts`.

What the objects are
--------------------
- **Server groups.** Each fleet server that placement gives replicas becomes one Triton
  pod. Servers whose shares are identical (the same model versions, instances, GPUs and
  rate limiter flags) form one group: one Deployment with a replica per server, and one
  Service. The pods of a group read the repository `compile --per-server` writes for the
  group's first server, `<repository>/<server>/`, and load each model of the share by
  name (`--model-control-mode=explicit`, one `--load-model` each), so modelyard's deploy
  can change them later without a restart.
- **GPUs.** The compiled instance groups name the fleet's GPU indexes (`gpus: [1]`);
  inside a pod the NVIDIA device plugin numbers the GPUs it gave from 0. So a pod asks
  for `nvidia.com/gpu` = the highest index placement uses there + 1, which is the number
  of GPUs it uses whenever placement used the low indexes (it opens GPUs in fleet order).
- **Resources.** Requests are the share's totals of `memory_mb` and `cpu_cores` (the
  declared figures, or the measured ones when the placement was calibrated); the memory
  limit equals the request, so the scheduler's view and the catalog's agree.
- **Node selectors** are the labels every server of the group carries (a model's
  `placement.requires` is among them). Replicas of a model run on distinct servers
  (placement's rule), so pods that share any model form an *availability set*: required
  pod anti-affinity on `kubernetes.io/hostname` keeps them on distinct nodes.
- **PodDisruptionBudgets** come from the availability targets: placement gives a model
  with availability >= 0.999 two replicas (or `placement.replicas`). One budget per
  availability set allows `min(replicas) - 1` pods of the set down at once, so every model
  keeps a replica through a drain. A set whose models have one replica gets none (a
  budget of 0 would block every drain). Budgets never overlap: the eviction API refuses a
  pod that two budgets select.
- **The gateway**: HAProxy as `traffic/haproxy.py` configures it, its `haproxy.cfg` and
  `routes.map` in a ConfigMap, routing each model to the Services of the groups serving it.
- **KServe** (`kserve` format): one `InferenceService` (serving.kserve.io/v1beta1, model
  format `triton`, raw deployment mode) per group instead of the Deployment and Service,
  with a ServiceAccount that hands KServe's storage initializer the S3 Secret.

Sources: Kubernetes API reference (apps/v1 Deployment, policy/v1 PodDisruptionBudget),
NVIDIA device plugin README, KServe docs (v1beta1 InferenceService, S3 storage).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from modelyard.errors import InputError
from modelyard.kube.defaults import (
    DEFAULT_GATEWAY_IMAGE,
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_NAMESPACE,
    DEFAULT_S3_SECRET,
    DEFAULT_TRITON_IMAGE,
)
from modelyard.placement.fleet import Fleet
from modelyard.placement.solver import Placement
from modelyard.traffic.haproxy import MAP_FILE, render_config

KubeFormat = Literal["kubernetes", "kserve"]
FORMATS: tuple[str, ...] = ("kubernetes", "kserve")

# The Kubernetes versions the objects are written for: those kubernetes-validate has
# schemas for (apps/v1, policy/v1 and the fields used here exist in all of them).
KUBERNETES_VERSIONS: tuple[str, ...] = tuple(f"1.{minor}" for minor in range(25, 38))

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002
GATEWAY_PORT = 8080
GATEWAY_REPLICAS = 2
# Where the gateway container finds its configuration: a writable folder (HAProxy puts
# its stats socket beside the map file), filled from the ConfigMap at start.
GATEWAY_FOLDER = "/var/run/modelyard-gateway"
GPU_RESOURCE = "nvidia.com/gpu"
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"

MANAGED_BY = "modelyard"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_AVAILABILITY_SET = "modelyard.io/availability-set"
ANNOTATION_SERVERS = "modelyard.io/servers"
ANNOTATION_MODELS = "modelyard.io/models"
ANNOTATION_CONFIG = "modelyard.io/config-sha256"
ANNOTATION_AVAILABILITY = "modelyard.io/availability"

# Kubernetes' kinds in the order `kubectl apply -f DIR` should meet them.
KIND_ORDER = (
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "Deployment",
    "InferenceService",
    "PodDisruptionBudget",
)

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_BUCKET = re.compile(r"[0-9a-z][0-9a-z.-]{1,61}[0-9a-z]")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket/prefix`, or `s3://host:port/bucket/prefix` for a store other than AWS."""

    bucket: str
    prefix: str
    endpoint: str | None = None

    def url(self, *parts: str) -> str:
        """Triton's form of the location (with the endpoint), `parts` joined under it."""
        path = "/".join(p for p in (self.prefix, *parts) if p)
        host = f"{self.endpoint}/" if self.endpoint else ""
        return f"s3://{host}{self.bucket}" + (f"/{path}" if path else "")

    def bucket_url(self, *parts: str) -> str:
        """The location without the endpoint, as KServe's `storageUri` wants it."""
        path = "/".join(p for p in (self.prefix, *parts) if p)
        return f"s3://{self.bucket}" + (f"/{path}" if path else "")


def parse_s3_url(url: str, what: str = "--repository") -> S3Location:
    """An S3 location Triton can read, or InputError naming what is wrong with `url`."""
    usage = (
        f"{what} {url!r}: expected s3://bucket/path or s3://host:port/bucket/path (where "
        "`modelyard compile --per-server` output is published for Triton in the cluster)"
    )
    if not url.startswith("s3://"):
        raise InputError(usage)
    parts = [p for p in url[len("s3://") :].split("/")]
    endpoint = None
    if parts and _HOST_PORT.fullmatch(parts[0]):
        endpoint = parts.pop(0)
    if not parts or not parts[0]:
        raise InputError(usage)
    bucket, rest = parts[0], parts[1:]
    if not _BUCKET.fullmatch(bucket):
        # Triton's S3 client (and S3 itself) refuse other bucket names (TRAFFIC-FACTS.md).
        raise InputError(
            f"{what} {url!r}: bucket {bucket!r} must be 3 to 63 lower-case letters, digits, "
            "'.' or '-' (Triton refuses other names)"
        )
    if any(p in ("", ".", "..") for p in rest[:-1]) or (rest and rest[-1] in (".", "..")):
        raise InputError(f"{what} {url!r}: the path must not hold empty, '.' or '..' parts")
    prefix = str(PurePosixPath(*rest)) if [p for p in rest if p] else ""
    return S3Location(bucket, prefix, endpoint)


def check_kubernetes_version(version: str) -> str:
    """`1.31` (also written `1.31.0`) if supported, else InputError listing the range."""
    match = re.fullmatch(r"(1\.[0-9]+)(\.0)?", version)
    if match is None or match.group(1) not in KUBERNETES_VERSIONS:
        raise InputError(
            f"--kubernetes-version {version!r}: expected one of {KUBERNETES_VERSIONS[0]} to "
            f"{KUBERNETES_VERSIONS[-1]} (the versions the objects are written and validated for)"
        )
    return match.group(1)


def check_dns_label(value: str, what: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise InputError(
            f"{what} {value!r}: expected a DNS label (at most 63 lower-case letters, digits "
            "and '-', starting with a letter, not ending with '-')"
        )
    return value


def dns_label(text: str, prefix: str = "") -> str:
    """`prefix + text` as a DNS label: lower case, other characters as '-', and a hash
    suffix when it had to be shortened."""
    name = re.sub(r"[^a-z0-9-]+", "-", (prefix + text).lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"x-{name}".rstrip("-")
    if len(name) > 63:
        digest = hashlib.sha256((prefix + text).encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


@dataclass(frozen=True)
class KubeOptions:
    """How the objects are written: where they run and what they read."""

    repository: S3Location
    namespace: str = DEFAULT_NAMESPACE
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    format: KubeFormat = "kubernetes"
    s3_secret: str = DEFAULT_S3_SECRET
    triton_image: str = DEFAULT_TRITON_IMAGE
    gateway_image: str = DEFAULT_GATEWAY_IMAGE
    sticky_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_dns_label(self.namespace, "--namespace")
        check_kubernetes_version(self.kubernetes_version)
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", self.s3_secret):
            raise InputError(f"--s3-secret {self.s3_secret!r}: expected a Kubernetes object name")
        for what, image in (
            ("--triton-image", self.triton_image),
            ("--gateway-image", self.gateway_image),
        ):
            if not _IMAGE.fullmatch(image):
                raise InputError(
                    f"{what} {image!r}: expected an image reference such as {DEFAULT_TRITON_IMAGE}"
                )


@dataclass(frozen=True)
class KubeModel:
    """What the objects need of one placed model: its Triton name and availability target."""

    triton_name: str
    availability: float


@dataclass(frozen=True)
class ServerGroup:
    """Servers with identical shares: one Deployment (or InferenceService) and Service."""

    name: str
    servers: tuple[str, ...]
    availability_set: str
    models: tuple[str, ...]  # Triton names, loaded at start
    refs: tuple[str, ...]  # the catalog versions placed there
    gpus: int
    memory_mb: int
    cpu_cores: float
    node_selector: dict[str, str]
    rate_limit_flags: tuple[str, ...]

    @property
    def replicas(self) -> int:
        return len(self.servers)


@dataclass(frozen=True)
class AvailabilitySet:
    """Servers linked by the models they share; one disruption budget for all of them."""

    name: str
    servers: tuple[str, ...]
    min_replicas: int  # the fewest servers any of its models runs on
    availability: float  # the strictest target of its models

    @property
    def max_unavailable(self) -> int:
        return self.min_replicas - 1


@dataclass(frozen=True)
class KubeLayout:
    """The groups and availability sets of a placement (what the objects are built from)."""

    groups: tuple[ServerGroup, ...]
    availability_sets: tuple[AvailabilitySet, ...]
    notes: tuple[str, ...] = field(default=())


def layout(placement: Placement, fleet: Fleet, models: Mapping[str, KubeModel]) -> KubeLayout:
    """Group the servers of `placement` (see the module docstring); `models` is keyed by
    model id and holds the compiled models (a model compile skipped is placed, counted,
    and not loaded).

    Raises:
        InputError: two servers map to one Kubernetes name.
    """
    servers = [s for s in fleet.servers if placement.on(s.name)]
    names: dict[str, str] = {}
    for server in servers:
        name = dns_label(server.name, "triton-")
        clash = next((other for other, n in names.items() if n == name), None)
        if clash is not None:
            raise InputError(
                f"fleet: servers {clash!r} and {server.name!r} both become the Kubernetes "
                f"name {name!r}; rename one in modelyard.yaml"
            )
        names[server.name] = name
    sets = _availability_sets(placement, [s.name for s in servers], models)
    set_of = {server: s.name for s in sets for server in s.servers}

    by_key: dict[tuple[Any, ...], list[str]] = {}
    for server in servers:
        by_key.setdefault(_share_key(placement, server.name), []).append(server.name)
    labels = {s.name: s.labels for s in fleet.servers}
    groups = []
    for members in by_key.values():
        first = members[0]
        assignments = placement.on(first)
        ids = list(dict.fromkeys(a.model_id for a in assignments))
        common = {
            key: value
            for key, value in sorted(labels[first].items())
            if all(labels[m].get(key) == value for m in members)
        }
        indexes = [a.gpu_index for a in assignments if a.gpu_index is not None]
        groups.append(
            ServerGroup(
                name=names[first],
                servers=tuple(members),
                availability_set=set_of[first],
                models=tuple(sorted(models[i].triton_name for i in ids if i in models)),
                refs=tuple(sorted({a.ref for a in assignments})),
                gpus=max(indexes) + 1 if indexes else 0,
                memory_mb=sum(a.memory_mb for a in assignments),
                cpu_cores=sum(a.cpu_cores for a in assignments),
                node_selector=common,
                rate_limit_flags=tuple(placement.rate_limit_flags(first)),
            )
        )
    notes = tuple(
        f"availability set {s.name} ({', '.join(s.servers)}): no PodDisruptionBudget, "
        "a model there has one replica (a budget would block every drain)"
        for s in sets
        if s.max_unavailable < 1
    )
    return KubeLayout(tuple(groups), tuple(sets), notes)


def _share_key(placement: Placement, server: str) -> tuple[Any, ...]:
    """What makes two servers' Triton pods interchangeable."""
    shares = sorted(
        (
            a.ref,
            a.instances,
            a.gpu_index if a.gpu_index is not None else -1,
            a.gpu_memory_mb,
            a.memory_mb,
            a.cpu_cores,
        )
        for a in placement.on(server)
    )
    return (tuple(shares), tuple(placement.rate_limit_flags(server)))


def _availability_sets(
    placement: Placement, servers: Sequence[str], models: Mapping[str, KubeModel]
) -> list[AvailabilitySet]:
    parent = {s: s for s in servers}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    hosts: dict[str, set[str]] = {}
    for server in servers:
        for a in placement.on(server):
            hosts.setdefault(a.model_id, set()).add(server)
    for placed in hosts.values():
        first, *rest = sorted(placed, key=servers.index)
        for other in rest:
            parent[root(other)] = root(first)
    members: dict[str, list[str]] = {}
    for server in servers:
        members.setdefault(root(server), []).append(server)
    sets = []
    for group in members.values():
        inside = {a.model_id for s in group for a in placement.on(s)}
        sets.append(
            AvailabilitySet(
                name=dns_label(group[0]),
                servers=tuple(group),
                min_replicas=min(len(hosts[i]) for i in inside),
                availability=max(
                    (models[i].availability for i in inside if i in models), default=0.0
                ),
            )
        )
    return sets


# --------------------------------------------------------------------------- objects


def render_manifests(
    placement: Placement, fleet: Fleet, models: Mapping[str, KubeModel], options: KubeOptions
) -> list[dict[str, Any]]:
    """Every object for `placement` on `fleet`, in apply order (kind, then name).

    Raises:
        InputError: the placement is not feasible, or two servers share a Kubernetes name.
    """
    if not placement.feasible:
        raise InputError("the placement leaves replicas unplaced; nothing can be exported")
    plan = layout(placement, fleet, models)
    objects: list[dict[str, Any]] = []
    if options.format == "kserve":
        objects.append(_service_account(options))
        objects += [_inference_service(group, options) for group in plan.groups]
    else:
        for group in plan.groups:
            objects += [_triton_deployment(group, options), _triton_service(group, options)]
        objects += _gateway(plan, options)
    objects += [
        _disruption_budget(s, options) for s in plan.availability_sets if s.max_unavailable >= 1
    ]
    return sorted(objects, key=lambda o: (KIND_ORDER.index(o["kind"]), o["metadata"]["name"]))


def _metadata(
    name: str, options: KubeOptions, labels: Mapping[str, str], **annotations: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": options.namespace,
        "labels": {**labels, LABEL_MANAGED_BY: MANAGED_BY},
    }
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return meta


def _selector(group: ServerGroup) -> dict[str, str]:
    return {LABEL_NAME: "triton", LABEL_INSTANCE: group.name}


def _pod_labels(group: ServerGroup) -> dict[str, str]:
    return {**_selector(group), LABEL_AVAILABILITY_SET: group.availability_set}


def _annotations(group: ServerGroup) -> dict[str, str]:
    return {ANNOTATION_SERVERS: ",".join(group.servers), ANNOTATION_MODELS: ",".join(group.refs)}


def _quantity_cpu(cores: float) -> str:
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _resources(group: ServerGroup) -> dict[str, Any]:
    memory = f"{max(group.memory_mb, 1)}Mi"
    requests: dict[str, str] = {"memory": memory}
    if group.cpu_cores > 0:
        requests["cpu"] = _quantity_cpu(group.cpu_cores)
    limits: dict[str, str] = {"memory": memory}
    if group.gpus:
        # Extended resources are given in limits (a request, if any, must equal it).
        limits[GPU_RESOURCE] = str(group.gpus)
    return {"requests": dict(sorted(requests.items())), "limits": dict(sorted(limits.items()))}


def _triton_args(group: ServerGroup, repository: str | None) -> list[str]:
    args = [f"--model-repository={repository}"] if repository else []
    args += ["--model-control-mode=explicit"]
    args += [f"--load-model={model}" for model in group.models]
    return args + list(group.rate_limit_flags)


def _affinity(group: ServerGroup) -> dict[str, Any]:
    # Replicas of a model run on distinct servers; the set's pods share models.
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchLabels": {
                            LABEL_NAME: "triton",
                            LABEL_AVAILABILITY_SET: group.availability_set,
                        }
                    },
                    "topologyKey": HOSTNAME_TOPOLOGY,
                }
            ]
        }
    }


def _probe(path: str, port: str, *, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_s,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def _s3_env(options: KubeOptions) -> list[dict[str, Any]]:
    def key(name: str, optional: bool = False) -> dict[str, Any]:
        ref: dict[str, Any] = {"name": options.s3_secret, "key": name}
        if optional:
            ref["optional"] = True
        return {"name": name, "valueFrom": {"secretKeyRef": ref}}

    return [
        key("AWS_ACCESS_KEY_ID"),
        key("AWS_SECRET_ACCESS_KEY"),
        key("AWS_DEFAULT_REGION", optional=True),
    ]


def _triton_deployment(group: ServerGroup, options: KubeOptions) -> dict[str, Any]:
    repository = options.repository.url(group.servers[0])
    container: dict[str, Any] = {
        "name": "triton",
        "image": options.triton_image,
        "command": ["tritonserver"],
        "args": [
            *_triton_args(group, repository),
            f"--http-port={HTTP_PORT}",
            f"--grpc-port={GRPC_PORT}",
            f"--metrics-port={METRICS_PORT}",
        ],
        "env": _s3_env(options),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": _resources(group),
        # Loading from S3 takes a while (3.8 s for two tiny models here, more for real
        # ones): the startup probe gives it 10 minutes before liveness counts.
        "startupProbe": _probe("/v2/health/live", "http", period_s=10, failures=60),
        "livenessProbe": _probe("/v2/health/live", "http", period_s=10, failures=3),
        "readinessProbe": _probe("/v2/health/ready", "http", period_s=5, failures=3),
    }
    pod: dict[str, Any] = {"containers": [container], "affinity": _affinity(group)}
    if group.node_selector:
        pod["nodeSelector"] = dict(group.node_selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(group.name, options, _selector(group), **_annotations(group)),
        "spec": {
            "replicas": group.replicas,
            "selector": {"matchLabels": _selector(group)},
            # No surge: a new pod needs the GPUs the old one holds.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {
                "metadata": {"labels": _pod_labels(group), "annotations": _annotations(group)},
                "spec": pod,
            },
        },
    }


def _triton_service(group: ServerGroup, options: KubeOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(group.name, options, _selector(group), **_annotations(group)),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(group),
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
            ],
        },
    }


def _disruption_budget(budget: AvailabilitySet, options: KubeOptions) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(
            f"triton-{budget.name}"[:63].rstrip("-"),
            options,
            {LABEL_NAME: "triton", LABEL_AVAILABILITY_SET: budget.name},
            **{
                ANNOTATION_SERVERS: ",".join(budget.servers),
                ANNOTATION_AVAILABILITY: f"{budget.availability:g}",
            },
        ),
        "spec": {
            "maxUnavailable": budget.max_unavailable,
            "selector": {
                "matchLabels": {LABEL_NAME: "triton", LABEL_AVAILABILITY_SET: budget.name}
            },
        },
    }


GATEWAY_NAME = "modelyard-gateway"


def gateway_config(plan: KubeLayout, options: KubeOptions) -> str:
    """haproxy.cfg of the gateway: each model to the Services of the groups serving it."""
    served: dict[str, list[str]] = {}
    for group in plan.groups:
        upstream = f"{group.name}.{options.namespace}.svc:{HTTP_PORT}"
        for model in group.models:
            served.setdefault(model, []).append(upstream)
    default = (
        f"{plan.groups[0].name}.{options.namespace}.svc:{HTTP_PORT}"
        if plan.groups
        else f"127.0.0.1:{HTTP_PORT}"
    )
    return render_config(
        Path(GATEWAY_FOLDER),
        port=GATEWAY_PORT,
        upstream=default,
        sticky_headers=options.sticky_headers,
        bind_address="0.0.0.0",
        model_upstreams=served,
    )


def _gateway(plan: KubeLayout, options: KubeOptions) -> list[dict[str, Any]]:
    config = gateway_config(plan, options)
    files = {"haproxy.cfg": config, MAP_FILE: ""}
    digest = hashlib.sha256(
        "".join(f"{k}\0{v}\0" for k, v in sorted(files.items())).encode()
    ).hexdigest()
    labels = {LABEL_NAME: "gateway", LABEL_INSTANCE: GATEWAY_NAME}
    volumes = [
        {"name": "config", "configMap": {"name": GATEWAY_NAME}},
        {"name": "run", "emptyDir": {}},
    ]
    container = {
        "name": "haproxy",
        "image": options.gateway_image,
        "command": ["haproxy", "-W", "-db", "-f", f"{GATEWAY_FOLDER}/haproxy.cfg"],
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": "run", "mountPath": GATEWAY_FOLDER}],
        "resources": {
            "requests": {"cpu": "500m", "memory": "256Mi"},
            "limits": {"memory": "256Mi"},
        },
        "readinessProbe": {
            "tcpSocket": {"port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
    }
    # The ConfigMap's volume is read-only; HAProxy writes its stats socket beside the
    # map file, so both are copied into a writable folder first.
    copy = {
        "name": "config",
        "image": options.gateway_image,
        "command": ["sh", "-c", f"cp /config/haproxy.cfg /config/{MAP_FILE} {GATEWAY_FOLDER}/"],
        "volumeMounts": [
            {"name": "config", "mountPath": "/config", "readOnly": True},
            {"name": "run", "mountPath": GATEWAY_FOLDER},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(GATEWAY_NAME, options, labels),
            "data": files,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _metadata(GATEWAY_NAME, options, labels),
            "spec": {
                "replicas": GATEWAY_REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    # A new configuration rolls the pods (a ConfigMap change alone does not).
                    "metadata": {"labels": labels, "annotations": {ANNOTATION_CONFIG: digest}},
                    "spec": {
                        "initContainers": [copy],
                        "containers": [container],
                        "volumes": volumes,
                        "affinity": {
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "weight": 100,
                                        "podAffinityTerm": {
                                            "labelSelector": {"matchLabels": labels},
                                            "topologyKey": HOSTNAME_TOPOLOGY,
                                        },
                                    }
                                ]
                            }
                        },
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(GATEWAY_NAME, options, labels),
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _metadata(GATEWAY_NAME, options, labels),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
        },
    ]


def _service_account(options: KubeOptions) -> dict[str, Any]:
    annotations = {}
    if options.repository.endpoint:
        annotations["serving.kserve.io/s3-endpoint"] = options.repository.endpoint
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(options.s3_secret, options, {LABEL_NAME: "triton"}, **annotations),
        # KServe's storage initializer reads the S3 keys from the Secrets listed here.
        "secrets": [{"name": options.s3_secret}],
    }
    return account


def _inference_service(group: ServerGroup, options: KubeOptions) -> dict[str, Any]:
    tag = options.triton_image.rpartition(":")[2] if ":" in options.triton_image else "latest"
    predictor: dict[str, Any] = {
        "minReplicas": group.replicas,
        "maxReplicas": group.replicas,
        "serviceAccountName": options.s3_secret,
        "labels": _pod_labels(group),
        "affinity": _affinity(group),
        "model": {
            "modelFormat": {"name": "triton"},
            "protocolVersion": "v2",
            "runtimeVersion": tag,
            # KServe's storage initializer copies this to /mnt/models, the runtime's
            # --model-repository; these args are added to the runtime's own.
            "storageUri": options.repository.bucket_url(group.servers[0]),
            "args": _triton_args(group, None),
            "resources": _resources(group),
        },
    }
    if group.node_selector:
        predictor["nodeSelector"] = dict(group.node_selector)
    metadata = _metadata(group.name, options, _selector(group), **_annotations(group))
    # Plain Deployments (no Knative): a fixed replica count, as placement decided.
    metadata["annotations"]["serving.kserve.io/deploymentMode"] = "RawDeployment"
    metadata["annotations"] = dict(sorted(metadata["annotations"].items()))
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def file_name(obj: Mapping[str, Any]) -> str:
    """The file an object is written to: `<kind>-<name>.yaml`, lower case."""
    return f"{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"
