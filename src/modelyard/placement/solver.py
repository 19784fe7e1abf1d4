"""Placement: which server, and which GPU on it, runs each replica of each model.

Pure: `place(demands, fleet, previous)` -> `Placement`; no I/O, no clock.

The solver here is a first-fit-decreasing heuristic; the exact one is
`placement/exact.py` (the `exact` extra): the same rules as a mixed-integer program solved
by HiGHS, for small inputs (`modelyard place --exact`, and by default for selections of
up to 40 replicas when `highspy` is installed); it reuses this module's `Demand`,
`Placement` and `lower_bound_gpus`. (Not OR-Tools CP-SAT: `ortools` pins a protobuf
version that conflicts with the one `tritonclient[grpc]` needs.)

Rules
-----
- **Replicas** (`demands_from_specs`): the manifest's `placement.replicas` when set; else
  two when `sla_requirements.availability` is 0.999 or more -- two replicas on different
  servers, so that one server failing leaves one replica serving -- else one. An
  ensemble's step models get at least as many replicas as the ensemble (a step shared by
  several ensembles: the most any of them asks for), transitively for nested ensembles.
- **Replica**: every replica of a model runs on its own server. A replica puts all its
  `instance_count` instances on ONE GPU of that server when the model needs GPU memory
  (`instance_count * gpu_memory_mb` free on that GPU) and always takes
  `instance_count * memory_mb` host memory and `instance_count * cpu_cores` cores of the
  server. A model with `gpu_memory_mb == 0` runs on the CPU (KIND_CPU). The instance
  count is `ModelSpec.declared_instances`: the `triton.instance_group` counts when the
  manifest's `triton` block sets them (that is what Triton is given), else `instance_count`.
- **Hard constraints**: GPU memory per GPU; host memory and CPU cores per server; the
  model's `requires` labels are all among the server's labels; isolation: a server or GPU
  with `dedicated_to` admits only models whose domain or team it names. Models of a
  dedicated domain or team are not confined to their dedicated hardware (only `requires`
  confines a model).
- **Co-location**: Triton runs an ensemble's steps in the server that runs the ensemble,
  so ensembles and their steps (transitively, and joined through shared steps) form a
  group, and replica k of every member of the group with more than k replicas is placed
  as ONE bundle on one server (the members still use whichever GPUs of it fit). A member
  with more replicas than every ensemble of its group has its extra replicas placed alone.
  Where a selection holds several versions of a step model, all of them are co-located
  (Triton loads the versions of a model from one model folder).
- **Objective**: fewest GPUs, then balance. Units (single replicas and bundles) go in
  decreasing order of GPU memory (then host memory, cores, ref); units confined to part
  of the fleet (their `requires` labels rule out a server, or isolation rules out half
  the servers) go first, so that larger unconfined models do not fill their servers.
  Each GPU item is tried on the GPUs already in use first, tightest fit first (first fit
  over the open GPUs ordered by free memory, i.e. best fit); only when none holds it is a
  new GPU opened, the largest. Ties go to the least-used server (the lowest of its
  highest host memory, CPU and GPU memory utilisation fraction), then fleet order.
  CPU-only replicas go to the least-used server. A bundle goes to the server where it
  opens the fewest new GPUs, then the largest ones, then the least-used server.
  Dedicated hardware is not preferred for its owners: the objective alone decides.
- **Stability**: with `previous`, every replica that still fits where it was (same
  server and GPU; a new version of a model takes its predecessor's place) is kept there
  first, then the rest are placed as above. If keeping leaves something unplaced while a
  fresh placement fits everything, the fresh one is returned: feasibility before
  stability. `moved` counts the replicas that run somewhere else than before.
- **Infeasible**: nothing is dropped silently. Every replica that does not fit becomes a
  `Shortfall` naming the resource that does not fit (`gpu_memory_mb`, `memory_mb`,
  `cpu_cores`, `labels`, `isolation`, `replicas-need-distinct-servers`), how much it needs,
  the most any eligible GPU or server has free for it, and the gap.
- **Triton**: `instance_groups(server)` gives each model's `instance_group` there;
  `rate_limiter_resources(server)` gives, for every GPU that several models share, a
  per-GPU resource `gpu<i>_memory_mb` whose count is the model's GPU memory per instance.
  Start that server with `--rate-limit=execution_count` and the GPU's memory as the
  resource's count on that device (`rate_limit_flags(server)`), so instances on a shared
  GPU only execute together while their declared memory fits. Without the flag Triton
  makes the count the largest any one instance asks for, which would run the models of a
  shared GPU one at a time (docs: user-guide/docs/rate_limiter.html).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

from modelyard.catalog.spec import ModelSpec
from modelyard.errors import InputError, NotFound
from modelyard.placement.fleet import Dedication, Fleet, Gpu, Server

HIGH_AVAILABILITY = 0.999
HIGH_AVAILABILITY_REPLICAS = 2

GPU_MEMORY = "gpu_memory_mb"
MEMORY = "memory_mb"
CPU_CORES = "cpu_cores"
LABELS = "labels"
ISOLATION = "isolation"
DISTINCT_SERVERS = "replicas-need-distinct-servers"

_EPS = 1e-9

Item = tuple[int, int]  # (demand index, replica)
Position = tuple[int, int | None]  # (server id, GPU id or None)


# Inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Demand:
    """What one model version asks of the fleet; resources are per instance.

    `requires` is the sorted `(label, value)` pairs a server must carry; `colocate_with`
    the model ids whose replicas must run on each server that runs this one (an
    ensemble's steps).
    """

    ref: str
    model_id: str
    domain: str
    team: str
    replicas: int = 1
    instance_count: int = 1
    gpu_memory_mb: int = 0
    memory_mb: int = 0
    cpu_cores: float = 0.0
    requires: tuple[tuple[str, str], ...] = ()
    colocate_with: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.instance_count < 1:
            raise ValueError(f"{self.ref}: replicas and instance_count must be at least 1")
        if self.gpu_memory_mb < 0 or self.memory_mb < 0 or self.cpu_cores < 0:
            raise ValueError(f"{self.ref}: resources must not be negative")

    @property
    def replica_gpu_memory_mb(self) -> int:
        """GPU memory of one replica (all its instances, on one GPU)."""
        return self.instance_count * self.gpu_memory_mb

    @property
    def replica_memory_mb(self) -> int:
        return self.instance_count * self.memory_mb

    @property
    def replica_cpu_cores(self) -> float:
        return self.instance_count * self.cpu_cores


def default_replicas(spec: ModelSpec) -> int:
    """The manifest's `placement.replicas`, else 2 for availability >= 0.999, else 1."""
    if spec.placement.replicas is not None:
        return spec.placement.replicas
    if spec.sla_requirements.availability >= HIGH_AVAILABILITY:
        return HIGH_AVAILABILITY_REPLICAS
    return 1


def demands_from_specs(specs: Mapping[str, ModelSpec]) -> list[Demand]:
    """One `Demand` per spec; ensemble steps get at least their ensembles' replicas."""
    listed = list(specs.values())
    replicas = {spec.ref: default_replicas(spec) for spec in listed}
    refs_by_id: dict[str, list[str]] = {}
    for spec in listed:
        refs_by_id.setdefault(spec.id, []).append(spec.ref)
    steps: dict[str, tuple[str, ...]] = {
        spec.ref: tuple(dict.fromkeys(step.model for step in spec.ensemble.steps))
        for spec in listed
        if spec.ensemble is not None
    }
    # A fixpoint rather than a topological order: replicas only grow, up to the largest,
    # so this ends even on a (malformed) cyclic catalog.
    changed = True
    while changed:
        changed = False
        for ref, step_ids in steps.items():
            for step_id in step_ids:
                for step_ref in refs_by_id.get(step_id, ()):
                    if replicas[step_ref] < replicas[ref]:
                        replicas[step_ref] = replicas[ref]
                        changed = True
    demands = []
    for spec in listed:
        resources = spec.resource_requirements
        demands.append(
            Demand(
                ref=spec.ref,
                model_id=spec.id,
                domain=spec.domain,
                team=spec.owner_team,
                replicas=replicas[spec.ref],
                instance_count=spec.declared_instances,
                gpu_memory_mb=resources.gpu_memory_mb,
                memory_mb=resources.memory_mb,
                cpu_cores=float(resources.cpu_cores),
                requires=tuple(sorted(spec.placement.requires.items())),
                colocate_with=steps.get(spec.ref, ()),
            )
        )
    return demands


# Outputs --------------------------------------------------------------------------


class Assignment(BaseModel):
    """One replica on one server; resources are the replica's totals (all instances)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    model_id: str
    replica: int
    server: str
    gpu_index: int | None
    instances: int
    gpu_memory_mb: int
    memory_mb: int = 0
    cpu_cores: float = 0.0


class Shortfall(BaseModel):
    """A replica that does not fit: on which resource, and by how much.

    `needed` and `available` are in the resource's unit (MB, cores, or servers for
    `labels`, `isolation` and `replicas-need-distinct-servers`); `available` is the most
    any GPU or server eligible for the replica has free.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str
    model_id: str
    replica: int
    resource: str
    needed: float
    available: float
    reason: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gap(self) -> float:
        return self.needed - self.available

    def __str__(self) -> str:
        return (
            f"{self.ref} replica {self.replica}: {self.resource}: needs {_num(self.needed)}, "
            f"at most {_num(self.available)} available ({_num(self.gap)} short): {self.reason}"
        )


