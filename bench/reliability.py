"""Concurrent writers against one catalog, on SQLite and PostgreSQL: nothing lost.

    .venv/bin/python bench/reliability.py [--backends sqlite,postgresql] [--writers 8]
                                          [--per-writer 500] [--json]

The scenarios are the ones the tests run (tests/support/concurrency.py), in separate
processes that start at the same moment:

- apply distinct models: each writer registers --per-writer models in batches of 100,
  depending on its own models and on another writer's (which it registers too, with the
  same content); expected: writers x per-writer models, each exactly once.
- same version, same content / other content: every writer registers one id@version;
  expected: one registration; with other content, writers-1 version conflicts.
- alias compare-and-set: 50 moves per writer, each expecting the alias where it read it;
  a lost update would show as moves counted by writers but missing in the alias revision.
- deploy lease: every writer takes one target's lease at once; expected: one holder.

- tenancy (`--tenancy-pairs`, SQLite): two teams register the same new models at the
  same moment; expected: each model registered once, by one team, 0 cross-team effects.
- tenancy deploys (`--tenancy-deploy-models`, SQLite, a real local Triton): two teams'
  maintainers deploy new versions of their own models at the same moment (targeted, as
  the API's jobs are) while a client asks every model; expected: each deploy changes its
  own team's models only, both succeed, 0 failed requests.
- deep chains (`--chain-sizes`, SQLite): one chain of N models, each needing the one
  before it, so every model has an SLA chain problem; `validate` runs in a fresh process
  per N (its peak RSS is validate's alone). Time and memory must grow linearly in N.

PostgreSQL: $MODELYARD_TEST_DB (a server URL) or a throwaway server that
scripts/postgres.sh starts (and stops afterwards). `seconds` is the wall time from the
common start to the last writer's end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import concurrency  # noqa: E402

COLUMNS = [
    "backend",
    "scenario",
    "writers",
    "operations",
    "lost",
    "duplicated",
    "conflicts",
    "errors",
    "seconds",
]


@contextmanager
def postgres_server() -> Iterator[str]:
    if os.environ.get("MODELYARD_TEST_DB"):
        yield os.environ["MODELYARD_TEST_DB"]
        return
    started = subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh"), "start"],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise SystemExit(f"cannot start PostgreSQL: {started.stderr.strip()}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "stop"], check=False)


def _admin(server: str, statement: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def fresh_catalogs(backend: str, server: str | None, scratch: Path) -> Iterator[str]:
    """An endless supply of new, empty catalog URLs (migrated on first open)."""
    while True:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            yield f"sqlite:///{scratch / name}.db"
        else:
            assert server is not None
            _admin(server, f'CREATE DATABASE "{name}"')
            yield make_url(server).set(database=name).render_as_string(hide_password=False)


def run(backend: str, server: str | None, writers: int, per_writer: int) -> list[dict[str, object]]:
    from modelyard.store import CatalogStore

    rows = []
    with tempfile.TemporaryDirectory(prefix="modelyard-reliability-") as scratch:
        urls = fresh_catalogs(backend, server, Path(scratch))
        runs: list[Callable[[str], concurrency.Outcome]] = [
            lambda url: concurrency.concurrent_apply(url, writers, per_writer),
            lambda url: concurrency.concurrent_same_version(url, writers, same_content=True),
            lambda url: concurrency.concurrent_same_version(url, writers, same_content=False),
            lambda url: concurrency.concurrent_alias_moves(url, writers, attempts=50),
            lambda url: concurrency.concurrent_leases(url, writers),
        ]
        for scenario in runs:
            url = next(urls)
            CatalogStore.open(url, create=True).dispose()  # migrate before the race
            outcome = scenario(url)
            rows.append({"backend": backend, **outcome.row()})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


CHAIN_MANIFEST = """name: m{i}
version: "1.0"
model_type: regression
framework: onnx
domain: chain
owner_team: chain_team
{dependencies}inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
sla_requirements: {{max_latency_p99_ms: 10, availability: 0.9999, min_throughput_rps: 1}}
"""

CHAIN_VALIDATE = """
import json, resource, sys, time
from modelyard import Workspace
workspace = Workspace.open(sys.argv[1])
began = time.perf_counter()
report = workspace.validate()
print(json.dumps({
    "seconds": round(time.perf_counter() - began, 2),
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    "problems": len(report.problems),
}))
"""


def chain_row(size: int) -> dict[str, object]:
    """Register a chain of `size` models, then time `validate` in a process of its own."""
    from modelyard import Workspace

    with tempfile.TemporaryDirectory(prefix="modelyard-chain-") as scratch:
        folder = Path(scratch) / "models"
        folder.mkdir()
        for start in range(0, size, 1000):
            documents = [
                CHAIN_MANIFEST.format(
                    i=i, dependencies=f"dependencies: [chain/m{i - 1}>=1.0]\n" if i else ""
                )
                for i in range(start, min(size, start + 1000))
            ]
            (folder / f"chain-{start:06d}.yaml").write_text("---\n".join(documents))
        workspace = Workspace.init(Path(scratch) / "ws")
        workspace.apply([folder])
        workspace.close()
        result = subprocess.run(
            [sys.executable, "-c", CHAIN_VALIDATE, str(Path(scratch) / "ws")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        return {"models": size, **json.loads(result.stdout)}


def tenancy_row(pairs: int) -> dict[str, object]:
    """`pairs` new models, each registered at once by two teams
    (concurrency.two_teams_register): a cross-team effect is a model that ends with
    versions of both teams, or both teams' registrations of one model succeeding."""
    from modelyard import Workspace

    with tempfile.TemporaryDirectory(prefix="modelyard-tenancy-") as scratch:
        root = Path(scratch) / "ws"
        Workspace.init(root).close()
        outcomes = concurrency.two_teams_register(root, pairs)
        owners = concurrency.owners_by_model(root)
    won = {key: outcome == "registered" for key, outcome in outcomes.items()}
    return {
        "pairs": pairs,
        "registered": sum(won.values()),
        "refused": sum(not ok for ok in won.values()),
        "cross_team_effects": sum(len(teams) > 1 for teams in owners.values())
        + sum(won[i, "team_a"] and won[i, "team_b"] for i in range(pairs)),
    }


