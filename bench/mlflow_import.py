"""How long import-mlflow takes against a real MLflow server: a first import of M models x V
versions (each a small python model), a re-sync with nothing new, and a re-sync after one
new version and one alias move. Prints the figures; asserts nothing.

    .venv/bin/python bench/mlflow_import.py [--models 20] [--versions 3]

Starts its own server with scripts/mlflow.sh (installing MLflow into .venv-mlflow when
missing) on a free port, and a workspace in a temporary folder; both are removed after.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.mlflow import PYTHON_MODEL, MlflowServer, Registry, free_port  # noqa: E402

from modelyard.workspace import Workspace  # noqa: E402


def timed(label: str, action: object) -> float:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    counts: dict[str, int] = {}
    for version in result.versions:
        counts[version.status] = counts.get(version.status, 0) + 1
    moved = sum(a.status != "unchanged" for a in result.aliases)
    print(f"{label:<34} {elapsed:6.2f} s  {counts}  aliases moved: {moved}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--versions", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = MlflowServer(Path(folder) / "mlflow", free_port())
        start = time.perf_counter()
        reason = server.start()
        if reason is not None:
            print(f"MLflow could not start: {reason}", file=sys.stderr)
            server.stop()
            return 1
        print(f"mlflow server ready in {time.perf_counter() - start:.1f} s at {server.uri}")
        registry = Registry(server.uri)
        try:
            start = time.perf_counter()
            for m in range(args.models):
                registry.model(f"bench model {m}")
                for v in range(args.versions):
                    registry.version(f"bench model {m}", {"model.py": PYTHON_MODEL + b"#%d" % v})
                registry.alias(f"bench model {m}", "champion", 1)
            print(
                f"seeded {args.models} models x {args.versions} versions over REST in "
                f"{time.perf_counter() - start:.1f} s"
            )
            workspace = Workspace.init(Path(folder) / "ws")
            try:

                def run() -> object:
                    return workspace.import_mlflow(server.uri, domain="bench", owner_team="t")

                timed("first import", run)
                timed("re-sync, nothing new", run)
                registry.version("bench model 0", {"model.py": PYTHON_MODEL + b"# new"})
                registry.alias("bench model 0", "champion", args.versions + 1)
                timed("re-sync, 1 new version + 1 move", run)
            finally:
                workspace.close()
        finally:
            registry.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
