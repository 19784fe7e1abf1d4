"""The rollout runner: drives a Target (a Triton server and its repository) along a
RolloutPlan.

- One deployer per target: a lease in the catalog database, renewed every third of its
  time to live while the deployment runs (deploy/lease.py). The lease holder (this
  deployer process) and the actor (who asked) are recorded apart.
- Loads start as soon as the models they wait for are READY (no wave barriers), at
  most `concurrency` at once. Each load is followed by a readiness poll (with a
  timeout) and a smoke inference per version (zeros of the declared shapes).
- Upgrades never take a model offline. Triton's docs withdrew the promise that a
  reload keeps the old version serving (TRITON-FACTS.md section 7), so the old and new
  versions are first served side by side (an "overlap" repository whose version_policy
  lists both), and only after the new one answered is the old one retired.
- Any failure: nothing new starts, the repository goes back to the previous content,
  every model this deployment touched is reloaded (or unloaded if it was not served
  before), and the rollback is checked READY. The deployment record says what happened.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.deploy.lease import DEFAULT_LEASE_TTL_S, default_holder, hold_lease
from modelyard.deploy.plan import ModelAction, RolloutPlan, plan_rollout
from modelyard.errors import ModelyardError, RolloutFailed, TritonError
from modelyard.store.history import DeploymentLog
from modelyard.targets.base import Target
from modelyard.triton.compiler import CompilePlan
from modelyard.triton.config import to_pbtxt
from modelyard.triton.inputs import request_inputs
from modelyard.triton.repository import RepoFile

Progress = Callable[[str, str], None]

ROLLBACK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class DeployOptions:
    concurrency: int = 4
    load_timeout_s: float = 300.0
    ready_timeout_s: float = 60.0
    smoke: bool = True
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    wait_for_lease_s: float = 0.0


@dataclass
class ModelOutcome:
    """One model's progress while a rollout runs (threads update it); `result()` freezes it."""

    model: str
    action: str
    status: str = "pending"  # pending | done | failed | skipped | rolled_back
    seconds: float | None = None
    error: str | None = None

    def result(self) -> ModelResult:
        return ModelResult(
            model=self.model,
            action=self.action,
            status=self.status,
            seconds=round(self.seconds, 3) if self.seconds is not None else None,
            error=self.error,
        )


class ModelResult(BaseModel):
    """What a rollout did to one model, and how long it took."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    action: str
    status: str
    seconds: float | None
    error: str | None


class DeployResult(BaseModel):
    """One rollout to one target: each model's outcome, and what was rolled back."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    ok: bool
    deployment_id: int = Field(serialization_alias="deployment")
    target: str
    seconds: float
    error: str | None = None
    rolled_back: list[str] = Field(default_factory=list)
    models: list[ModelResult]
    plan: RolloutPlan = Field(exclude=True)

    @classmethod
    def of(
        cls,
        deployment_id: int,
        target: str,
        plan: RolloutPlan,
        outcomes: Mapping[str, ModelOutcome],
        seconds: float,
        *,
        error: str | None = None,
        rolled_back: Sequence[str] = (),
    ) -> DeployResult:
        return cls(
            ok=error is None,
            deployment_id=deployment_id,
            target=target,
            seconds=round(seconds, 3),
            error=error,
            rolled_back=list(rolled_back),
            models=[o.result() for o in outcomes.values()],
            plan=plan,
        )

    @property
    def outcomes(self) -> dict[str, ModelResult]:
        """Each model's result by Triton name."""
        return {m.model: m for m in self.models}


def _records(outcomes: Mapping[str, ModelOutcome]) -> list[dict[str, Any]]:
    """The history's actions: each model's result as JSON."""
    return [o.result().model_dump(mode="json") for o in outcomes.values()]


def _reached(outcomes: Mapping[str, ModelOutcome]) -> str:
    reached = [f"{o.model} ({o.status})" for o in outcomes.values() if o.status != "pending"]
    return ", ".join(reached) or "no model"


def changed_triton_models(target: Target, compiled: CompilePlan) -> set[str]:
    """Triton names whose files on `target` differ from `compiled`'s."""
    diff = target.diff(compiled.files)
    return {path.split("/", 1)[0] for path in diff.added + diff.changed + diff.removed}


def rollout_plan(
    target: Target, compiled: CompilePlan, dependencies: Mapping[str, Sequence[str]]
) -> RolloutPlan:
    """What a rollout of `compiled` to `target` would do: its files against the target's
    repository, its versions against the server's index."""
    return plan_rollout(
        target.name,
        compiled,
        changed_triton_models(target, compiled),
        target.index(),
        dependencies,
    )


