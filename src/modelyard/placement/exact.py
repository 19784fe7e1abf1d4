"""Exact placement: the fewest GPUs, as a mixed-integer program solved by HiGHS.

The issue asked for OR-Tools CP-SAT; it cannot share an environment with tritonclient
(ortools pins protobuf < 6.32, tritonclient's generated code needs >= 6.33.5), so the
model goes to HiGHS (`highspy`, MIT) instead. Same constraints as the first-fit solver:

- x[r, g] = 1 when replica r sits on GPU g (GPU models), or on server s (CPU-only models);
  every replica exactly once, only where labels and isolation admit it;
- per GPU: the replicas' GPU memory <= its memory, and only on a GPU marked used (y[g]);
- per server: host memory and CPU cores;
- replicas of one model on distinct servers;
- co-location: where an ensemble has a replica, each of its steps has one too.

Objective: the number of GPUs used. A time limit bounds the search; the best placement
found by then is returned with `optimal` false. Meant for small inputs (`--exact`).
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InputError
from modelyard.placement.fleet import Dedication, Fleet
from modelyard.placement.solver import (
    Assignment,
    Demand,
    GpuUsage,
    Placement,
    ServerUsage,
    lower_bound_gpus,
)

MAX_VARIABLES = 200_000


@dataclass(frozen=True)
class ExactResult:
    placement: Placement | None  # None: no placement exists (or none found in time)
    optimal: bool
    status: str


def _admits(dedication: Dedication | None, demand: Demand) -> bool:
    return dedication is None or dedication.admits(demand.domain, demand.team)


def place_exact(
    demands: Sequence[Demand], fleet: Fleet, *, time_limit_s: float = 10.0
) -> ExactResult:
    try:
        import highspy
        from highspy.highs import HighsError
    except ImportError:
        raise InputError(
            "the exact placement needs HiGHS: pip install 'modelyard[exact]'"
        ) from None
    try:
        return _place_exact(highspy, demands, fleet, time_limit_s)
    except HighsError as exc:
        # HiGHS refuses coefficients outside its range (a cpu_cores of 1e-300 is below its
        # small_matrix_value, found by fuzzing): no exact answer, so callers use first-fit.
        return ExactResult(None, False, f"HiGHS refused the model ({exc})")


def _place_exact(
    highspy: Any, demands: Sequence[Demand], fleet: Fleet, time_limit_s: float
) -> ExactResult:
    highs = _quiet_highs(highspy)
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit_s))

    gpus = [(s_index, g) for s_index, server in enumerate(fleet.servers) for g in server.gpus]
    used = [highs.addBinary() for _ in gpus]
    # (demand, replica) -> list of (variable, server index, gpu position or None)
    options: dict[tuple[int, int], list[tuple[Any, int, int | None]]] = defaultdict(list)
    count = 0
    for i, demand in enumerate(demands):
        servers = [
            s
            for s, server in enumerate(fleet.servers)
            if _admits(server.dedicated_to, demand)
            and all(server.labels.get(k) == v for k, v in demand.requires)
        ]
        for replica in range(demand.replicas):
            for s in servers:
                if demand.replica_gpu_memory_mb > 0:
                    for position, (owner, gpu) in enumerate(gpus):
                        if (
                            owner == s
                            and _admits(gpu.dedicated_to, demand)
                            and gpu.memory_mb >= demand.replica_gpu_memory_mb
                        ):
                            options[(i, replica)].append((highs.addBinary(), s, position))
                            count += 1
                else:
                    options[(i, replica)].append((highs.addBinary(), s, None))
                    count += 1
            if count > MAX_VARIABLES:
                raise InputError(
                    f"too large for the exact solver ({count}+ variables); "
                    "use the default first-fit placement"
                )
            if not options[(i, replica)]:
                return ExactResult(None, True, "no admissible server or GPU for " + demand.ref)
            highs.addConstr(sum(v for v, _, _ in options[(i, replica)]) == 1)

    on_gpu: dict[int, list[tuple[Any, int]]] = defaultdict(list)
    on_server: dict[int, list[tuple[Any, int]]] = defaultdict(list)
    presence: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for (i, _replica), choices in options.items():
        for variable, s, gpu_position in choices:
            on_server[s].append((variable, i))
            presence[(demands[i].model_id, s)].append(variable)
            if gpu_position is not None:
                on_gpu[gpu_position].append((variable, i))
    for position, (_, gpu) in enumerate(gpus):
        if on_gpu[position]:
            highs.addConstr(
                sum(demands[i].replica_gpu_memory_mb * v for v, i in on_gpu[position])
                <= gpu.memory_mb * used[position]
            )
    for s, server in enumerate(fleet.servers):
        if on_server[s]:
            highs.addConstr(
                sum(demands[i].replica_memory_mb * v for v, i in on_server[s]) <= server.memory_mb
            )
            highs.addConstr(
                sum(demands[i].replica_cpu_cores * v for v, i in on_server[s]) <= server.cpu_cores
            )
    by_model: dict[str, list[int]] = defaultdict(list)
    for i, demand in enumerate(demands):
        by_model[demand.model_id].append(i)
    for i, demand in enumerate(demands):
        for s in range(len(fleet.servers)):
            mine = [v for r in range(demand.replicas) for v, srv, _ in options[(i, r)] if srv == s]
            if len(mine) > 1:
                highs.addConstr(sum(mine) <= 1)  # replicas on distinct servers
            if not mine:
                continue
            for step in demand.colocate_with:
                theirs = presence.get((step, s), [])
                highs.addConstr(sum(mine) <= sum(theirs) if theirs else sum(mine) <= 0)
    highs.minimize(sum(used) if used else 0)
    status = highs.getModelStatus()
    name = highs.modelStatusToString(status)
    has_solution = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    if not has_solution:
        return ExactResult(None, status == highspy.HighsModelStatus.kInfeasible, name)
    return ExactResult(
        _placement(demands, fleet, options, gpus, highs),
        status == highspy.HighsModelStatus.kOptimal,
        name,
    )


def _quiet_highs(highspy: Any) -> Any:
    """A Highs instance without the banner its constructor writes to the process's stdout
    (from C++, so only a file-descriptor redirect keeps --json output clean)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _placement(
    demands: Sequence[Demand],
    fleet: Fleet,
    options: dict[tuple[int, int], list[tuple[Any, int, int | None]]],
    gpus: list[tuple[int, Any]],
    highs: Any,
) -> Placement:
    assignments = []
    gpu_used = [0] * len(gpus)
    memory_used = [0] * len(fleet.servers)
    cpu_used = [0.0] * len(fleet.servers)
    for (i, replica), choices in options.items():
        demand = demands[i]
        _, s, position = max(choices, key=lambda choice: highs.val(choice[0]))
        if position is not None:
            gpu_used[position] += demand.replica_gpu_memory_mb
        memory_used[s] += demand.replica_memory_mb
        cpu_used[s] += demand.replica_cpu_cores
        assignments.append(
            Assignment(
                ref=demand.ref,
                model_id=demand.model_id,
                replica=replica,
                server=fleet.servers[s].name,
                gpu_index=None if position is None else gpus[position][1].index,
                instances=demand.instance_count,
                gpu_memory_mb=demand.replica_gpu_memory_mb,
                memory_mb=demand.replica_memory_mb,
                cpu_cores=demand.replica_cpu_cores,
            )
        )
    assignments.sort(key=lambda a: (a.ref, a.replica))
    servers = []
    for s, server in enumerate(fleet.servers):
        gpu_total = sum(g.memory_mb for g in server.gpus)
        gpu_in_use = sum(gpu_used[p] for p, (owner, _) in enumerate(gpus) if owner == s)
        servers.append(
            ServerUsage(
                server=server.name,
                memory_mb=server.memory_mb,
                used_memory_mb=memory_used[s],
                cpu_cores=server.cpu_cores,
                used_cpu_cores=cpu_used[s],
                gpu_memory_mb=gpu_total,
                used_gpu_memory_mb=gpu_in_use,
            )
        )
    usage = [
        GpuUsage(
            server=fleet.servers[owner].name,
            index=gpu.index,
            memory_mb=gpu.memory_mb,
            used_mb=gpu_used[p],
        )
        for p, (owner, gpu) in enumerate(gpus)
    ]
    return Placement(
        assignments=assignments,
        unplaced=[],
        servers=servers,
        gpus=usage,
        lower_bound_gpus=lower_bound_gpus(demands, fleet),
    )
