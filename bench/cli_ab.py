"""Two versions of modelyard timed against each other, as whole CLI processes in one run.

    .venv/bin/python bench/cli_ab.py --old REV [--new REV] [--models 10000] [--rounds 3]

Figures taken in different sessions of a shared machine cannot be compared: its speed
changes by half from one hour to the next. This bench checks out `--old` (and `--new`,
default: the working tree) with `git worktree`, generates bench/catalog.py's catalog once,
and runs each command for both versions alternately, each version in a workspace of its
own (its caches are its own), `--rounds` times. It prints the median and range of each
and the ratio new/old: only the ratio is worth quoting.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog import generate  # noqa: E402  (bench/catalog.py, beside this file)


def _commands(catalog: Path, ws: Path, first_model: str) -> list[tuple[str, list[str]]]:
    workspace = ["--workspace", str(ws)]
    return [
        ("apply (fresh catalog)", ["apply", str(catalog), *workspace]),
        ("re-apply unchanged", ["apply", str(catalog), *workspace]),
        ("validate (first)", ["validate", *workspace]),
        ("validate (again)", ["validate", *workspace]),
        ("plan", ["plan", *workspace]),
        ("compile --out (fresh)", ["compile", "--out", str(ws / "repo"), *workspace]),
        ("compile --out (unchanged)", ["compile", "--out", str(ws / "repo"), *workspace]),
        ("list", ["list", *workspace]),
        ("show ID", ["show", first_model, *workspace]),
        ("--help", ["--help"]),
    ]


def _timed(source: Path, argv: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(source), MODELYARD_NO_COLOR="1")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{source}: modelyard {' '.join(argv)} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace')[-400:]}"
        )
    return took


def _checkout(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(into), rev], check=True
    )
    return into / "src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--old", required=True, help="the version to compare against (a git rev)")
    parser.add_argument("--new", help="a git rev (default: the working tree)")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="modelyard-ab-"))
    trees: list[Path] = []
    try:
        sources = {"old": _checkout(args.old, scratch / "old")}
        trees.append(scratch / "old")
        if args.new:
            sources["new"] = _checkout(args.new, scratch / "new")
            trees.append(scratch / "new")
        else:
            sources["new"] = ROOT / "src"
        written = generate(args.models, scratch / "catalog")
        # Older than the 2 s in which a changed artifact's digest is not kept, as real ones are.
        time.sleep(2.1)
        times: dict[tuple[str, str], list[float]] = {}
        for round_number in range(args.rounds):
            order = ("old", "new") if round_number % 2 == 0 else ("new", "old")
            for version in order:
                ws = scratch / f"ws-{version}"
                shutil.rmtree(ws, ignore_errors=True)
                _timed(sources[version], ["init", str(ws)])
                commands = _commands(scratch / "catalog" / "manifests", ws, written["first_model"])
                for label, command in commands:
                    times.setdefault((label, version), []).append(_timed(sources[version], command))
            print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr)
        print(
            f"{args.models:,} models; old {args.old}, new {args.new or 'working tree'}; "
            f"medians of {args.rounds} [min-max], alternating"
        )
        print(f"{'command':28} {'old':>22} {'new':>22} {'new/old':>8}")
        labels = dict.fromkeys(label for label, _ in times)
        for label in labels:
            old, new = times[(label, "old")], times[(label, "new")]

            def shown(xs: list[float]) -> str:
                return f"{statistics.median(xs):.2f} s [{min(xs):.2f}-{max(xs):.2f}]"

            ratio = statistics.median(new) / statistics.median(old)
            print(f"{label:28} {shown(old):>22} {shown(new):>22} {ratio:>8.2f}")
    finally:
        for tree in trees:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
