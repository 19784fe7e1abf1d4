"""How long a rollout will take, from the load times of earlier rollouts.

Pure: the plan's actions, the load seconds recorded per model and each model's backend
in; an estimate out (the history is read by the use case, ops/estimate.py).

The runner starts a load as soon as the models it waits for are READY, at most
`concurrency` at once, and Triton loads at most `--model-load-thread-count` models at
once (4 by default). The estimate replays that: list scheduling of the plan's loads and
reloads, in the plan's order, respecting `waits_for`, on min(concurrency, load threads)
workers; its length is the time the last load finishes (the critical path under the
concurrency bound). Unloads, and retiring old versions after an upgrade, are not counted:
Triton does them without loading anything.

Each load's figure is *measured* (the median of that model's recorded loads, with their
count) or a *guess*: the median of the measured models of the same backend, else of all
measured models, else DEFAULT_LOAD_S when nothing was ever measured on the target.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from statistics import median
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, computed_field

from modelyard.errors import InputError

# A guess when no load was ever measured on the target: the order of a small model's load
# (TRITON-FACTS: about 1.3 s for a python-backend model on the local Triton).
DEFAULT_LOAD_S = 2.0
# Triton's --model-load-thread-count when the target does not say.
TRITON_LOAD_THREADS = 4
# What `modelyard serve` starts the local Triton with unless the target says: loads are
# mostly waiting (a backend stub starting, files read), and with heavy models Triton's
# threads were the limit (K=8: 36.4 s with 4 threads, 19.8 s with 8; issue 19).
SERVE_LOAD_THREADS = 8

Basis = Literal["measured", "guess"]


class PlannedAction(Protocol):
    """What the estimate reads of a plan's action (deploy/plan.py's ModelAction; a
    protocol, since the plan carries the estimate)."""

    @property
    def triton_name(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def waits_for(self) -> Sequence[str]: ...


class LoadFigure(BaseModel):
    """How long one model's load is expected to take, and what that figure rests on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float
    basis: Basis
    # measured: the model's own recorded loads; guess: the measured models it is drawn from
    samples: int
    how: str


class LoadEstimate(BaseModel):
    """One load or reload of the plan, placed on the simulated schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    action: str
    seconds: float
    basis: Basis
    samples: int
    how: str
    start_s: float
    finish_s: float
    waits_for: list[str] = Field(default_factory=list)


class RolloutEstimate(BaseModel):
    """The expected length of a rollout's loads, each model's figure and the chain of loads
    that bounds it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float
    workers: int
    concurrency: int
    load_threads: int
    critical_path: list[str]
    loads: list[LoadEstimate]
    # Said when Triton's load threads, not the deploy's concurrency, bound the loads.
    warning: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def measured(self) -> int:
        return sum(1 for load in self.loads if load.basis == "measured")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def guessed(self) -> int:
        return sum(1 for load in self.loads if load.basis == "guess")


def load_figures(
    models: Sequence[str],
    recorded: Mapping[str, Sequence[float]],
    backends: Mapping[str, str],
    *,
    default_s: float = DEFAULT_LOAD_S,
) -> dict[str, LoadFigure]:
    """Each of `models`' load figure: measured, or guessed from the others.

    Args:
        recorded: Triton name -> the seconds of its earlier loads on this target.
        backends: Triton name -> its backend (`python`, `onnxruntime`, `ensemble`...), for
            every model the guesses may draw on.
    """
    medians = {name: median(times) for name, times in recorded.items() if times}
    by_backend: dict[str, list[float]] = {}
    for name, seconds in medians.items():
        if name in backends:
            by_backend.setdefault(backends[name], []).append(seconds)
    figures: dict[str, LoadFigure] = {}
    for name in models:
        if name in medians:
            count = len(recorded[name])
            figures[name] = LoadFigure(
                seconds=medians[name],
                basis="measured",
                samples=count,
                how=f"median of {count} recorded load(s)",
            )
            continue
        backend = backends.get(name)
        same = by_backend.get(backend, []) if backend is not None else []
        if same:
            figures[name] = LoadFigure(
                seconds=median(same),
                basis="guess",
                samples=len(same),
                how=f"guess: median of {len(same)} measured {backend} model(s)",
            )
        elif medians:
            figures[name] = LoadFigure(
                seconds=median(medians.values()),
                basis="guess",
                samples=len(medians),
                how=f"guess: median of {len(medians)} measured model(s), none "
                f"{backend or 'of its backend'}",
            )
        else:
            figures[name] = LoadFigure(
                seconds=default_s,
                basis="guess",
                samples=0,
                how=f"guess: default {default_s:g} s (no load recorded on this target)",
            )
    return figures


