"""Report and graph viewer at scale: the HTML report's index size and time, and the graph
endpoint's server time, at N models (issue 17: index under 2 MB at 10,000 models).

    .venv/bin/python bench/report_scale.py [--models 10000] [--runs 5]

Builds bench/catalog.py's deterministic catalog of N models (5 domains), registers it in
a fresh SQLite workspace, then:

- writes the whole report (`Workspace.html_report`: the index and one page per domain,
  each domain's Graphviz graph) and prints its time, the index's size and the largest
  domain page's;
- times the index alone as the API renders it (`html_report_page()`, no Graphviz);
- asks the FastAPI app in process (Starlette's TestClient: no network, so the figure is
  the server's time) for `GET /api/v1/graph` (the domain overview, a domain, a search, a
  model's neighbourhood) and the `/ui/graph` page `--runs` times after one warm-up, and
  prints the median and range of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dashboard import registered_workspace, signed_in_client, timed_get

INDEX_LIMIT_BYTES = 2_000_000
TARGET_MS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        workspace = registered_workspace(args.models, root)
        workspace.validate()  # what a report after `modelyard validate` finds cached

        started = time.perf_counter()
        index = workspace.html_report(root / "report")
        whole_s = time.perf_counter() - started
        pages = sorted((root / "report" / "domains").glob("*.html"))
        size = index.stat().st_size
        largest = max(pages, key=lambda p: p.stat().st_size)
        print(
            f"report, every page: {whole_s:.1f} s; index {size / 1e6:.3f} MB "
            f"({'under' if size < INDEX_LIMIT_BYTES else 'OVER'} 2 MB); {len(pages)} domain "
            f"pages, the largest {largest.name} {largest.stat().st_size / 1e6:.2f} MB"
        )
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            workspace.html_report_page()
            times.append(time.perf_counter() - started)
        print(
            f"report index alone (as GET /api/v1/report/html renders it): median "
            f"{statistics.median(times):.2f} s over {args.runs} runs"
        )

        listed = workspace.list_models()
        focus = next(s for s in listed if s.dependencies).id
        requests = [
            ("graph: domain overview", "/api/v1/graph"),
            ("graph: one domain", "/api/v1/graph?domain=search"),
            ("graph: search", "/api/v1/graph?q=ranking_0001"),
            ("graph: focus, 2 hops", f"/api/v1/graph?focus={focus}&hops=2"),
            ("graph viewer page", "/ui/graph"),
        ]
        missed = 0
        with signed_in_client(workspace) as (client, headers):
            print(f"{'request':<26} {'nodes':>6} {'median ms':>10} {'range ms':>16}")
            for label, path in requests:
                first, samples = timed_get(client, path, headers, args.runs)
                nodes = len(first.json()["nodes"]) if path.startswith("/api") else 0
                median = statistics.median(samples)
                missed += first.status_code != 200
                print(
                    f"{label:<26} {nodes:>6} {median:>10.0f} "
                    f"{min(samples):>7.0f} - {max(samples):<6.0f} "
                    f"{'' if median <= TARGET_MS else f'(over {TARGET_MS:.0f} ms)'}"
                )
        workspace.close()
    return 1 if missed or size >= INDEX_LIMIT_BYTES else 0


if __name__ == "__main__":
    raise SystemExit(main())
