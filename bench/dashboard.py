"""Dashboard benchmark: each page's server time at N models (issue 17: under 300 ms at 10k).

    .venv/bin/python bench/dashboard.py [--models 10000] [--runs 5]

Builds bench/catalog.py's deterministic catalog of N models (real artifacts, valid
ensembles), registers it in a fresh SQLite workspace, and asks the FastAPI app in process
(Starlette's TestClient: no network, so the figure is the server's time: routing, the
catalog reads, the template) for each page `--runs` times, after one warm-up request.
Prints the median and range per page and whether it is under the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import httpx
from fastapi.testclient import TestClient

from catalog import generate
from modelyard import Workspace
from modelyard.api import create_app
from modelyard.api.auth import COOKIE

TARGET_MS = 300.0


def pages(workspace: Workspace) -> list[tuple[str, str]]:
    listed = workspace.list_models()
    ensemble = next(s for s in listed if s.ensemble is not None)
    leaf = next(s for s in listed if not s.dependencies)
    team = listed[len(listed) // 2].owner_team
    return [
        ("catalog, first page", "/ui/catalog"),
        ("catalog, page 100 of 50", "/ui/catalog?page=100"),
        ("catalog, search", f"/ui/catalog?q={leaf.name[:6]}"),
        ("catalog, team + sort", f"/ui/catalog?team={team}&sort=version&desc=true"),
        ("model page, ensemble", f"/ui/models/{ensemble.id}"),
        ("model page, leaf", f"/ui/models/{leaf.id}"),
        ("validation", "/ui/validation"),
        ("validation, errors only", "/ui/validation?severity=error"),
        ("deployments", "/ui/deployments"),
        ("experiments", "/ui/experiments"),
        ("rollouts", "/ui/rollouts"),
        ("graph page", "/ui/graph"),
        ("API: graph, domain overview", "/api/v1/graph"),
        ("API: graph, one domain", f"/api/v1/graph?domain={leaf.domain}"),
        ("API: graph, focus 1 hop", f"/api/v1/graph?focus={ensemble.id}&hops=1"),
        ("API: models, one page", "/api/v1/models?limit=50"),
    ]


def registered_workspace(models: int, root: Path) -> Workspace:
    """bench/catalog.py's catalog of `models` registered in a fresh workspace under root."""
    generate(models, root / "catalog")
    workspace = Workspace.init(root / "ws")
    started = time.perf_counter()
    workspace.apply([root / "catalog" / "manifests"])
    print(f"{models:,} models registered in {time.perf_counter() - started:.1f} s")
    return workspace


@contextmanager
def signed_in_client(workspace: Workspace) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app in process with an admin's cookie set, and the bearer headers for /api."""
    _, token = workspace.access.create_token("bench", "admin", "bench", actor="bench")
    with TestClient(create_app(workspace)) as client:
        client.cookies.set(COOKIE, token)
        yield client, {"authorization": f"Bearer {token}"}


def timed_get(
    client: TestClient, path: str, headers: dict[str, str], runs: int
) -> tuple[httpx.Response, list[float]]:
    """One warm-up answer, then `runs` times in milliseconds."""
    first = client.get(path, headers=headers)
    times = []
    for _ in range(runs):
        begun = time.perf_counter()
        client.get(path, headers=headers)
        times.append((time.perf_counter() - begun) * 1000)
    return first, times


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = registered_workspace(args.models, Path(folder))
        missed = 0
        with signed_in_client(workspace) as (client, bearer):
            print(f"{'page':<28} {'median ms':>10} {'range ms':>16}  target {TARGET_MS:.0f} ms")
            for label, path in pages(workspace):
                headers = bearer if path.startswith("/api") else {}
                first, times = timed_get(client, path, headers, args.runs)
                status = first.status_code
                median = statistics.median(times)
                met = median <= TARGET_MS and status == 200
                missed += not met
                print(
                    f"{label:<28} {median:>10.0f} {min(times):>7.0f}-{max(times):<8.0f}"
                    f"  {'met' if met else 'NOT met'}{'' if status == 200 else f' (HTTP {status})'}"
                )
        workspace.close()
    print(f"{missed} page(s) over {TARGET_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