class Rollout:
    """One deployment of a compiled selection to one target.

    `Rollout(log, target, compiled, dependencies, selection=..., actor=...)` deploys
    through an open Target, which the caller closes. `actor` is who asked (the history
    records it); `holder` names this deployer in the target's lease (default: a new
    `default_holder()`).
    """

    def __init__(
        self,
        log: DeploymentLog,
        target: Target,
        compiled: CompilePlan,
        dependencies: Mapping[str, Sequence[str]],
        /,
        *,
        selection: str,
        actor: str,
        holder: str | None = None,
        options: DeployOptions | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.options = options or DeployOptions()
        self.target = target
        self.log = log
        self.compiled: CompilePlan = compiled
        self.dependencies: Mapping[str, Sequence[str]] = dependencies
        self.selection = selection
        self.holder = holder or default_holder()
        self.actor = actor
        self.progress = progress or (lambda _model, _state: None)
        self._lock = threading.Lock()

    # The plan ---------------------------------------------------------------------

    def plan(self) -> RolloutPlan:
        return rollout_plan(self.target, self.compiled, self.dependencies)

    # The run ------------------------------------------------------------------------

    def run(self) -> DeployResult:
        with hold_lease(
            self.log,
            self.target.name,
            holder=self.holder,
            ttl_s=self.options.lease_ttl_s,
            wait_s=self.options.wait_for_lease_s,
        ):
            return self._run_leased()

    def _run_leased(self) -> DeployResult:
        started = time.perf_counter()
        name = self.target.name
        deployment_id = self.log.start(name, self.actor, self.selection, holder=self.holder)
        outcomes: dict[str, ModelOutcome] = {}
        plan: RolloutPlan | None = None
        try:
            previous_files = self.target.published_files()
            plan = self.plan()
            outcomes = {
                a.triton_name: ModelOutcome(a.triton_name, a.action)
                for a in plan.actions
                if a.action != "keep"
            }
            try:
                self._execute(plan, outcomes, previous_files)
            except ModelyardError as exc:
                try:
                    rolled_back = self._roll_back(plan, outcomes, previous_files)
                except RolloutFailed as rollback_error:
                    message = (
                        f"{exc.message}; {rollback_error.message}; reached {_reached(outcomes)}"
                    )
                    self.log.finish(
                        deployment_id,
                        "rollback_failed",
                        _records(outcomes),
                        message,
                    )
                    result = DeployResult.of(
                        deployment_id,
                        name,
                        plan,
                        outcomes,
                        time.perf_counter() - started,
                        error=message,
                    )
                    raise RolloutFailed(
                        f"deployment {deployment_id} to {name} failed: {exc.message}; "
                        f"it had reached {_reached(outcomes)}; the rollback failed too "
                        f"({rollback_error.message}); once the server answers again, run "
                        "`modelyard deploy` again: it loads what is missing",
                        result=result,
                    ) from exc
                self.log.finish(
                    deployment_id,
                    "failed",
                    _records(outcomes),
                    exc.message,
                )
                result = DeployResult.of(
                    deployment_id,
                    name,
                    plan,
                    outcomes,
                    time.perf_counter() - started,
                    error=exc.message,
                    rolled_back=rolled_back,
                )
                raise RolloutFailed(
                    f"deployment {deployment_id} to {name} failed: {exc.message}; rolled "
                    f"back {', '.join(rolled_back) or 'nothing'}; the server serves what it served "
                    "before",
                    result=result,
                ) from exc
            self.log.finish(
                deployment_id,
                "succeeded",
                _records(outcomes),
            )
            return DeployResult.of(
                deployment_id, name, plan, outcomes, time.perf_counter() - started
            )
        except RolloutFailed:
            raise
        except BaseException as exc:  # the server vanished, Ctrl-C...: record it, then re-raise
            message = (
                exc.message if isinstance(exc, ModelyardError) else f"{type(exc).__name__}: {exc}"
            )
            self.log.finish(
                deployment_id,
                "failed",
                _records(outcomes),
                message,
            )
            raise

    def _execute(
        self,
        plan: RolloutPlan,
        outcomes: dict[str, ModelOutcome],
        previous_files: list[RepoFile] | None,
    ) -> None:
        reloads = [a for a in plan.of("reload") if set(a.live_versions).isdisjoint(a.versions)]
        # Phase 1: old and new versions side by side where a model is upgraded.
        overlap = self._overlap_files(reloads, previous_files)
        self.target.publish(overlap if overlap is not None else self.compiled.files)
        self._load_all([a for a in plan.actions if a.action in ("load", "reload")], outcomes)
        if overlap is not None:
            # Phase 2: the new versions answered; retire the old ones.
            self.target.publish(self.compiled.files)
            for action in reloads:
                self.progress(action.triton_name, "retiring old versions")
                self.target.load(action.triton_name, timeout_s=self.options.load_timeout_s)
                self._wait_ready(action.triton_name, action.versions)
        for action in plan.of("unload"):
            self.progress(action.triton_name, "unloading")
            began = time.perf_counter()
            self.target.unload(action.triton_name, timeout_s=self.options.load_timeout_s)
            outcome = outcomes[action.triton_name]
            outcome.status, outcome.seconds = "done", time.perf_counter() - began
            self.progress(action.triton_name, "unloaded")

    def _overlap_files(
        self, reloads: list[ModelAction], previous_files: list[RepoFile] | None
    ) -> list[RepoFile] | None:
        if not reloads or previous_files is None:
            return None
        by_name = {m.triton_name: m for m in self.compiled.models.values()}
        files = [
            f
            for f in self.compiled.files
            if f.path.split("/", 1)[0] not in {a.triton_name for a in reloads}
            or not f.path.endswith("/config.pbtxt")
            or f.path.count("/") > 1
        ]
        for action in reloads:
            model = by_name[action.triton_name]
            config = type(model.config)()
            config.CopyFrom(model.config)
            del config.version_policy.specific.versions[:]
            config.version_policy.specific.versions.extend(
                sorted(set(action.versions) | set(action.live_versions))
            )
            text = to_pbtxt(config).encode()
            files.append(
                RepoFile(
                    f"{action.triton_name}/config.pbtxt",
                    hashlib.sha256(text).hexdigest(),
                    content=text,
                )
            )
            for old in action.live_versions:
                prefix = f"{action.triton_name}/{old}/"
                files += [f for f in previous_files if f.path.startswith(prefix)]
        return files

    def _load_all(self, actions: list[ModelAction], outcomes: dict[str, ModelOutcome]) -> None:
        pending = {a.triton_name: a for a in actions}
        done: set[str] = set()
        failure: list[ModelyardError] = []
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            while pending or running:
                if not failure:
                    for name, action in list(pending.items()):
                        if len(running) >= self.options.concurrency:
                            break
                        if all(
                            dep in done or dep not in pending and dep not in running.values()
                            for dep in action.waits_for
                        ):
                            del pending[name]
                            running[pool.submit(self._load_one, action, outcomes[name])] = name
                elif pending:
                    for name in pending:
                        outcomes[name].status = "skipped"
                    pending.clear()
                if not running:
                    if pending and not failure:  # nothing can start: a dependency never loads
                        raise RolloutFailed(
                            f"cannot order the loads of {', '.join(sorted(pending))}"
                        )
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    error = future.exception()
                    if error is None:
                        done.add(name)
                    elif isinstance(error, ModelyardError):
                        failure.append(error)
                    else:
                        failure.append(TritonError(f"{name}: {type(error).__name__}: {error}"))
        if failure:
            raise failure[0]

    def _load_one(self, action: ModelAction, outcome: ModelOutcome) -> None:
        name = action.triton_name
        began = time.perf_counter()
        outcome.status = "loading"
        self.progress(name, "loading")
        try:
            self.target.load(name, timeout_s=self.options.load_timeout_s)
            self._wait_ready(name, action.versions)
            if self.options.smoke:
                self.progress(name, "smoke test")
                self._smoke(name, action.versions)
        except ModelyardError as exc:
            outcome.status, outcome.error = "failed", exc.message
            outcome.seconds = time.perf_counter() - began
            self.progress(name, "failed")
            raise
        outcome.status, outcome.seconds = "done", time.perf_counter() - began
        self.progress(name, "ready")

    def _wait_ready(self, name: str, versions: Sequence[int]) -> None:
        deadline = time.monotonic() + self.options.ready_timeout_s
        while True:
            if all(self.target.is_ready(name, v) for v in versions):
                return
            if time.monotonic() >= deadline:
                raise TritonError(
                    f"{name}: not READY within {self.options.ready_timeout_s:g} s "
                    f"(versions {', '.join(map(str, versions))})"
                )
            time.sleep(0.1)

    def _smoke(self, name: str, versions: Sequence[int]) -> None:
        """One inference per version: the manifest's example inputs, else zeros."""
        examples = next(
            (m.examples for m in self.compiled.models.values() if m.triton_name == name), {}
        )
        inputs = request_inputs(self.target.model_config(name), examples)
        for version in versions:
            try:
                self.target.infer(
                    name, inputs, version=version, timeout_s=self.options.load_timeout_s
                )
            except TritonError as exc:
                raise TritonError(
                    f"{name}: smoke inference on version {version} failed: {exc.message}"
                ) from exc

    # Rollback -----------------------------------------------------------------------

    def _roll_back(
        self,
        plan: RolloutPlan,
        outcomes: dict[str, ModelOutcome],
        previous_files: list[RepoFile] | None,
    ) -> list[str]:
        touched = [
            a
            for a in plan.actions
            if a.action in ("load", "reload")
            and outcomes[a.triton_name].status in ("done", "failed", "loading")
        ]
        if previous_files is not None:
            self.target.publish(previous_files)
        # A rollback must outlast a load that timed out on our side but still runs in
        # Triton: the server finishes that load before it takes the next one for the model.
        timeout_s = max(self.options.load_timeout_s, ROLLBACK_TIMEOUT_S)
        rolled: list[str] = []
        problems: list[str] = []
        for action in reversed(touched):  # dependents first
            name = action.triton_name
            self.progress(name, "rolling back")
            try:
                if action.live_versions:
                    self.target.load(name, timeout_s=timeout_s)
                    self._wait_ready(name, action.live_versions)
                else:
                    self.target.unload(name, timeout_s=timeout_s)
                outcomes[name].status = "rolled_back"
                rolled.append(name)
            except ModelyardError as exc:
                problems.append(exc.message)
        if problems:
            raise RolloutFailed("the rollback itself failed: " + "; ".join(problems))
        return rolled
