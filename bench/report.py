"""HTML report benchmark: the seconds to write the report of a synthetic catalog.

    .venv/bin/python bench/report.py [--sizes 100,1000]

Uses bench/catalog.py's deterministic generator (N models, 5 domains, 0-3 dependencies
each) and times `Workspace.html_report` (selection, validation, the index, one page per
domain with its Graphviz graph, charts). Target: 1,000 models in under 10 s.
bench/report_scale.py measures 10,000 (index size, graph endpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from catalog import generate
from modelyard import Workspace

TARGET_S = 10.0


def run(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generate(n, root / "manifests")
        workspace = Workspace.init(root / "ws")
        workspace.apply([root / "manifests"])
        started = time.perf_counter()
        page = workspace.html_report(root / "report")
        seconds = time.perf_counter() - started
        size = page.stat().st_size
        pages = [page, *sorted((root / "report" / "domains").glob("*.html"))]
        graphs = sum(p.read_text().count('<div class="graph"') for p in pages)
        workspace.close()
    return {
        "n": n,
        "report_s": round(seconds, 3),
        "index_mb": round(size / 1e6, 3),
        "pages": len(pages),
        "graphs": graphs,
        "target_s": TARGET_S,
        "ok": seconds <= TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        print(json.dumps(run(n)), flush=True)


if __name__ == "__main__":
    main()