class GpuUsage(BaseModel):
    """One GPU's memory and how much of it the placement uses (JSON: under its server)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str = Field(exclude=True)
    index: int
    memory_mb: int
    used_mb: int

    @property
    def free_mb(self) -> int:
        return self.memory_mb - self.used_mb

    @computed_field  # type: ignore[prop-decorator]
    @property
    def utilisation(self) -> float:
        return self.used_mb / self.memory_mb


class ServerUsage(BaseModel):
    """One server's capacity and what the placement uses of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str
    memory_mb: int
    used_memory_mb: int
    cpu_cores: float
    used_cpu_cores: float
    gpu_memory_mb: int
    used_gpu_memory_mb: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def utilisation(self) -> dict[str, float]:
        """Fraction used of host memory, CPU cores and GPU memory (0 without GPUs)."""
        gpu = self.used_gpu_memory_mb / self.gpu_memory_mb if self.gpu_memory_mb else 0.0
        return {
            MEMORY: self.used_memory_mb / self.memory_mb,
            CPU_CORES: self.used_cpu_cores / self.cpu_cores,
            GPU_MEMORY: gpu,
        }


class ServerPlacement(ServerUsage):
    """A server in a placement: its usage, its GPUs, and the Triton settings for it."""

    gpus: list[GpuUsage]
    instance_groups: dict[str, list[dict[str, Any]]]
    rate_limiter_resources: dict[str, list[dict[str, Any]]]
    rate_limit_flags: list[str]


