"""Placement: hand-checked small cases, then properties every placement must have."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.catalog.manifest import load_manifests
from modelyard.catalog.spec import ModelSpec
from modelyard.errors import InputError, NotFound
from modelyard.placement.fleet import Dedication, Fleet, Gpu, Server
from modelyard.placement.solver import (
    CPU_CORES,
    DISTINCT_SERVERS,
    GPU_MEMORY,
    ISOLATION,
    LABELS,
    MEMORY,
    Demand,
    Placement,
    demands_from_specs,
    lower_bound_gpus,
    place,
)
from tests.support.netflix import NETFLIX_MODELS

GB = 1024


def server(
    name: str,
    *gpus_gb: int,
    cpu: float = 32,
    memory_mb: int = 64 * GB,
    labels: dict[str, str] | None = None,
    dedicated_to: Dedication | None = None,
    gpu_dedicated_to: dict[int, Dedication] | None = None,
) -> Server:
    dedicated = gpu_dedicated_to or {}
    return Server(
        name=name,
        cpu_cores=cpu,
        memory_mb=memory_mb,
        labels=labels or {},
        dedicated_to=dedicated_to,
        gpus=[
            Gpu(index=i, memory_mb=size * GB, dedicated_to=dedicated.get(i))
            for i, size in enumerate(gpus_gb)
        ],
    )


def demand(
    name: str,
    gpu_gb: float = 0,
    *,
    replicas: int = 1,
    instances: int = 1,
    memory_mb: int = 1 * GB,
    cpu: float = 1.0,
    domain: str = "d",
    team: str = "t",
    requires: tuple[tuple[str, str], ...] = (),
    colocate_with: tuple[str, ...] = (),
    version: str = "1.0",
) -> Demand:
    return Demand(
        ref=f"{domain}/{name}@{version}",
        model_id=f"{domain}/{name}",
        domain=domain,
        team=team,
        replicas=replicas,
        instance_count=instances,
        gpu_memory_mb=int(gpu_gb * GB),
        memory_mb=memory_mb,
        cpu_cores=cpu,
        requires=requires,
        colocate_with=colocate_with,
    )


def where(placement: Placement, name: str, replica: int = 0) -> tuple[str, int | None]:
    for a in placement.assignments:
        if a.model_id.endswith(f"/{name}") and a.replica == replica:
            return a.server, a.gpu_index
    raise AssertionError(f"{name} replica {replica} is not placed: {placement.unplaced}")


def spec(
    name: str,
    *,
    domain: str = "rec",
    team: str = "rec-team",
    availability: float = 0.99,
    replicas: int | None = None,
    gpu_mb: int = 1024,
    steps: tuple[str, ...] = (),
    requires: dict[str, str] | None = None,
) -> ModelSpec:
    data: dict[str, Any] = {
        "name": name,
        "version": "1.0",
        "domain": domain,
        "owner_team": team,
        "model_type": "ensemble" if steps else "classification",
        "framework": "ensemble" if steps else "onnx",
        "resource_requirements": {
            "gpu_memory_mb": 0 if steps else gpu_mb,
            "memory_mb": 512,
            "cpu_cores": 1.0,
            "instance_count": 1,
        },
        "sla_requirements": {"availability": availability},
        "placement": {"replicas": replicas, "requires": requires or {}},
    }
    if steps:
        data["dependencies"] = list(steps)
        data["ensemble"] = {
            "steps": [
                {"model": step, "input_map": {"x": "x"}, "output_map": {"y": f"y{i}"}}
                for i, step in enumerate(steps)
            ]
        }
    return ModelSpec.model_validate(data)


# Hand-checked cases -------------------------------------------------------------------


def test_two_models_share_one_gpu() -> None:
    fleet = Fleet(servers=[server("a", 24, 24)])
    placement = place([demand("big", 10), demand("small", 8)], fleet)
    assert placement.feasible
    assert where(placement, "big") == where(placement, "small") == ("a", 0)
    assert placement.gpus_used == placement.lower_bound_gpus == 1
    assert placement.instance_groups("a") == {
        "d/big": [{"kind": "KIND_GPU", "count": 1, "gpus": [0]}],
        "d/small": [{"kind": "KIND_GPU", "count": 1, "gpus": [0]}],
    }
    # GPU 0 is shared, so each model declares its memory as a per-GPU resource.
    assert placement.rate_limiter_resources("a") == {
        "d/big": [{"name": "gpu0_memory_mb", "count": 10 * GB}],
        "d/small": [{"name": "gpu0_memory_mb", "count": 8 * GB}],
    }
    assert placement.rate_limit_flags("a") == [
        "--rate-limit=execution_count",
        f"--rate-limit-resource=gpu0_memory_mb:{24 * GB}:0",
    ]
    usage = {(g.server, g.index): g.used_mb for g in placement.gpus}
    assert usage == {("a", 0): 18 * GB, ("a", 1): 0}


def test_a_gpu_of_its_own_needs_no_rate_limiter() -> None:
    fleet = Fleet(servers=[server("a", 16, 16)])
    placement = place([demand("x", 10), demand("y", 10)], fleet)
    assert {where(placement, "x"), where(placement, "y")} == {("a", 0), ("a", 1)}
    assert placement.rate_limiter_resources("a") == {}
    assert placement.rate_limit_flags("a") == []


def test_the_largest_gpu_is_opened_first_and_used_gpus_are_filled_first() -> None:
    fleet = Fleet(servers=[server("a", 16, 40)])
    placement = place([demand("small", 12), demand("large", 20)], fleet)
    # large opens the 40 GB GPU (the largest); small fits in what is left of it.
    assert where(placement, "large") == where(placement, "small") == ("a", 1)
    assert placement.gpus_used == 1


def test_a_model_too_big_for_any_gpu_is_a_shortfall_with_numbers() -> None:
    fleet = Fleet(servers=[server("a", 24), server("b", 16)])
    placement = place([demand("huge", 30), demand("fits", 4)], fleet)
    assert not placement.feasible
    assert [a.model_id for a in placement.assignments] == ["d/fits"]
    (short,) = placement.unplaced
    assert (short.ref, short.replica, short.resource) == ("d/huge@1.0", 0, GPU_MEMORY)
    assert (short.needed, short.available, short.gap) == (30 * GB, 24 * GB, 6 * GB)
    assert (
        "d/huge@1.0 replica 0: gpu_memory_mb: needs 30720, at most 24576 available "
        "(6144 short)" in str(short)
    )


def test_all_instances_of_a_replica_go_on_one_gpu() -> None:
    fleet = Fleet(servers=[server("a", 16, 16)])
    placement = place([demand("twice", 10, instances=2)], fleet)
    (short,) = placement.unplaced  # 2 x 10 GB: never split over two GPUs
    assert (short.resource, short.needed, short.available) == (GPU_MEMORY, 20 * GB, 16 * GB)
    fits = place([demand("twice", 7, instances=2, memory_mb=2 * GB, cpu=3)], fleet)
    assert fits.feasible
    assert fits.instance_groups("a") == {"d/twice": [{"kind": "KIND_GPU", "count": 2, "gpus": [0]}]}
    (usage,) = fits.servers
    assert (usage.used_memory_mb, usage.used_cpu_cores, usage.used_gpu_memory_mb) == (
        4 * GB,
        6.0,
        14 * GB,
    )


def test_host_memory_and_cores_are_checked_per_server() -> None:
    fleet = Fleet(
        servers=[
            server("a", 24, memory_mb=8 * GB, cpu=4),
            server("b", 24, memory_mb=4 * GB, cpu=16),
        ]
    )
    memory = place([demand("m", 1, memory_mb=10 * GB)], fleet).unplaced
    assert [(s.resource, s.needed, s.available) for s in memory] == [(MEMORY, 10 * GB, 8 * GB)]
    cores = place([demand("c", 1, cpu=20)], fleet).unplaced
    assert [(s.resource, s.needed, s.available) for s in cores] == [(CPU_CORES, 20, 16)]
    # Each fits somewhere, never both on one server: the closest server is named.
    both = place([demand("mc", 1, memory_mb=6 * GB, cpu=10)], fleet).unplaced
    assert len(both) == 1 and both[0].resource in (MEMORY, CPU_CORES)
    assert "closest" in both[0].reason


def test_replicas_go_on_distinct_servers() -> None:
    fleet = Fleet(servers=[server("a", 24, 24), server("b", 24)])
    placement = place([demand("ha", 4, replicas=2)], fleet)
    assert placement.feasible
    assert {where(placement, "ha", 0)[0], where(placement, "ha", 1)[0]} == {"a", "b"}


def test_one_server_cannot_hold_two_replicas() -> None:
    fleet = Fleet(servers=[server("a", 80, 80)])
    placement = place([demand("ha", 4, replicas=2)], fleet)
    assert where(placement, "ha", 0) == ("a", 0)
    (short,) = placement.unplaced
    assert (short.replica, short.resource) == (1, DISTINCT_SERVERS)
    assert (short.needed, short.available, short.gap) == (2, 1, 1)


def test_an_empty_fleet_places_nothing_and_says_so() -> None:
    placement = place([demand("x", 1)], Fleet())
    assert [(s.resource, s.reason) for s in placement.unplaced] == [
        (DISTINCT_SERVERS, "the fleet has no servers")
    ]
    assert placement.lower_bound_gpus == 0 and placement.gpus_used == 0


def test_cpu_models_use_no_gpu_and_spread_over_servers() -> None:
    fleet = Fleet(servers=[server("a", 24), server("b", 24)])
    placement = place([demand("c1", memory_mb=8 * GB), demand("c2", memory_mb=4 * GB)], fleet)
    assert placement.gpus_used == 0
    assert {where(placement, "c1")[0], where(placement, "c2")[0]} == {"a", "b"}
    assert placement.instance_groups(where(placement, "c1")[0]) == {
        "d/c1": [{"kind": "KIND_CPU", "count": 1}]
    }


def test_ties_between_new_gpus_go_to_the_least_used_server() -> None:
    fleet = Fleet(servers=[server("a", 24, 24), server("b", 24, 24)])
    placement = place([demand("x", 20), demand("y", 20)], fleet)
    assert where(placement, "x") == ("a", 0)
    assert where(placement, "y") == ("b", 0)  # a and b both have a free 24 GB GPU; b is idle


def test_ensemble_and_steps_share_each_server() -> None:
    fleet = Fleet(servers=[server("a", 16), server("b", 16), server("c", 16)])
    steps = ("d/embed", "d/score")
    demands = [
        demand("embed", 6, replicas=2),
        demand("score", 5, replicas=2),
        demand("ranker", 0, replicas=2, colocate_with=steps),
        demand("other", 10),
    ]
    placement = place(demands, fleet)
    assert placement.feasible
    for replica in (0, 1):
        server_name = where(placement, "ranker", replica)[0]
        assert where(placement, "embed", replica)[0] == server_name
        assert where(placement, "score", replica)[0] == server_name
    assert where(placement, "ranker", 0)[0] != where(placement, "ranker", 1)[0]


def test_an_ensemble_that_fits_no_single_server_is_a_shortfall() -> None:
    # Each step fits any server alone; together (12 GB) they fit none (one 10 GB GPU).
    fleet = Fleet(servers=[server("a", 10), server("b", 10)])
    demands = [
        demand("embed", 6),
        demand("score", 6),
        demand("ranker", colocate_with=("d/embed", "d/score")),
    ]
    placement = place(demands, fleet)
    assert placement.assignments == []
    assert {s.ref for s in placement.unplaced} == {"d/embed@1.0", "d/score@1.0", "d/ranker@1.0"}
    assert {(s.resource, s.needed, s.available) for s in placement.unplaced} == {
        (GPU_MEMORY, 12 * GB, 10 * GB)
    }


def test_a_bundle_split_badly_over_gpus_names_the_replica_that_does_not_fit() -> None:
    # 46 GB on a server with 48 GB of GPUs, but the 30 GB and 16 GB steps need one GPU each.
    fleet = Fleet(servers=[server("a", 8, 40)])
    demands = [demand("s16", 16), demand("e", 30, colocate_with=("d/s16",))]
    placement = place(demands, fleet)
    assert {(s.resource, s.needed, s.available) for s in placement.unplaced} == {
        (GPU_MEMORY, 16 * GB, 10 * GB)
    }
    assert "not on one GPU" in placement.unplaced[0].reason


def test_a_step_with_more_replicas_than_its_ensemble_places_the_extra_alone() -> None:
    fleet = Fleet(servers=[server("a", 16), server("b", 16), server("c", 16)])
    demands = [demand("embed", 6, replicas=3), demand("ranker", colocate_with=("d/embed",))]
    placement = place(demands, fleet)
    assert placement.feasible
    assert where(placement, "ranker")[0] == where(placement, "embed", 0)[0]
    assert len({where(placement, "embed", k)[0] for k in range(3)}) == 3


def test_a_dedicated_server_keeps_other_teams_out() -> None:
    fleet = Fleet(
        servers=[
            server("secure", 80, dedicated_to=Dedication(teams=["fraud"])),
            server("shared", 24),
        ]
    )
    placement = place([demand("first", 20), demand("second", 20)], fleet)
    # Only the shared 24 GB GPU is theirs: one of them fits, the other does not, although
    # the dedicated server's 80 GB GPU stands empty.
    assert where(placement, "first") == ("shared", 0)
    (short,) = placement.unplaced
    assert (short.ref, short.resource, short.available) == ("d/second@1.0", GPU_MEMORY, 4 * GB)
    # The fraud team may use both servers: it is not confined to its own.
    fraud = place([demand("detector", 20, replicas=2, team="fraud")], fleet)
    assert fraud.feasible
    assert {a.server for a in fraud.assignments} == {"secure", "shared"}


def test_isolation_is_named_when_only_dedicated_servers_match() -> None:
    fleet = Fleet(servers=[server("secure", 80, dedicated_to=Dedication(domains=["payments"]))])
    (short,) = place([demand("x", 1)], fleet).unplaced
    assert short.resource == ISOLATION
    assert place([demand("x", 1, domain="payments")], fleet).feasible


def test_a_dedicated_gpu_keeps_other_domains_out() -> None:
    vision_gpu = {1: Dedication(domains=["vision"])}
    fleet = Fleet(servers=[server("a", 24, 24, gpu_dedicated_to=vision_gpu)])
    placement = place([demand("p", 16), demand("q", 16)], fleet)
    assert where(placement, "p") == ("a", 0)
    (short,) = placement.unplaced
    assert (short.ref, short.resource, short.available) == ("d/q@1.0", GPU_MEMORY, 8 * GB)
    vision = place([demand("p", 16), demand("q", 16, domain="vision")], fleet)
    assert vision.feasible and where(vision, "q") == ("a", 1)
    only_dedicated = Fleet(servers=[server("a", 24, gpu_dedicated_to={0: Dedication(teams=["x"])})])
    (short,) = place([demand("p", 1)], only_dedicated).unplaced
    assert short.resource == ISOLATION


def test_requires_labels() -> None:
    fleet = Fleet(
        servers=[
            server("a10g", 80, labels={"gpu": "a10g"}),
            server("a100", 40, labels={"gpu": "a100", "zone": "eu"}),
        ]
    )
    placement = place([demand("x", 4, requires=(("gpu", "a100"),))], fleet)
    assert where(placement, "x")[0] == "a100"
    (short,) = place([demand("y", 4, requires=(("gpu", "h100"),))], fleet).unplaced
    assert short.resource == LABELS and "gpu=h100" in short.reason
    two = place([demand("z", 4, replicas=2, requires=(("zone", "eu"),))], fleet)
    assert [s.resource for s in two.unplaced] == [DISTINCT_SERVERS]


def test_previous_placement_is_kept_when_a_model_is_added() -> None:
    fleet = Fleet(servers=[server("a", 16, 16)])
    before = place([demand("a10", 10)], fleet)
    assert where(before, "a10") == ("a", 0)
    # Placed afresh, the larger newcomer would take GPU 0 and move the old model to GPU 1.
    fresh = place([demand("a10", 10), demand("b12", 12)], fleet)
    assert where(fresh, "b12") == ("a", 0) and where(fresh, "a10") == ("a", 1)
    after = place([demand("a10", 10), demand("b12", 12)], fleet, previous=before)
    assert after.feasible and after.moved == 0
    assert where(after, "a10") == ("a", 0) and where(after, "b12") == ("a", 1)


def test_adding_a_model_moves_only_what_it_must() -> None:
    fleet = Fleet(servers=[server("a", 16, 8)])
    before = place([demand("small", 8)], fleet)
    assert where(before, "small") == ("a", 0)
    # `big` needs the whole 16 GB GPU: keeping `small` there leaves it out, so the
    # placement that fits everything wins, and reports the one replica it moved.
    after = place([demand("small", 8), demand("big", 16)], fleet, previous=before)
    assert after.feasible and after.moved == 1
    assert where(after, "big") == ("a", 0) and where(after, "small") == ("a", 1)


def test_a_new_version_takes_its_predecessors_place() -> None:
    fleet = Fleet(servers=[server("a", 24, 24), server("b", 24, 24)])
    before = place([demand("m", 8, replicas=2), demand("n", 20)], fleet)
    upgraded = [demand("m", 9, replicas=2, version="2.0"), demand("n", 20)]
    after = place(upgraded, fleet, previous=before)
    assert after.moved == 0
    for replica in (0, 1):
        assert where(after, "m", replica) == where(before, "m", replica)


def test_replicas_on_a_removed_server_are_counted_as_moved() -> None:
    fleet = Fleet(servers=[server("a", 24), server("b", 24), server("c", 24)])
    before = place([demand("m", 8, replicas=2), demand("n", 8)], fleet)
    gone = where(before, "m", 0)[0]
    smaller = Fleet(servers=[s for s in fleet.servers if s.name != gone])
    after = place([demand("m", 8, replicas=2), demand("n", 8)], smaller, previous=before)
    assert after.feasible
    on_gone = sum(1 for a in before.assignments if a.server == gone)
    assert after.moved == on_gone


def test_lower_bound_counts_the_largest_gpus_first() -> None:
    fleet = Fleet(servers=[server("a", 80, 16), server("b", 40, 24)])
    assert lower_bound_gpus([demand("x", 50, replicas=2)], fleet) == 2  # 100 GB <= 80 + 40
    assert lower_bound_gpus([demand("x", 1)], fleet) == 1
    assert lower_bound_gpus([demand("x", 0)], fleet) == 0
    assert lower_bound_gpus([demand("x", 100, replicas=2)], fleet) == 4  # more than all of it


def test_model_dump_is_json() -> None:
    fleet = Fleet(servers=[server("a", 24), server("b", 24)])
    placement = place([demand("x", 4, replicas=2), demand("y", 30)], fleet)
    data = json.loads(json.dumps(placement.model_dump(mode="json")))
    assert data["feasible"] is False
    assert data["gpus_used"] == 2 and data["lower_bound_gpus"] == 2
    assert data["unplaced"][0]["resource"] == GPU_MEMORY and data["unplaced"][0]["gap"] == 6 * GB
    assert [s["server"] for s in data["servers"]] == ["a", "b"]
    assert data["servers"][0]["instance_groups"] == {
        "d/x": [{"kind": "KIND_GPU", "count": 1, "gpus": [0]}]
    }
    with pytest.raises(NotFound, match="no server 'z'"):
        placement.instance_groups("z")


def test_bad_demands_are_input_errors() -> None:
    fleet = Fleet(servers=[server("a", 24)])
    with pytest.raises(InputError, match="listed twice"):
        place([demand("x"), demand("x")], fleet)
    with pytest.raises(InputError, match="d/missing"):
        place([demand("e", colocate_with=("d/missing",))], fleet)
    with pytest.raises(InputError, match="at least as many"):
        place([demand("s", replicas=1), demand("e", replicas=2, colocate_with=("d/s",))], fleet)
    with pytest.raises(ValueError, match="replicas"):
        demand("zero", replicas=0)


# Replicas from specs ----------------------------------------------------------------


def test_replicas_follow_availability_and_the_manifest_override() -> None:
    specs = [
        spec("low", availability=0.99),
        spec("high", availability=0.999),
        spec("pinned", availability=0.9999, replicas=3),
        spec("labelled", requires={"gpu": "a100"}),
    ]
    demands = {d.model_id: d for d in demands_from_specs({s.ref: s for s in specs})}
    assert {mid: d.replicas for mid, d in demands.items()} == {
        "rec/low": 1,
        "rec/high": 2,
        "rec/pinned": 3,
        "rec/labelled": 1,
    }
    assert demands["rec/labelled"].requires == (("gpu", "a100"),)
    assert demands["rec/low"].team == "rec-team" and demands["rec/low"].gpu_memory_mb == 1024


def test_steps_get_their_ensembles_replicas() -> None:
    specs = [
        spec("shared"),
        spec("own", replicas=4),
        spec("e1", availability=0.999, steps=("rec/shared",)),
        spec("e2", replicas=3, steps=("rec/shared", "rec/own")),
        spec("outer", replicas=5, steps=("rec/e1",)),
    ]
    demands = {d.model_id: d for d in demands_from_specs({s.ref: s for s in specs})}
    assert demands["rec/e1"].replicas == 5  # raised by `outer`, which nests it
    assert demands["rec/shared"].replicas == 5  # the most of e1 (5, nested) and e2 (3)
    assert demands["rec/own"].replicas == 4
    assert demands["rec/e2"].colocate_with == ("rec/shared", "rec/own")


def test_the_netflix_example_places_with_its_ensemble_together() -> None:
    specs = {d.spec.ref: d.spec for d in load_manifests([NETFLIX_MODELS])}
    demands = demands_from_specs(specs)
    a10g_pairs = Fleet(
        servers=[
            server("inference-a", 24, 24, cpu=32, memory_mb=128 * GB),
            server("inference-b", 24, 24, cpu=32, memory_mb=128 * GB),
        ]
    )
    placement = place(demands, a10g_pairs)
    check(demands, a10g_pairs, placement)
    assert placement.feasible
    for d in demands:
        if d.colocate_with:
            for a in placement.assignments:
                if a.ref == d.ref:
                    ids = {b.model_id for b in placement.on(a.server)}
                    assert set(d.colocate_with) <= ids


# Properties -------------------------------------------------------------------------


def check(demands: list[Demand], fleet: Fleet, placement: Placement) -> None:
    """Every constraint, recomputed from the assignments alone."""
    by_ref = {d.ref: d for d in demands}
    servers = {s.name: s for s in fleet.servers}
    placed: dict[str, set[int]] = defaultdict(set)
    gpu_used: Counter[tuple[str, int]] = Counter()
    memory_used: Counter[str] = Counter()
    cpu_used: dict[str, float] = defaultdict(float)
    servers_of: dict[str, list[str]] = defaultdict(list)
    models_on: dict[str, set[str]] = defaultdict(set)
    for a in placement.assignments:
        d = by_ref[a.ref]
        assert a.replica not in placed[a.ref] and 0 <= a.replica < d.replicas
        placed[a.ref].add(a.replica)
        s = servers[a.server]
        assert (a.instances, a.gpu_memory_mb, a.memory_mb, a.cpu_cores) == (
            d.instance_count,
            d.replica_gpu_memory_mb,
            d.replica_memory_mb,
            d.replica_cpu_cores,
        )
        if d.gpu_memory_mb:
            gpu = {g.index: g for g in s.gpus}[a.gpu_index]  # type: ignore[index]
            gpu_used[(s.name, gpu.index)] += a.gpu_memory_mb
            assert gpu.dedicated_to is None or gpu.dedicated_to.admits(d.domain, d.team)
        else:
            assert a.gpu_index is None
        memory_used[s.name] += a.memory_mb
        cpu_used[s.name] += a.cpu_cores
        servers_of[a.ref].append(s.name)
        models_on[s.name].add(a.model_id)
        assert all(s.labels.get(k) == v for k, v in d.requires)
        assert s.dedicated_to is None or s.dedicated_to.admits(d.domain, d.team)
    for s in fleet.servers:
        assert memory_used[s.name] <= s.memory_mb
        assert cpu_used[s.name] <= s.cpu_cores + 1e-6
        for g in s.gpus:
            assert gpu_used[(s.name, g.index)] <= g.memory_mb
    for ref, names in servers_of.items():
        assert len(names) == len(set(names)), f"{ref}: two replicas on one server"
    for a in placement.assignments:  # co-location
        assert set(by_ref[a.ref].colocate_with) <= models_on[a.server]
    # Never a silent partial placement: every replica is placed or explained.
    short: dict[str, set[int]] = defaultdict(set)
    for shortfall in placement.unplaced:
        assert shortfall.replica not in short[shortfall.ref]
        # Greedy packing can fail where each resource alone has room (a bundle that must
        # share a server with its other replicas elsewhere); the diagnosis then names the
        # closest server with a gap that can be 0. Known limit of first-fit-decreasing.
        assert shortfall.gap >= 0 and shortfall.reason, shortfall
        short[shortfall.ref].add(shortfall.replica)
    for d in demands:
        assert placed[d.ref] | short[d.ref] == set(range(d.replicas))
        assert not placed[d.ref] & short[d.ref]
    assert placement.feasible == (not placement.unplaced)
    # Usage reported matches usage recomputed.
    assert {(g.server, g.index): g.used_mb for g in placement.gpus} == {
        (s.name, g.index): gpu_used[(s.name, g.index)] for s in fleet.servers for g in s.gpus
    }
    assert {u.server: u.used_memory_mb for u in placement.servers} == {
        s.name: memory_used[s.name] for s in fleet.servers
    }
    gpu_replicas = sum(1 for a in placement.assignments if a.gpu_index is not None)
    assert placement.gpus_used == len([k for k, v in gpu_used.items() if v > 0])
    assert placement.gpus_used <= gpu_replicas
    assert placement.lower_bound_gpus == lower_bound_gpus(demands, fleet)
    if placement.feasible:
        assert placement.gpus_used >= placement.lower_bound_gpus


DOMAINS = ["d0", "d1"]
TEAMS = ["t0", "t1"]


@st.composite
def dedications(draw: st.DrawFn) -> Dedication | None:
    kind = draw(st.sampled_from(["none", "none", "none", "domain", "team"]))
    if kind == "domain":
        return Dedication(domains=[draw(st.sampled_from(DOMAINS))])
    if kind == "team":
        return Dedication(teams=[draw(st.sampled_from(TEAMS))])
    return None


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    servers = []
    for n in range(draw(st.integers(min_value=1, max_value=6))):
        sizes = draw(st.lists(st.sampled_from([8, 16, 24, 40]), max_size=3))
        servers.append(
            Server(
                name=f"s{n}",
                cpu_cores=draw(st.sampled_from([4.0, 8.0, 32.0])),
                memory_mb=draw(st.sampled_from([4, 16, 64])) * GB,
                labels={"gpu": draw(st.sampled_from(["a", "b"]))},
                dedicated_to=draw(dedications()),
                gpus=[
                    Gpu(index=i, memory_mb=size * GB, dedicated_to=draw(dedications()))
                    for i, size in enumerate(sizes)
                ],
            )
        )
    return Fleet(servers=servers)


@st.composite
def demand_lists(draw: st.DrawFn) -> list[Demand]:
    demands: list[Demand] = []
    for n in range(draw(st.integers(min_value=1, max_value=10))):
        replicas = draw(st.integers(min_value=1, max_value=3))
        steps: list[Demand] = []
        has_steps = draw(st.booleans())
        if demands and has_steps:
            steps = draw(st.lists(st.sampled_from(demands), max_size=2, unique_by=lambda d: d.ref))
        if steps:
            replicas = min([replicas, *(s.replicas for s in steps)])
        demands.append(
            Demand(
                ref=f"d/m{n}@1.0",
                model_id=f"d/m{n}",
                domain=draw(st.sampled_from(DOMAINS)),
                team=draw(st.sampled_from(TEAMS)),
                replicas=replicas,
                instance_count=draw(st.integers(min_value=1, max_value=2)),
                gpu_memory_mb=draw(st.sampled_from([0, 1, 4, 8, 16, 30])) * GB,
                memory_mb=draw(st.sampled_from([256, 2 * GB, 8 * GB])),
                cpu_cores=draw(st.sampled_from([0.5, 1.0, 4.0])),
                requires=draw(st.sampled_from([(), (), (("gpu", "a"),)])),
                colocate_with=tuple(s.model_id for s in steps),
            )
        )
    return demands


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), demand_lists())
def test_every_placement_respects_every_constraint(fleet: Fleet, demands: list[Demand]) -> None:
    placement = place(demands, fleet)
    check(demands, fleet, placement)
    # Placing again with itself as the previous placement changes nothing.
    again = place(demands, fleet, previous=placement)
    check(demands, fleet, again)
    assert again.moved == 0 and again.assignments == placement.assignments


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), demand_lists(), st.sampled_from([0, 2, 8, 20]), st.integers(1, 2))
def test_adding_a_model_keeps_the_others_unless_that_is_what_makes_it_fit(
    fleet: Fleet, demands: list[Demand], gpu_gb: int, replicas: int
) -> None:
    before = place(demands, fleet)
    extra = Demand(
        ref="d/new@1.0",
        model_id="d/new",
        domain="d0",
        team="t0",
        replicas=replicas,
        gpu_memory_mb=gpu_gb * GB,
        memory_mb=GB,
        cpu_cores=1.0,
    )
    after = place([*demands, extra], fleet, previous=before)
    check([*demands, extra], fleet, after)
    # Moves happen only when the placement that keeps everything does not fit all.
    assert after.moved == 0 or after.feasible
    if after.moved == 0:
        kept = {(a.ref, a.replica): (a.server, a.gpu_index) for a in before.assignments}
        assert all(
            kept.get((a.ref, a.replica), (a.server, a.gpu_index)) == (a.server, a.gpu_index)
            for a in after.assignments
        )