def tenancy_deploy_row(models_per_team: int) -> dict[str, object]:
    """concurrency.two_teams_deploy on a fresh workspace and a fresh local Triton."""
    from modelyard import Workspace
    from modelyard.triton.server import LocalTriton, free_port

    with tempfile.TemporaryDirectory(prefix="modelyard-tenancy-deploy-") as scratch:
        root = Path(scratch) / "ws"
        root.mkdir()
        port = free_port()
        (root / "modelyard.yaml").write_text(
            f"targets:\n  bench: {{url: 'http://127.0.0.1:{port}', repository: repo, "
            "profile: local}\n"
        )
        Workspace.init(root).close()
        server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
        server.start().close()
        try:
            return concurrency.two_teams_deploy(root, "bench", models_per_team).row()
        finally:
            server.stop()


def print_chains(sizes: list[int]) -> list[dict[str, object]]:
    rows = [chain_row(size) for size in sizes]
    print("\nvalidate of one dependency chain (SQLite, a fresh process per size)")
    print("models | seconds | peak MB | problems | seconds per 1,000 models")
    for row in rows:
        per = float(str(row["seconds"])) / int(str(row["models"])) * 1000
        print(
            f"{row['models']} | {row['seconds']} | {row['peak_mb']} | {row['problems']} | {per:.3f}"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = int(str(last["models"])) / int(str(first["models"]))
        time_ratio = float(str(last["seconds"])) / max(float(str(first["seconds"])), 1e-9)
        print(f"{growth:g}x the models: {time_ratio:.1f}x the time (linear: {growth:g}x)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--tenancy-pairs", type=int, default=50)
    parser.add_argument(
        "--tenancy-deploy-models",
        type=int,
        default=4,
        help="models per team in the concurrent-deploys scenario; 0 to leave it out",
    )
    parser.add_argument(
        "--chain-sizes",
        default="4000,8000,16000,32000",
        help="chain lengths for the validate scenario; empty to leave it out",
    )
    args = parser.parse_args()
    chain_sizes = [int(n) for n in args.chain_sizes.split(",") if n]
    rows: list[dict[str, object]] = []
    for backend in args.backends.split(","):
        if backend == "postgresql":
            with postgres_server() as server:
                rows += run(backend, server, args.writers, args.per_writer)
        else:
            rows += run(backend, None, args.writers, args.per_writer)
    if args.json:
        chains = [chain_row(size) for size in chain_sizes]
        tenancy_json = tenancy_row(args.tenancy_pairs)
        deploys = (
            tenancy_deploy_row(args.tenancy_deploy_models) if args.tenancy_deploy_models else None
        )
        print(
            json.dumps(
                {
                    "writers": rows,
                    "tenancy": tenancy_json,
                    "tenancy_deploys": deploys,
                    "chains": chains,
                },
                indent=1,
            )
        )
        return
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    print(" | ".join(c.ljust(widths[c]) for c in COLUMNS))
    print("-|-".join("-" * widths[c] for c in COLUMNS))
    for row in rows:
        print(" | ".join(str(row[c]).ljust(widths[c]) for c in COLUMNS))
    tenancy = tenancy_row(args.tenancy_pairs)
    print(
        f"\ntwo teams registering {tenancy['pairs']} new models at once (SQLite): "
        f"{tenancy['registered']} registered, {tenancy['refused']} refused, "
        f"{tenancy['cross_team_effects']} cross-team effects"
    )
    crossed = int(str(tenancy["cross_team_effects"]))
    if args.tenancy_deploy_models:
        deploys = tenancy_deploy_row(args.tenancy_deploy_models)
        print(
            f"two teams deploying {deploys['models_per_team']} models each at once (SQLite, "
            f"local Triton): {deploys['deploys']}; {deploys['cross_team_effects']} cross-team "
            f"effects; {deploys['failed_requests']} of {deploys['requests']} client requests "
            f"failed; {deploys['seconds']} s"
        )
        crossed += int(str(deploys["cross_team_effects"])) + int(str(deploys["failed_requests"]))
    if chain_sizes:
        print_chains(chain_sizes)
    lost = sum(int(str(r["lost"])) + int(str(r["duplicated"])) for r in rows)
    print(f"\nlost or duplicated writes: {lost}")
    sys.exit(1 if lost or crossed else 0)


if __name__ == "__main__":
    main()