class Placement(BaseModel):
    """Where every replica runs, what did not fit, and how full the fleet is.

    JSON: `servers` is `per_server` (each server with its GPUs and Triton settings);
    the flat `servers` and `gpus` lists are for Python callers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    lower_bound_gpus: int
    moved: int = 0
    assignments: list[Assignment]
    unplaced: list[Shortfall]
    servers: list[ServerUsage] = Field(exclude=True)
    gpus: list[GpuUsage] = Field(exclude=True)
    _by_server: dict[str, list[Assignment]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        by_server: dict[str, list[Assignment]] = {usage.server: [] for usage in self.servers}
        for assignment in self.assignments:
            by_server.setdefault(assignment.server, []).append(assignment)
        self._by_server = by_server

    @computed_field  # type: ignore[prop-decorator]
    @property
    def feasible(self) -> bool:
        return not self.unplaced

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpus_used(self) -> int:
        return len({(a.server, a.gpu_index) for a in self.assignments if a.gpu_index is not None})

    @computed_field(alias="servers")  # type: ignore[prop-decorator]
    @property
    def per_server(self) -> list[ServerPlacement]:
        """Each server's usage, GPUs, instance groups and rate limiter settings."""
        return [
            ServerPlacement(
                **{name: getattr(usage, name) for name in ServerUsage.model_fields},
                gpus=self.gpus_of(usage.server),
                instance_groups=self.instance_groups(usage.server),
                rate_limiter_resources=self.rate_limiter_resources(usage.server),
                rate_limit_flags=self.rate_limit_flags(usage.server),
            )
            for usage in self.servers
        ]

    def on(self, server: str) -> list[Assignment]:
        """The replicas placed on `server`."""
        try:
            return list(self._by_server[server])
        except KeyError:
            raise NotFound(f"no server {server!r} in the fleet of this placement") from None

    def gpus_of(self, server: str) -> list[GpuUsage]:
        """The GPUs of `server`, in fleet order."""
        return [gpu for gpu in self.gpus if gpu.server == server]

    def instance_groups(self, server: str) -> dict[str, list[dict[str, Any]]]:
        """Per model id on `server`: its Triton `instance_group` entries.

        One entry per placed version: a selection normally holds one version of a model;
        where it holds several, Triton applies one model's instance_group to all of them.
        """
        groups: dict[str, list[dict[str, Any]]] = {}
        for a in self.on(server):
            if a.gpu_index is None:
                group: dict[str, Any] = {"kind": "KIND_CPU", "count": a.instances}
            else:
                group = {"kind": "KIND_GPU", "count": a.instances, "gpus": [a.gpu_index]}
            groups.setdefault(a.model_id, []).append(group)
        return groups

    def _shared_gpus(self, server: str) -> set[int]:
        models: dict[int, set[str]] = {}
        for a in self.on(server):
            if a.gpu_index is not None:
                models.setdefault(a.gpu_index, set()).add(a.model_id)
        return {index for index, ids in models.items() if len(ids) > 1}

    def rate_limiter_resources(self, server: str) -> dict[str, list[dict[str, Any]]]:
        """Per model id on a GPU of `server` shared with other models: its rate limiter
        resources, `[{"name": "gpu<i>_memory_mb", "count": <GPU memory per instance>}]`."""
        shared = self._shared_gpus(server)
        resources: dict[str, list[dict[str, Any]]] = {}
        for a in self.on(server):
            if a.gpu_index in shared:
                resources.setdefault(a.model_id, []).append(
                    {"name": _rate_resource(a.gpu_index), "count": a.gpu_memory_mb // a.instances}
                )
        return resources

    def rate_limiters(self, server: str) -> dict[tuple[str, int], dict[str, Any]]:
        """(model id, GPU index) -> the Triton `rate_limiter` of that model's instance group
        on a GPU of `server` shared with other models (its share of the GPU's memory)."""
        shared = self._shared_gpus(server)
        return {
            (a.model_id, a.gpu_index): {
                "resources": [
                    {"name": _rate_resource(a.gpu_index), "count": a.gpu_memory_mb // a.instances}
                ]
            }
            for a in self.on(server)
            if a.gpu_index is not None and a.gpu_index in shared
        }

    def rate_limit_flags(self, server: str) -> list[str]:
        """The tritonserver flags that give each shared GPU's resource its memory."""
        shared = self._shared_gpus(server)
        if not shared:
            return []
        flags = ["--rate-limit=execution_count"]
        for gpu in self.gpus:
            if gpu.server == server and gpu.index in shared:
                flags.append(
                    f"--rate-limit-resource={_rate_resource(gpu.index)}:{gpu.memory_mb}:{gpu.index}"
                )
        return flags


def _rate_resource(gpu_index: int | None) -> str:
    return f"gpu{gpu_index}_memory_mb"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def lower_bound_gpus(demands: Iterable[Demand], fleet: Fleet) -> int:
    """The fewest GPUs whose capacities, largest first, hold the total GPU memory demand
    (at least one when any replica needs a GPU; every GPU when even all are too few)."""
    total = sum(d.replica_gpu_memory_mb * d.replicas for d in demands)
    if total <= 0:
        return 0
    capacities = sorted((g.memory_mb for s in fleet.servers for g in s.gpus), reverse=True)
    held = 0
    for count, capacity in enumerate(capacities, start=1):
        held += capacity
        if held >= total:
            return count
    return len(capacities)


# The solver -----------------------------------------------------------------------


def place(demands: Sequence[Demand], fleet: Fleet, previous: Placement | None = None) -> Placement:
    """Place every replica of every demand on the fleet (see the module docstring).

    Raises:
        InputError: two demands share a ref, a `colocate_with` id is not among the
            demands, or a step model has fewer replicas than its ensemble.
    """
    units = _units(demands)
    bound = lower_bound_gpus(demands, fleet)
    solver = _Solver(demands, fleet)
    if previous is None:
        return solver.solve(units, {}, bound)
    before = _previous_positions(demands, previous)
    kept = solver.solve(units, _pinned(before, fleet), bound)
    if not kept.feasible:
        fresh = _Solver(demands, fleet).solve(units, {}, bound)
        if fresh.feasible:
            kept = fresh
    return kept.model_copy(update={"moved": _count_moved(demands, before, kept)})


def _units(demands: Sequence[Demand]) -> list[list[Item]]:
    """Single replicas and co-located bundles, each a list of (demand, replica)."""
    index_of: dict[str, int] = {}
    by_model: dict[str, list[int]] = {}
    for i, d in enumerate(demands):
        if d.ref in index_of:
            raise InputError(f"{d.ref} is listed twice among the demands to place")
        index_of[d.ref] = i
        by_model.setdefault(d.model_id, []).append(i)
    parent = list(range(len(demands)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, d in enumerate(demands):
        for step_id in d.colocate_with:
            if step_id not in by_model:
                raise InputError(
                    f"{d.ref}: step model {step_id} must be placed with it but is "
                    "not among the demands; place the whole (closed) selection"
                )
            for j in by_model[step_id]:
                if j == i:
                    continue
                if demands[j].replicas < d.replicas:
                    raise InputError(
                        f"{demands[j].ref} has {demands[j].replicas} replica(s) but runs in every "
                        f"replica of ensemble {d.ref} ({d.replicas}); give it at least as many "
                        "(demands_from_specs does)"
                    )
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(demands)):
        groups.setdefault(root(i), []).append(i)
    units: list[list[Item]] = []
    for members in groups.values():
        bundles = max((demands[i].replicas for i in members if demands[i].colocate_with), default=0)
        for k in range(bundles):
            units.append([(i, k) for i in members if demands[i].replicas > k])
        for i in members:
            units.extend([(i, k)] for k in range(bundles, demands[i].replicas))
    return units


def _previous_positions(
    demands: Sequence[Demand], previous: Placement
) -> dict[Item, tuple[str, int | None]]:
    """Where each replica ran before: same ref and replica, else (a new version) the
    same model id and replica of a version no longer among the demands."""
    refs = {d.ref for d in demands}
    by_ref: dict[tuple[str, int], tuple[str, int | None]] = {}
    by_model: dict[tuple[str, int], tuple[str, int | None]] = {}
    for a in previous.assignments:
        by_ref[(a.ref, a.replica)] = (a.server, a.gpu_index)
        if a.ref not in refs:
            by_model.setdefault((a.model_id, a.replica), (a.server, a.gpu_index))
    found: dict[Item, tuple[str, int | None]] = {}
    for i, d in enumerate(demands):
        for k in range(d.replicas):
            where = by_ref.get((d.ref, k)) or by_model.get((d.model_id, k))
            if where is not None:
                found[(i, k)] = where
    return found


def _pinned(before: Mapping[Item, tuple[str, int | None]], fleet: Fleet) -> dict[Item, Position]:
    """Previous positions translated to this fleet's server and GPU ids (where they exist)."""
    sids: dict[str, int] = {}
    gids: dict[tuple[str, int], int] = {}
    gid = 0
    for sid, server in enumerate(fleet.servers):
        sids[server.name] = sid
        for gpu in sorted(server.gpus, key=lambda g: g.index):
            gids[(server.name, gpu.index)] = gid
            gid += 1
    pinned: dict[Item, Position] = {}
    for item, (name, gpu_index) in before.items():
        if name not in sids:
            continue
        if gpu_index is None:
            pinned[item] = (sids[name], None)
        elif (name, gpu_index) in gids:
            pinned[item] = (sids[name], gids[(name, gpu_index)])
    return pinned


def _count_moved(
    demands: Sequence[Demand], before: Mapping[Item, tuple[str, int | None]], placement: Placement
) -> int:
    index_of = {d.ref: i for i, d in enumerate(demands)}
    moved = 0
    for a in placement.assignments:
        was = before.get((index_of[a.ref], a.replica))
        if was is not None and was != (a.server, a.gpu_index):
            moved += 1
    return moved


class _GpuState:
    __slots__ = ("gid", "sid", "index", "memory_mb", "free_mb", "dedicated_to", "in_use")

    def __init__(self, gid: int, sid: int, gpu: Gpu) -> None:
        self.gid = gid
        self.sid = sid
        self.index = gpu.index
        self.memory_mb = gpu.memory_mb
        self.free_mb = gpu.memory_mb
        self.dedicated_to = gpu.dedicated_to
        self.in_use = False


class _ServerState:
    __slots__ = (
        "sid",
        "server",
        "free_memory_mb",
        "free_cpu_cores",
        "gpus",
        "gpu_memory_mb",
        "used_gpu_memory_mb",
    )

    def __init__(self, sid: int, server: Server) -> None:
        self.sid = sid
        self.server = server
        self.free_memory_mb = server.memory_mb
        self.free_cpu_cores = server.cpu_cores
        self.gpus: list[_GpuState] = []
        self.gpu_memory_mb = server.gpu_memory_mb
        self.used_gpu_memory_mb = 0

    def load(self) -> float:
        """How used the server is: the highest of its utilisation fractions."""
        server = self.server
        memory = 1 - self.free_memory_mb / server.memory_mb
        cpu = 1 - self.free_cpu_cores / server.cpu_cores
        gpu = self.used_gpu_memory_mb / self.gpu_memory_mb if self.gpu_memory_mb else 0.0
        return max(memory, cpu, gpu)


class _Profile:
    """Where demands with one (requires, domain, team) may run."""

    __slots__ = ("label_servers", "servers", "server_ok", "gpu_ok", "confined", "few_servers")

    def __init__(
        self,
        requires: tuple[tuple[str, str], ...],
        domain: str,
        team: str,
        servers: list[_ServerState],
        gpus: list[_GpuState],
    ) -> None:
        self.label_servers = [
            s.sid for s in servers if all(s.server.labels.get(k) == v for k, v in requires)
        ]
        self.servers = [
            sid
            for sid in self.label_servers
            if _admits(servers[sid].server.dedicated_to, domain, team)
        ]
        self.server_ok = [False] * len(servers)
        for sid in self.servers:
            self.server_ok[sid] = True
        self.gpu_ok = [
            self.server_ok[g.sid] and _admits(g.dedicated_to, domain, team) for g in gpus
        ]
        # Its labels rule out some servers, or isolation half of them: placed first.
        self.confined = len(self.label_servers) < len(servers) or 2 * len(self.servers) <= len(
            servers
        )
        # Few eligible servers: scan theirs rather than every open GPU.
        self.few_servers = len(self.servers) * 4 < len(servers)


def _admits(dedication: Dedication | None, domain: str, team: str) -> bool:
    return dedication is None or dedication.admits(domain, team)


class _Solver:
    def __init__(self, demands: Sequence[Demand], fleet: Fleet) -> None:
        self.demands = demands
        self.servers: list[_ServerState] = []
        self.gpus: list[_GpuState] = []
        for sid, server in enumerate(fleet.servers):
            state = _ServerState(sid, server)
            for gpu in sorted(server.gpus, key=lambda g: g.index):
                gpu_state = _GpuState(len(self.gpus), sid, gpu)
                self.gpus.append(gpu_state)
                state.gpus.append(gpu_state)
            self.servers.append(state)
        # GPUs holding something, as (free_mb, gid), sorted: tightest fit by bisection.
        self.open: list[tuple[int, int]] = []
        # GPUs holding nothing, largest first.
        self.unused: list[int] = sorted(
            range(len(self.gpus)), key=lambda gid: (-self.gpus[gid].memory_mb, gid)
        )
        self.gpu_need = [d.replica_gpu_memory_mb for d in demands]
        self.memory_need = [d.replica_memory_mb for d in demands]
        self.cpu_need = [d.replica_cpu_cores for d in demands]
        self.taken: list[set[int]] = [set() for _ in demands]
        self.placed: dict[Item, Position] = {}
        profiles: dict[tuple[tuple[tuple[str, str], ...], str, str], _Profile] = {}
        self.profile: list[_Profile] = []
        for d in demands:
            key = (d.requires, d.domain, d.team)
            if key not in profiles:
                profiles[key] = _Profile(d.requires, d.domain, d.team, self.servers, self.gpus)
            self.profile.append(profiles[key])

    # Driver ---------------------------------------------------------------------

    def solve(
        self, units: list[list[Item]], pinned: Mapping[Item, Position], bound: int
    ) -> Placement:
        units = sorted(units, key=self._unit_key)
        rest: list[list[Item]] = []
        for unit in units:
            if any(item in pinned for item in unit) and self._keep(unit, pinned):
                continue
            rest.append(unit)
        shortfalls: list[Shortfall] = []
        for unit in rest:
            if len(unit) == 1:
                position = self._find_single(unit[0])
                if position is not None:
                    self._commit(unit[0], position)
                    continue
            else:
                plan = self._find_bundle(unit)
                if plan is not None:
                    for item, position in plan.items():
                        self._commit(item, position)
                    continue
            shortfalls.extend(self._diagnose(unit))
        return self._result(shortfalls, bound)

    def _unit_key(self, unit: list[Item]) -> tuple[bool, int, int, float, str, int]:
        confined = any(self.profile[i].confined for i, _ in unit)
        gpu = sum(self.gpu_need[i] for i, _ in unit)
        memory = sum(self.memory_need[i] for i, _ in unit)
        cpu = sum(self.cpu_need[i] for i, _ in unit)
        first, replica = unit[0]
        return (not confined, -gpu, -memory, -cpu, self.demands[first].ref, replica)

    # Keeping previous positions ---------------------------------------------------

    def _keep(self, unit: list[Item], pinned: Mapping[Item, Position]) -> bool:
        if len(unit) == 1:
            item = unit[0]
            sid, gid = pinned[item]
            if self._fits_at(item, sid, gid):
                self._commit(item, (sid, gid))
                return True
            return False
        where = {pinned[item][0] for item in unit if item in pinned}
        if len(where) != 1:
            return False
        (sid,) = where
        packed = self._pack_on_server(sid, unit, pinned)
        if packed is None:
            return False
        for item, position in packed[1].items():
            self._commit(item, position)
        return True

    def _fits_at(self, item: Item, sid: int, gid: int | None) -> bool:
        i, _ = item
        if not self._server_fits(i, self.servers[sid], self.memory_need[i], self.cpu_need[i]):
            return False
        if self.gpu_need[i] == 0:
            return gid is None
        if gid is None or self.gpus[gid].sid != sid:
            return False
        gpu = self.gpus[gid]
        return self.profile[i].gpu_ok[gid] and gpu.free_mb >= self.gpu_need[i]

    # Finding a place --------------------------------------------------------------

    def _server_fits(self, i: int, server: _ServerState, memory_mb: int, cpu_cores: float) -> bool:
        return (
            self.profile[i].server_ok[server.sid]
            and server.sid not in self.taken[i]
            and server.free_memory_mb >= memory_mb
            and server.free_cpu_cores >= cpu_cores - _EPS
        )

    def _find_single(self, item: Item) -> Position | None:
        i, _ = item
        profile = self.profile[i]
        need = self.gpu_need[i]
        memory, cpu = self.memory_need[i], self.cpu_need[i]
        if need == 0:
            best: _ServerState | None = None
            for sid in profile.servers:
                server = self.servers[sid]
                if self._server_fits(i, server, memory, cpu) and (
                    best is None or server.load() < best.load()
                ):
                    best = server
            return None if best is None else (best.sid, None)
        chosen = self._find_open_gpu(i, need, memory, cpu)
        if chosen is None:
            chosen = self._find_unused_gpu(i, need, memory, cpu)
        return None if chosen is None else (chosen.sid, chosen.gid)

    def _find_open_gpu(self, i: int, need: int, memory: int, cpu: float) -> _GpuState | None:
        """Tightest open GPU that holds `need`; equal fits go to the least-used server."""
        profile = self.profile[i]
        best: _GpuState | None = None
        best_load = 0.0
        if profile.few_servers:
            for sid in profile.servers:
                server = self.servers[sid]
                if not self._server_fits(i, server, memory, cpu):
                    continue
                for gpu in server.gpus:
                    if not gpu.in_use or gpu.free_mb < need or not profile.gpu_ok[gpu.gid]:
                        continue
                    load = server.load()
                    if best is None or (gpu.free_mb, load, gpu.gid) < (
                        best.free_mb,
                        best_load,
                        best.gid,
                    ):
                        best, best_load = gpu, load
            return best
        position = bisect.bisect_left(self.open, (need, -1))
        while position < len(self.open):
            free, gid = self.open[position]
            position += 1
            if best is not None and free != best.free_mb:
                break
            gpu = self.gpus[gid]
            server = self.servers[gpu.sid]
            if not profile.gpu_ok[gid] or not self._server_fits(i, server, memory, cpu):
                continue
            load = server.load()
            if best is None or load < best_load:
                best, best_load = gpu, load
        return best

    def _find_unused_gpu(self, i: int, need: int, memory: int, cpu: float) -> _GpuState | None:
        """A new GPU: the largest; equal ones go to the least-used server."""
        profile = self.profile[i]
        best: _GpuState | None = None
        best_load = 0.0
        for gid in self.unused:
            gpu = self.gpus[gid]
            if gpu.memory_mb < need or (best is not None and gpu.memory_mb < best.memory_mb):
                break  # largest first: nothing further is as large
            if not profile.gpu_ok[gid]:
                continue
            server = self.servers[gpu.sid]
            if not self._server_fits(i, server, memory, cpu):
                continue
            load = server.load()
            if best is None or load < best_load:
                best, best_load = gpu, load
        return best

    def _find_bundle(self, unit: list[Item]) -> dict[Item, Position] | None:
        """The server where the bundle opens the fewest new GPUs, then the least used."""
        candidates = set(self.profile[unit[0][0]].servers)
        for i, _ in unit[1:]:
            candidates.intersection_update(self.profile[i].servers)
        best: tuple[int, int, float, int] | None = None
        best_plan: dict[Item, Position] | None = None
        for sid in sorted(candidates):
            packed = self._pack_on_server(sid, unit, {})
            if packed is None:
                continue
            opened, plan = packed
            opened_mb = sum(
                self.gpus[gid].memory_mb
                for gid in {g for _, g in plan.values()}
                if gid is not None and not self.gpus[gid].in_use
            )
            key = (opened, -opened_mb, self.servers[sid].load(), sid)
            if best is None or key < best:
                best, best_plan = key, packed[1]
        return best_plan

    def _pack_on_server(
        self, sid: int, unit: list[Item], pinned: Mapping[Item, Position]
    ) -> tuple[int, dict[Item, Position]] | None:
        """Fit every item of `unit` on server `sid` (pinned items on their GPU where they
        still fit): (new GPUs opened, positions), or None."""
        server = self.servers[sid]
        memory = sum(self.memory_need[i] for i, _ in unit)
        cpu = sum(self.cpu_need[i] for i, _ in unit)
        if not all(self._server_fits(i, server, memory, cpu) for i, _ in unit):
            return None
        opened, plan, failed = self._pack_gpus(sid, unit, pinned)
        return None if failed is not None else (opened, plan)

    def _pack_gpus(
        self, sid: int, unit: list[Item], pinned: Mapping[Item, Position]
    ) -> tuple[int, dict[Item, Position], tuple[int, int] | None]:
        """Items onto the GPUs of server `sid`, largest first: (new GPUs opened, positions,
        None) or, when an item does not fit, (_, _, (its need, the most free for it)).
        """
        server = self.servers[sid]
        free = {gpu.gid: gpu.free_mb for gpu in server.gpus}
        in_use = {gpu.gid for gpu in server.gpus if gpu.in_use}
        plan: dict[Item, Position] = {}
        loose: list[Item] = []
        for item in unit:
            i, _ = item
            need = self.gpu_need[i]
            if need == 0:
                plan[item] = (sid, None)
                continue
            at = pinned.get(item)
            gid = at[1] if at is not None and at[0] == sid else None
            if gid is not None and self.profile[i].gpu_ok[gid] and free.get(gid, -1) >= need:
                plan[item] = (sid, gid)
                free[gid] -= need
                in_use.add(gid)
            else:
                loose.append(item)
        opened = 0
        loose.sort(key=lambda item: (-self.gpu_need[item[0]], item))
        for item in loose:
            i, _ = item
            need = self.gpu_need[i]
            profile = self.profile[i]
            fits = [gpu for gpu in server.gpus if profile.gpu_ok[gpu.gid] and free[gpu.gid] >= need]
            used = [gpu for gpu in fits if gpu.gid in in_use]
            if used:
                chosen = min(used, key=lambda g: (free[g.gid], g.gid))
            elif fits:
                chosen = min(fits, key=lambda g: (-g.memory_mb, g.gid))
                opened += 1
                in_use.add(chosen.gid)
            else:
                most = max((free[g.gid] for g in server.gpus if profile.gpu_ok[g.gid]), default=0)
                return opened, plan, (need, most)
            free[chosen.gid] -= need
            plan[item] = (sid, chosen.gid)
        return opened, plan, None

    def _commit(self, item: Item, position: Position) -> None:
        i, _ = item
        sid, gid = position
        server = self.servers[sid]
        server.free_memory_mb -= self.memory_need[i]
        server.free_cpu_cores -= self.cpu_need[i]
        self.taken[i].add(sid)
        self.placed[item] = position
        if gid is None:
            return
        gpu = self.gpus[gid]
        need = self.gpu_need[i]
        if gpu.in_use:
            del self.open[bisect.bisect_left(self.open, (gpu.free_mb, gid))]
        else:
            gpu.in_use = True
            self.unused.remove(gid)
        gpu.free_mb -= need
        server.used_gpu_memory_mb += need
        bisect.insort(self.open, (gpu.free_mb, gid))

    # Explaining what does not fit ---------------------------------------------------

    def _diagnose(self, unit: list[Item]) -> list[Shortfall]:
        resource, needed, available, reason = self._why(unit)
        lead = self.demands[unit[0][0]].ref
        shortfalls = []
        for i, replica in unit:
            d = self.demands[i]
            note = reason if len(unit) == 1 or d.ref == lead else f"{reason} (with {lead})"
            shortfalls.append(
                Shortfall(
                    ref=d.ref,
                    model_id=d.model_id,
                    replica=replica,
                    resource=resource,
                    needed=needed,
                    available=available,
                    reason=note,
                )
            )
        return shortfalls

    def _why(self, unit: list[Item]) -> tuple[str, float, float, str]:
        members = [i for i, _ in unit]
        what = (
            "the bundle of " + ", ".join(self.demands[i].ref for i in members)
            if len(unit) > 1
            else "a replica"
        )
        if not self.servers:
            replicas = max(self.demands[i].replicas for i in members)
            return DISTINCT_SERVERS, float(replicas), 0.0, "the fleet has no servers"
        labelled = set(range(len(self.servers)))
        for i in members:
            own = set(self.profile[i].label_servers)
            if not own:
                wanted = ", ".join(f"{k}={v}" for k, v in self.demands[i].requires)
                return LABELS, 1.0, 0.0, f"no server has the labels {wanted}"
            labelled &= own
        if not labelled:
            return LABELS, 1.0, 0.0, f"no one server has the labels every member of {what} requires"
        eligible = [
            sid for sid in sorted(labelled) if all(self.profile[i].server_ok[sid] for i in members)
        ]
        if not eligible:
            return (
                ISOLATION,
                1.0,
                0.0,
                ("every server with the required labels is dedicated to other domains or teams"),
            )
        for i in members:
            if self.gpu_need[i] and not any(
                self.profile[i].gpu_ok[g.gid] for sid in eligible for g in self.servers[sid].gpus
            ):
                return (
                    ISOLATION,
                    1.0,
                    0.0,
                    (
                        f"every GPU {self.demands[i].ref} could use is dedicated to other domains "
                        "or teams"
                    ),
                )
        # A server without a GPU the member may use cannot hold it at all.
        eligible = [
            sid
            for sid in eligible
            if all(
                not self.gpu_need[i]
                or any(self.profile[i].gpu_ok[g.gid] for g in self.servers[sid].gpus)
                for i in members
            )
        ]
        free_servers = [sid for sid in eligible if not any(sid in self.taken[i] for i in members)]
        if not free_servers:
            replicas = max(self.demands[i].replicas for i in members)
            return (
                DISTINCT_SERVERS,
                float(replicas),
                float(len(eligible)),
                (
                    f"{replicas} replicas need {replicas} different servers; "
                    f"{len(eligible)} can run this model"
                ),
            )
        gpu_items = [i for i in members if self.gpu_need[i]]
        largest = max(gpu_items, key=lambda i: self.gpu_need[i], default=None)
        total_gpu = sum(self.gpu_need[i] for i in gpu_items)
        memory = sum(self.memory_need[i] for i in members)
        cpu = sum(self.cpu_need[i] for i in members)

        def gpu_free(sid: int, i: int) -> int:
            return max(
                (g.free_mb for g in self.servers[sid].gpus if self.profile[i].gpu_ok[g.gid]),
                default=0,
            )

        def gpu_free_total(sid: int) -> int:
            return sum(
                g.free_mb
                for g in self.servers[sid].gpus
                if any(self.profile[i].gpu_ok[g.gid] for i in gpu_items)
            )

        if largest is not None:
            most = max(gpu_free(sid, largest) for sid in free_servers)
            if most < self.gpu_need[largest]:
                return (
                    GPU_MEMORY,
                    float(self.gpu_need[largest]),
                    float(most),
                    (
                        f"no GPU has {self.gpu_need[largest]} MB free for "
                        f"{self.demands[largest].ref} (instances x gpu_memory_mb)"
                    ),
                )
            most_total = max(gpu_free_total(sid) for sid in free_servers)
            if most_total < total_gpu:
                return (
                    GPU_MEMORY,
                    float(total_gpu),
                    float(most_total),
                    (f"no server has {total_gpu} MB GPU memory free for {what}"),
                )
        most_memory = max(self.servers[sid].free_memory_mb for sid in free_servers)
        if most_memory < memory:
            return (
                MEMORY,
                float(memory),
                float(most_memory),
                (f"no server has {memory} MB host memory free for {what}"),
            )
        most_cpu = max(self.servers[sid].free_cpu_cores for sid in free_servers)
        if most_cpu < cpu - _EPS:
            return CPU_CORES, cpu, most_cpu, f"no server has {_num(cpu)} cores free for {what}"
        # Each resource is free somewhere, never all on one server: name the closest one.
        closest: tuple[float, str, float, float, int, bool] | None = None
        for sid in free_servers:
            server = self.servers[sid]
            gaps: list[tuple[float, str, float, float]] = []
            if largest is not None:
                have = gpu_free(sid, largest) if len(gpu_items) == 1 else gpu_free_total(sid)
                want = self.gpu_need[largest] if len(gpu_items) == 1 else total_gpu
                gaps.append(((want - have) / want, GPU_MEMORY, float(want), float(have)))
            gaps.append(
                (
                    (memory - server.free_memory_mb) / max(memory, 1),
                    MEMORY,
                    float(memory),
                    float(server.free_memory_mb),
                )
            )
            gaps.append(
                (
                    (cpu - server.free_cpu_cores) / max(cpu, _EPS),
                    CPU_CORES,
                    cpu,
                    server.free_cpu_cores,
                )
            )
            worst = max(gaps)
            split = False
            if worst[0] <= 0:  # enough in sum, but split over GPUs so that one item fails
                failed = self._pack_gpus(sid, unit, {})[2]
                if failed is not None:
                    split = True
                    worst = (
                        (failed[0] - failed[1]) / failed[0],
                        GPU_MEMORY,
                        float(failed[0]),
                        float(failed[1]),
                    )
            score = sum(max(gap[0], 0.0) for gap in gaps)
            if closest is None or score < closest[0]:
                closest = (score, worst[1], worst[2], worst[3], sid, split)
        assert closest is not None
        _, resource, needed, most_free, sid, split = closest
        name = self.servers[sid].server.name
        if split:
            return (
                resource,
                needed,
                most_free,
                (
                    f"{name} has the GPU memory for {what} in sum, but not on one GPU for each "
                    "replica (a replica's instances share one GPU)"
                ),
            )
        return (
            resource,
            needed,
            most_free,
            (
                f"no server has GPU memory, host memory and cores free together for {what}; "
                f"closest: {name}"
            ),
        )

    # Result -------------------------------------------------------------------------

    def _result(self, shortfalls: list[Shortfall], bound: int) -> Placement:
        assignments = []
        for (i, replica), (sid, gid) in self.placed.items():
            d = self.demands[i]
            assignments.append(
                Assignment(
                    ref=d.ref,
                    model_id=d.model_id,
                    replica=replica,
                    server=self.servers[sid].server.name,
                    gpu_index=None if gid is None else self.gpus[gid].index,
                    instances=d.instance_count,
                    gpu_memory_mb=self.gpu_need[i],
                    memory_mb=self.memory_need[i],
                    cpu_cores=self.cpu_need[i],
                )
            )
        assignments.sort(key=lambda a: (a.ref, a.replica))
        shortfalls.sort(key=lambda s: (s.ref, s.replica))
        servers = [
            ServerUsage(
                server=s.server.name,
                memory_mb=s.server.memory_mb,
                used_memory_mb=s.server.memory_mb - s.free_memory_mb,
                cpu_cores=s.server.cpu_cores,
                used_cpu_cores=max(s.server.cpu_cores - s.free_cpu_cores, 0.0),
                gpu_memory_mb=s.gpu_memory_mb,
                used_gpu_memory_mb=s.used_gpu_memory_mb,
            )
            for s in self.servers
        ]
        gpus = [
            GpuUsage(
                server=self.servers[g.sid].server.name,
                index=g.index,
                memory_mb=g.memory_mb,
                used_mb=g.memory_mb - g.free_mb,
            )
            for g in self.gpus
        ]
        return Placement(
            assignments=assignments,
            unplaced=shortfalls,
            servers=servers,
            gpus=gpus,
            lower_bound_gpus=bound,
        )
