"""The rollout runner: drives a Target (a Triton server and its repository) along a
RolloutPlan.

- One deployer per target: a lease in the catalog database, renewed every third of its
  time to live while the deployment runs (deploy/lease.py). The lease holder (this
  deployer process) and the actor (who asked) are recorded apart.
- Loads start as soon as the models they wait for are READY (no wave barriers), at
  most `concurrency` at once. Each load is followed by a readiness poll (with a
  timeout) and a smoke inference per version (zeros of the declared shapes).
- No client request ever reaches an unverified version. Triton sends a request that
  names no version to the highest READY version, so a new version loaded beside the old
  one answers clients the moment it is ready. An upgrade therefore first loads the new
  files as a *candidate*: the same files under the name `<model>~candidate` (on an S3
  repository `-candidate-<model>`, see the target's `candidate_name`), which no client
  asks for (`~` and a leading `-` are in no catalog or Triton name modelyard writes). Only
  when the candidate is READY and answered its smoke inference is it unloaded and the
  real model switched to the verified files.
- Upgrades never take a model offline. Triton's docs withdrew the promise that a
  reload keeps the old version serving (TRITON-FACTS.md section 7), so the old and new
  versions are first served side by side (an "overlap" repository whose version_policy
  lists both), and only after the new one answered is the old one retired.
- A model that fails (its load, readiness or smoke) stops only itself and the models
  that need it (skipped): the rest of the plan goes through. Each failed model's folder
  goes back to its previous files and, if it was switched, it is reloaded at its
  previous versions (or unloaded if it was not served before) and checked READY. The
  deployment record and the error say what failed, why, and what was rolled back.
- A failure that is no single model's (the repository cannot be written, the server
  stops answering): the whole target goes back, the repository to its previous content,
  every model this deployment touched reloaded or unloaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.deploy.lease import DEFAULT_LEASE_TTL_S, default_holder, hold_lease
from modelyard.deploy.plan import (
    ModelAction,
    RolloutPlan,
    keeping_others,
    needs_kept_files,
    plan_rollout,
)
from modelyard.errors import ModelyardError, RolloutFailed, TritonError, TritonUnreachable
from modelyard.store.history import DeploymentLog
from modelyard.targets.base import Target
from modelyard.triton import naming
from modelyard.triton.compiler import CompiledModel, CompilePlan, config_file
from modelyard.triton.inputs import request_inputs
from modelyard.triton.repository import RepoFile

Progress = Callable[[str, str], None]

ROLLBACK_TIMEOUT_S = 600.0

CANDIDATE_SUFFIX = naming.CANDIDATE_SUFFIX


def candidate_name(triton_name: str) -> str:
    """Where an upgrade's new files are verified on a folder repository (the target's
    `candidate_name` says it for each target)."""
    return naming.candidate_name(triton_name)


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
    status: str = "pending"  # pending | done | failed | skipped | blocked | rolled_back
    seconds: float | None = None
    error: str | None = None
    # Whether this rollout asked Triton to (re)load the model under its own name: only
    # then does a rollback have anything of the model's to restore.
    touched: bool = False

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
    # What was planned, for the caller in this process (a result read back from JSON, as
    # a remote deploy's is, has none).
    plan: RolloutPlan | None = Field(default=None, exclude=True)

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
    target: Target,
    compiled: CompilePlan,
    dependencies: Mapping[str, Sequence[str]],
    *,
    keep_others: bool = False,
) -> RolloutPlan:
    """What a rollout of `compiled` to `target` would do: its files against the target's
    repository, its versions against the server's index. With `keep_others` (a targeted
    deploy), `compiled` should carry the other models' files (`keeping_others`)."""
    return plan_rollout(
        target.name,
        compiled,
        changed_triton_models(target, compiled),
        target.index(),
        dependencies,
        keep_others=keep_others,
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
        keep_others: bool = False,
    ) -> None:
        self.options = options or DeployOptions()
        # A targeted deploy: models outside `compiled` keep their files and stay loaded.
        self.keep_others = keep_others
        self.target = target
        self.log = log
        self.compiled: CompilePlan = compiled
        self.dependencies: Mapping[str, Sequence[str]] = dependencies
        self.selection = selection
        self.holder = holder or default_holder()
        self.actor = actor
        self.progress = progress or (lambda _model, _state: None)
        self._lock = threading.Lock()
        self._candidates: set[str] = set()  # loaded (or loading) and not yet unloaded

    # The plan ---------------------------------------------------------------------

    def plan(self) -> RolloutPlan:
        return rollout_plan(
            self.target, self.compiled, self.dependencies, keep_others=self.keep_others
        )

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
            # Read under the lease: no other deployer's files are lost.
            if needs_kept_files(self.compiled, self.keep_others):
                self.compiled = keeping_others(
                    self.compiled, previous_files, targeted=self.keep_others
                )
            plan = self.plan()
            outcomes = {
                a.triton_name: ModelOutcome(a.triton_name, a.action)
                for a in plan.actions
                if a.action != "keep"
            }
            try:
                failures = self._execute(plan, outcomes, previous_files)
                failures = {**self._blocked(outcomes), **failures}
                if failures:
                    self._settle(failures, plan, outcomes, previous_files, started, deployment_id)
            except RolloutFailed:
                raise
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
    ) -> dict[str, str]:
        """Run the plan; returns the models that failed (or were skipped because a model
        they need failed) with why. Raises only for what is not one model's failure."""
        upgrades = plan.of("reload")  # served now: clients are using these
        overlaps = [a for a in upgrades if set(a.live_versions).isdisjoint(a.versions)]
        # Phase 1: the candidates to verify, and old and new versions side by side
        # where a model changes version. Nothing changes for clients until a load.
        staged = self._overlap_files(overlaps, previous_files)
        if upgrades:
            staged = (staged or list(self.compiled.files)) + self._candidate_files(upgrades)
        self.target.publish(staged if staged is not None else self.compiled.files)
        failures = self._load_all(
            [a for a in plan.actions if a.action in ("load", "reload")], outcomes
        )
        if failures:
            self._unload_candidates(self.options.load_timeout_s)
            # A failed model's folder goes back to what the server loaded it from.
            self.target.publish(self._files_keeping_previous(set(failures), previous_files))
        elif staged is not None:
            # Phase 2: the new versions answered; drop the candidates, retire the old.
            self.target.publish(self.compiled.files)
        if staged is not None or failures:
            for action in overlaps:
                if action.triton_name in failures:
                    continue
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
        return failures

    def _blocked(self, outcomes: dict[str, ModelOutcome]) -> dict[str, str]:
        """The models the compile left out (their artifacts cannot be used), as failures
        that kept what they served; each gets an outcome saying why."""
        failures: dict[str, str] = {}
        for blocked in self.compiled.blocked.values():
            outcomes[blocked.triton_name] = ModelOutcome(
                blocked.triton_name, "keep", status="blocked", error=blocked.reason
            )
            failures[blocked.triton_name] = f"{blocked.ref}: {blocked.reason}"
        return failures

    def _files_keeping_previous(
        self, failed: set[str], previous_files: list[RepoFile] | None
    ) -> list[RepoFile]:
        """The compiled repository, except that each failed model keeps the files it had."""
        files = [f for f in self.compiled.files if f.path.split("/", 1)[0] not in failed]
        files += [f for f in previous_files or () if f.path.split("/", 1)[0] in failed]
        return files

    def _settle(
        self,
        failures: dict[str, str],
        plan: RolloutPlan,
        outcomes: dict[str, ModelOutcome],
        previous_files: list[RepoFile] | None,
        started: float,
        deployment_id: int,
    ) -> None:
        """The rest of the plan went through; put each failed model back as it was served
        and raise RolloutFailed saying what failed, what was rolled back and what was not."""
        failed = [a for a in plan.actions if a.triton_name in failures]
        name = self.target.name
        done = sorted(n for n, o in outcomes.items() if o.status == "done")
        reasons = "; ".join(f"{model}: {why}" for model, why in failures.items())
        try:
            rolled_back = self._restore(failed, outcomes)
        except RolloutFailed as rollback_error:
            message = f"{reasons}; {rollback_error.message}"
            self.log.finish(deployment_id, "rollback_failed", _records(outcomes), message)
            raise RolloutFailed(
                f"deployment {deployment_id} to {name}: {len(failures)} model(s) failed "
                f"({reasons}); putting them back failed too ({rollback_error.message}); "
                "once the server answers again, run `modelyard deploy` again",
                result=DeployResult.of(
                    deployment_id,
                    name,
                    plan,
                    outcomes,
                    time.perf_counter() - started,
                    error=message,
                ),
            ) from None
        self.log.finish(deployment_id, "failed", _records(outcomes), reasons)
        raise RolloutFailed(
            f"deployment {deployment_id} to {name}: {len(failures)} model(s) failed and "
            f"serve what they served before ({reasons}); rolled back "
            f"{', '.join(rolled_back) or 'nothing (no failed model had been switched)'}; "
            f"deployed {', '.join(done) or 'nothing else'}",
            result=DeployResult.of(
                deployment_id,
                name,
                plan,
                outcomes,
                time.perf_counter() - started,
                error=reasons,
                rolled_back=rolled_back,
            ),
        )

    def _compiled_model(self, triton_name: str) -> CompiledModel:
        return next(m for m in self.compiled.models.values() if m.triton_name == triton_name)

    def _candidate_files(self, upgrades: list[ModelAction]) -> list[RepoFile]:
        """Each upgraded model's new files again, under its candidate name."""
        files: list[RepoFile] = []
        for action in upgrades:
            model = self._compiled_model(action.triton_name)
            candidate = self.target.candidate_name(action.triton_name)
            config = type(model.config)()
            config.CopyFrom(model.config)
            config.name = candidate
            files.append(config_file(candidate, config))
            for file in model.files:
                inside = file.path.split("/", 1)[1]
                if inside != "config.pbtxt":
                    files.append(file.at(f"{candidate}/{inside}"))
        return files

    def _overlap_files(
        self, reloads: list[ModelAction], previous_files: list[RepoFile] | None
    ) -> list[RepoFile] | None:
        if not reloads or previous_files is None:
            return None
        files = [
            f
            for f in self.compiled.files
            if f.path.split("/", 1)[0] not in {a.triton_name for a in reloads}
            or not f.path.endswith("/config.pbtxt")
            or f.path.count("/") > 1
        ]
        for action in reloads:
            model = self._compiled_model(action.triton_name)
            config = type(model.config)()
            config.CopyFrom(model.config)
            del config.version_policy.specific.versions[:]
            config.version_policy.specific.versions.extend(
                sorted(set(action.versions) | set(action.live_versions))
            )
            files.append(config_file(action.triton_name, config))
            for old in action.live_versions:
                prefix = f"{action.triton_name}/{old}/"
                files += [f for f in previous_files if f.path.startswith(prefix)]
        return files

    def _load_all(
        self, actions: list[ModelAction], outcomes: dict[str, ModelOutcome]
    ) -> dict[str, str]:
        """Load in dependency order, at most `concurrency` at once. A model that fails
        stops only the models that need it (skipped); the others go on. Returns each
        failed or skipped model with why."""
        pending = {a.triton_name: a for a in actions}
        done: set[str] = set()
        failures: dict[str, str] = {}
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            while pending or running:
                for name, action in list(pending.items()):
                    blocked = next((d for d in action.waits_for if d in failures), None)
                    if blocked is not None:
                        del pending[name]
                        outcomes[name].status = "skipped"
                        outcomes[name].error = f"needs {blocked}, which failed"
                        failures[name] = outcomes[name].error or ""
                        self.progress(name, "skipped")
                        continue
                    if len(running) >= self.options.concurrency:
                        continue
                    if all(
                        dep in done or dep not in pending and dep not in running.values()
                        for dep in action.waits_for
                    ):
                        del pending[name]
                        running[pool.submit(self._load_one, action, outcomes[name])] = name
                if not running:
                    if pending:  # nothing can start: a dependency never loads
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
                    elif isinstance(error, TritonUnreachable):
                        # The server, not the model: nothing more starts, and the whole
                        # target goes back.
                        for waiting in pending:
                            outcomes[waiting].status = "skipped"
                        raise error
                    elif isinstance(error, ModelyardError):
                        failures[name] = error.message
                    elif isinstance(error, Exception):
                        failures[name] = f"{type(error).__name__}: {error}"
                    else:
                        raise error
        return failures

    def _load_one(self, action: ModelAction, outcome: ModelOutcome) -> None:
        name = action.triton_name
        began = time.perf_counter()
        outcome.status = "loading"
        try:
            if action.live_versions:
                self._verify_candidate(action)
            self.progress(name, "loading")
            outcome.touched = True
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

    def _verify_candidate(self, action: ModelAction) -> None:
        """Load, check and unload the new files under the candidate name; raise if they
        do not load, get READY or answer. The served model is not touched."""
        name = action.triton_name
        candidate = self.target.candidate_name(name)
        self.progress(name, "verifying candidate")
        with self._lock:
            self._candidates.add(candidate)
        self.target.load(candidate, timeout_s=self.options.load_timeout_s)
        self._wait_ready(candidate, action.versions, model=name)
        if self.options.smoke:
            self._smoke(name, action.versions, served_as=candidate)
        self.target.unload(candidate, timeout_s=self.options.load_timeout_s)
        with self._lock:
            self._candidates.discard(candidate)
        self.progress(name, "candidate verified")

    def _wait_ready(self, name: str, versions: Sequence[int], *, model: str | None = None) -> None:
        deadline = time.monotonic() + self.options.ready_timeout_s
        while True:
            if all(self.target.is_ready(name, v) for v in versions):
                return
            if time.monotonic() >= deadline:
                where = f" (checked as {name})" if model else ""
                raise TritonError(
                    f"{model or name}: not READY within {self.options.ready_timeout_s:g} s "
                    f"(versions {', '.join(map(str, versions))}){where}"
                )
            time.sleep(0.1)

    def _smoke(self, name: str, versions: Sequence[int], *, served_as: str | None = None) -> None:
        """One inference per version: the manifest's example inputs, else zeros.
        `served_as`: the name the files are loaded under (a candidate's), if not `name`."""
        examples = self._compiled_model(name).examples
        asked = served_as or name
        inputs = request_inputs(self.target.model_config(asked), examples)
        for version in versions:
            try:
                self.target.infer(
                    asked, inputs, version=version, timeout_s=self.options.load_timeout_s
                )
            except TritonError as exc:
                where = " (as a candidate, before any client could reach it)" if served_as else ""
                raise TritonError(
                    f"{name}: smoke inference on version {version} failed{where}: {exc.message}"
                ) from exc

    # Rollback -----------------------------------------------------------------------

    def _roll_back(
        self,
        plan: RolloutPlan,
        outcomes: dict[str, ModelOutcome],
        previous_files: list[RepoFile] | None,
    ) -> list[str]:
        """Put the whole target back as it was: the previous repository, and every model
        this rollout touched reloaded at its previous versions (or unloaded)."""
        problems = self._unload_candidates(self._rollback_timeout_s())
        if previous_files is not None:
            self.target.publish(previous_files)
        touched = [a for a in plan.actions if a.action in ("load", "reload")]
        try:
            rolled = self._restore(touched, outcomes)
        except RolloutFailed as exc:
            problems.append(exc.message)
        if problems:
            raise RolloutFailed("the rollback itself failed: " + "; ".join(problems))
        return rolled

    def _rollback_timeout_s(self) -> float:
        # A rollback must outlast a load that timed out on our side but still runs in
        # Triton: the server finishes that load before it takes the next one for the model.
        return max(self.options.load_timeout_s, ROLLBACK_TIMEOUT_S)

    def _unload_candidates(self, timeout_s: float) -> list[str]:
        """Unload every candidate still loaded (before its folder goes: never touch a
        loaded model's folder); the problems, if any."""
        with self._lock:
            candidates = sorted(self._candidates)
        problems: list[str] = []
        for candidate in candidates:
            try:
                self.target.unload(candidate, timeout_s=timeout_s)
                with self._lock:
                    self._candidates.discard(candidate)
            except ModelyardError as exc:
                problems.append(exc.message)
        return problems

    def _restore(self, actions: list[ModelAction], outcomes: dict[str, ModelOutcome]) -> list[str]:
        """Reload each of `actions`' models this rollout touched at its previous versions
        (unload it if it was not served before), dependents first, from the repository
        as published now. Returns the models restored."""
        timeout_s = self._rollback_timeout_s()
        rolled: list[str] = []
        problems: list[str] = []
        for action in reversed(actions):  # dependents first
            name = action.triton_name
            if not outcomes[name].touched:
                continue
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
