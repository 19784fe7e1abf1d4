"""The exact (MIP) placement: valid, and never worse than first-fit-decreasing."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.placement.exact import place_exact
from modelyard.placement.fleet import Fleet, Gpu, Server
from modelyard.placement.solver import Demand, Placement, place


def fleet_of(gpu_sizes: list[list[int]]) -> Fleet:
    return Fleet(
        servers=[
            Server(
                name=f"s{i}",
                cpu_cores=64,
                memory_mb=1 << 20,
                gpus=[Gpu(index=j, memory_mb=size) for j, size in enumerate(sizes)],
            )
            for i, sizes in enumerate(gpu_sizes)
        ]
    )


def check(placement: Placement, demands: list[Demand], fleet: Fleet) -> None:
    capacity = {(s.name, g.index): g.memory_mb for s in fleet.servers for g in s.gpus}
    used: dict[tuple[str, int], int] = defaultdict(int)
    servers: dict[str, set[str]] = defaultdict(set)
    for a in placement.assignments:
        if a.gpu_index is not None:
            used[(a.server, a.gpu_index)] += a.gpu_memory_mb
        assert a.server not in servers[a.ref], "two replicas on one server"
        servers[a.ref].add(a.server)
    assert all(used[key] <= capacity[key] for key in used)
    assert sum(len(v) for v in servers.values()) == sum(d.replicas for d in demands)


def test_exact_beats_first_fit_where_first_fit_wastes_a_gpu() -> None:
    # Largest first: 5+4 | 3+3+3 | 2 (three GPUs); the optimum is 5+3+2 | 4+3+3 (two).
    fleet = fleet_of([[10, 10, 10]])
    demands = [
        Demand(f"d/m{i}@1.0", f"d/m{i}", "d", "t", gpu_memory_mb=size)
        for i, size in enumerate([5, 4, 3, 3, 3, 2])
    ]
    exact = place_exact(demands, fleet, time_limit_s=5)
    assert exact.placement is not None and exact.optimal
    check(exact.placement, demands, fleet)
    assert place(demands, fleet).gpus_used == 3
    assert exact.placement.gpus_used == 2


def test_no_placement_is_said_plainly() -> None:
    fleet = fleet_of([[8]])
    demands = [Demand("d/big@1.0", "d/big", "d", "t", gpu_memory_mb=16)]
    result = place_exact(demands, fleet, time_limit_s=5)
    assert result.placement is None


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=9),
    replicas=st.lists(st.integers(1, 2), min_size=9, max_size=9),
    fleet_gpus=st.lists(
        st.lists(st.sampled_from([8, 12, 16]), min_size=1, max_size=3), min_size=2, max_size=3
    ),
)
def test_exact_is_never_worse_than_first_fit(
    sizes: list[int], replicas: list[int], fleet_gpus: list[list[int]]
) -> None:
    fleet = fleet_of(fleet_gpus)
    demands = [
        Demand(f"d/m{i}@1.0", f"d/m{i}", "d", "t", replicas=replicas[i], gpu_memory_mb=size)
        for i, size in enumerate(sizes)
    ]
    first_fit = place(demands, fleet)
    exact = place_exact(demands, fleet, time_limit_s=5)
    if first_fit.feasible:
        assert exact.placement is not None
        check(exact.placement, demands, fleet)
        if exact.optimal:
            assert exact.placement.gpus_used <= first_fit.gpus_used
        assert exact.placement.gpus_used >= exact.placement.lower_bound_gpus


def test_a_search_cut_short_returns_nothing_worse_than_first_fit() -> None:
    """1,000 models (bench/placement.py's catalog): building the model alone takes longer
    than 1 s, so the time limit, which covers the whole call, ends it with no answer, and
    `place --exact` then uses first-fit's. With time, what comes back never uses more GPUs
    than the first-fit placement it was started from."""
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import placement as bench  # type: ignore[import-not-found]

    rng = random.Random(bench.SEED + 1000)
    fleet = bench.build_fleet(64 // bench.GPUS_PER_SERVER)
    demands = bench.build_demands(1000, rng)
    first_fit = place(demands, fleet)
    assert first_fit.feasible
    cut_short = place_exact(demands, fleet, time_limit_s=1, start=first_fit)
    assert cut_short.placement is None and "time limit" in cut_short.status
    small = demands[:40]
    started_from = place(small, fleet)
    found = place_exact(small, fleet, time_limit_s=20, start=started_from)
    assert found.placement is not None
    check(found.placement, small, fleet)
    assert found.placement.gpus_used <= started_from.gpus_used
