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

Objective: the number of GPUs used. The time limit covers the whole call, building the
model included (on 1,000 models building it in Python took longer than the search): past
it the answer is "none found in time" and callers use first-fit. A first-fit placement
given as `start` is handed to HiGHS as its first incumbent, so a search cut short never
ends worse than first-fit, and a result with more GPUs than `start` is never returned.
Meant for small inputs (`--exact`).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
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


class _OutOfTime(Exception):
    """The deadline passed while the model was being built."""


def place_exact(
    demands: Sequence[Demand],
    fleet: Fleet,
    *,
    time_limit_s: float = 10.0,
    start: Placement | None = None,
) -> ExactResult:
    """The fewest-GPU placement HiGHS finds within `time_limit_s` (the whole call). With
    `start` (first-fit's placement of the same demands), never one using more GPUs."""
    deadline = time.monotonic() + time_limit_s
    if importlib.util.find_spec("highspy") is None:
        raise InputError("the exact placement needs HiGHS: pip install 'modelyard[exact]'")
    result = _in_child(demands, fleet, deadline, start)
    if isinstance(result, InputError):
        raise result
    if result is None:
        return ExactResult(None, False, f"time limit ({time_limit_s:g} s) reached")
    if (
        result.placement is not None
        and start is not None
        and start.feasible
        and result.placement.gpus_used > start.gpus_used
    ):
        return ExactResult(None, False, f"{result.status}; no better than first-fit in time")
    return result


def _in_child(
    demands: Sequence[Demand], fleet: Fleet, deadline: float, start: Placement | None
) -> ExactResult | InputError | None:
    """`_solve` in a child process, ended at `deadline` (None then). HiGHS's own
    `time_limit` overran by more than its length on this machine (13.7 s of solving for a
    7 s limit; cancelling its solver thread took up to 13 s to stop it), and only a
    process can be stopped at once. Forked where this process has one thread (no start-up
    cost); spawned otherwise, since forking a threaded process can copy a held lock."""
    method = "fork" if threading.active_count() == 1 and sys.platform == "linux" else "spawn"
    context: Any = multiprocessing.get_context(method)  # typeshed's BaseContext lacks Process
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_solve, args=(sender, list(demands), fleet, deadline, start), daemon=True
    )
    child.start()
    sender.close()
    try:
        if receiver.poll(max(deadline - time.monotonic(), 0.0)):
            result: ExactResult | InputError = receiver.recv()
            return result
        return None
    except EOFError:  # the child died (out of memory, killed): no exact answer
        return None
    finally:
        child.kill()
        child.join()
        receiver.close()


def _solve(
    sender: Connection,
    demands: Sequence[Demand],
    fleet: Fleet,
    deadline: float,
    start: Placement | None,
) -> None:
    import highspy
    from highspy.highs import HighsError

    result: ExactResult | InputError
    try:
        result = _place_exact(highspy, demands, fleet, deadline, start)
    except HighsError as exc:
        # HiGHS refuses coefficients outside its range (a cpu_cores of 1e-300 is below its
        # small_matrix_value, found by fuzzing): no exact answer, so callers use first-fit.
        result = ExactResult(None, False, f"HiGHS refused the model ({exc})")
    except _OutOfTime:
        result = ExactResult(None, False, "time limit reached while building the model")
    except InputError as exc:  # too large: said to the caller as it is
        result = exc
    sender.send(result)
    sender.close()


def _place_exact(
    highspy: Any,
    demands: Sequence[Demand],
    fleet: Fleet,
    deadline: float,
    start: Placement | None,
) -> ExactResult:
    highs = _quiet_highs(highspy)
    highs.setOptionValue("output_flag", False)

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
            if time.monotonic() > deadline:
                raise _OutOfTime
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
    for i, demand in enumerate(demands):
        if time.monotonic() > deadline:
            raise _OutOfTime
        by_server: dict[int, list[Any]] = defaultdict(list)  # one pass, not one per server
        for r in range(demand.replicas):
            for v, srv, _ in options[(i, r)]:
                by_server[srv].append(v)
        for s, mine in by_server.items():
            if len(mine) > 1:
                highs.addConstr(sum(mine) <= 1)  # replicas on distinct servers
            for step in demand.colocate_with:
                theirs = presence.get((step, s), [])
                highs.addConstr(sum(mine) <= sum(theirs) if theirs else sum(mine) <= 0)
    if time.monotonic() > deadline:
        raise _OutOfTime
    if start is not None and start.feasible:
        _start_from(highspy, highs, start, fleet, demands, options, gpus, used)
    highs.setOptionValue("time_limit", max(deadline - time.monotonic(), 0.01))
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


def _start_from(
    highspy: Any,
    highs: Any,
    start: Placement,
    fleet: Fleet,
    demands: Sequence[Demand],
    options: dict[tuple[int, int], list[tuple[Any, int, int | None]]],
    gpus: list[tuple[int, Any]],
    used: list[Any],
) -> None:
    """Hand `start` to HiGHS as a feasible solution, so its search begins there. A start
    the model does not admit is left out (HiGHS then searches from nothing)."""
    server_index = {server.name: s for s, server in enumerate(fleet.servers)}
    gpu_position = {(owner, gpu.index): p for p, (owner, gpu) in enumerate(gpus)}
    index_of = {(d.ref, d.model_id): i for i, d in enumerate(demands)}
    values = [0.0] * highs.getNumCol()
    for assignment in start.assignments:
        i = index_of.get((assignment.ref, assignment.model_id))
        s = server_index.get(assignment.server)
        if i is None or s is None:
            return
        position = None if assignment.gpu_index is None else gpu_position[(s, assignment.gpu_index)]
        chosen = [
            v for v, srv, p in options.get((i, assignment.replica), []) if (srv, p) == (s, position)
        ]
        if not chosen:
            return
        values[chosen[0].index] = 1.0
        if position is not None:
            values[used[position].index] = 1.0
    solution = highspy.HighsSolution()
    solution.col_value = values
    solution.value_valid = True
    highs.setSolution(solution)


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
    values = list(highs.getSolution().col_value)  # `highs.val` copies it for each call
    gpu_used = [0] * len(gpus)
    memory_used = [0] * len(fleet.servers)
    cpu_used = [0.0] * len(fleet.servers)
    for (i, replica), choices in options.items():
        demand = demands[i]
        _, s, position = max(choices, key=lambda choice: values[choice[0].index])
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