def estimate_rollout(
    actions: Sequence[PlannedAction],
    figures: Mapping[str, LoadFigure],
    *,
    concurrency: int,
    load_threads: int | None = None,
) -> RolloutEstimate:
    """Replay the runner's scheduling of `actions`' loads and reloads with `figures`.

    Args:
        actions: the plan's actions in its order (dependencies first); only loads and
            reloads take time here.
        figures: each load's figure (`load_figures`), by Triton name.
        concurrency: the deploy's `--concurrency`.
        load_threads: the server's --model-load-thread-count (None: Triton's default, 4).

    Raises:
        InputError: some loads wait for each other (the runner could not order them).
    """
    threads = load_threads or TRITON_LOAD_THREADS
    workers = max(1, min(concurrency, threads))
    warning = None
    if concurrency > threads:
        known = "its" if load_threads else "Triton's default"
        warning = (
            f"--concurrency {concurrency} is above the server's {threads} load threads "
            f"({known} --model-load-thread-count): at most {threads} models load at once; "
            f"start Triton with --model-load-thread-count={concurrency} (`modelyard serve "
            f"--load-threads {concurrency}`) and set the target's `load_threads`"
        )
    loads = [a for a in actions if a.action in ("load", "reload")]
    in_rollout = {a.triton_name for a in loads}
    waits = {a.triton_name: [d for d in a.waits_for if d in in_rollout] for a in loads}
    pending = [a.triton_name for a in loads]
    finish: dict[str, float] = {}
    start: dict[str, float] = {}
    # What let each load start when it did: the dependency, or the load that freed its worker.
    released_by: dict[str, str | None] = {}
    running: list[tuple[float, int, str]] = []  # (finish time, plan position, name)
    position = {name: index for index, name in enumerate(pending)}
    now = 0.0
    last_done: list[str] = []
    while pending or running:
        for name in list(pending):
            if len(running) >= workers:
                break
            if all(d in finish and finish[d] <= now for d in waits[name]):
                pending.remove(name)
                start[name] = now
                released_by[name] = _releaser(name, now, waits[name], finish, last_done)
                finish_at = now + figures[name].seconds
                heapq.heappush(running, (finish_at, position[name], name))
                finish[name] = finish_at
        if not running:
            raise InputError(
                f"cannot order the loads of {', '.join(sorted(pending))}: they wait for each other"
            )
        now = running[0][0]
        last_done = []
        while running and running[0][0] == now:
            last_done.append(heapq.heappop(running)[2])
    end = max(finish.values(), default=0.0)
    path: list[str] = []
    current = max(finish, key=lambda n: (finish[n], position[n])) if finish else None
    while current is not None:
        path.append(current)
        current = released_by[current]
    return RolloutEstimate(
        seconds=round(end, 3),
        workers=workers,
        concurrency=concurrency,
        load_threads=threads,
        warning=warning,
        critical_path=path[::-1],
        loads=[
            LoadEstimate(
                model=a.triton_name,
                action=a.action,
                seconds=round(figures[a.triton_name].seconds, 3),
                basis=figures[a.triton_name].basis,
                samples=figures[a.triton_name].samples,
                how=figures[a.triton_name].how,
                start_s=round(start[a.triton_name], 3),
                finish_s=round(finish[a.triton_name], 3),
                waits_for=waits[a.triton_name],
            )
            for a in loads
        ],
    )


def _releaser(
    name: str,
    now: float,
    waits: Sequence[str],
    finish: Mapping[str, float],
    last_done: Sequence[str],
) -> str | None:
    """The load whose end let `name` start at `now`: its last dependency if that ended
    then, else one whose worker it took (None at the start)."""
    if now == 0.0:
        return None
    ended_now = [d for d in waits if finish[d] == now]
    if ended_now:
        return ended_now[0]
    return last_done[0] if last_done else None
