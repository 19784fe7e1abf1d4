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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for backend in args.backends.split(","):
        if backend == "postgresql":
            with postgres_server() as server:
                rows += run(backend, server, args.writers, args.per_writer)
        else:
            rows += run(backend, None, args.writers, args.per_writer)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    print(" | ".join(c.ljust(widths[c]) for c in COLUMNS))
    print("-|-".join("-" * widths[c] for c in COLUMNS))
    for row in rows:
        print(" | ".join(str(row[c]).ljust(widths[c]) for c in COLUMNS))
    lost = sum(int(str(r["lost"])) + int(str(r["duplicated"])) for r in rows)
    print(f"\nlost or duplicated writes: {lost}")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
