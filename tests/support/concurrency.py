"""Concurrent-writer scenarios, run by the tests and by `bench/reliability.py`.

Each scenario starts real processes (spawned, so each has its own database connections)
against one catalog URL; they wait for a common start time so that they really collide.
The result counts what a reader finds afterwards, so that a lost or duplicated write
shows up as a number, not as a guess.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from modelyard.catalog.manifest import parse_manifest_text
from modelyard.errors import AliasConflict, Conflict, ModelyardError, VersionConflict
from modelyard.registry import apply_documents
from modelyard.store import CatalogStore
from modelyard.store.history import DeploymentLog
from modelyard.store.rows import leases, model_versions, models

ROOTS_PER_WRITER = 20  # the models another writer's models depend on
START_DELAY_S = 2.0  # time for every spawned process to import modelyard and connect


@dataclass(frozen=True)
class Outcome:
    scenario: str
    writers: int
    operations: int
    expected: int
    found: int
    lost: int
    duplicated: int
    conflicts: int
    errors: list[str]
    seconds: float

    def row(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "writers": self.writers,
            "operations": self.operations,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "conflicts": self.conflicts,
            "errors": len(self.errors),
            "seconds": round(self.seconds, 2),
        }


def _manifest(writer: int, index: int) -> str:
    """Model `index` of `writer`: roots form a chain; every other model depends on the
    previous one of its writer and on a root of the previous writer."""
    dependencies = []
    if index:
        dependencies.append(f"w{writer}/m{index - 1}>=1.0")
    if index >= ROOTS_PER_WRITER and writer:
        dependencies.append(f"w{writer - 1}/m{index % ROOTS_PER_WRITER}>=1.0")
    return (
        f"name: m{index}\nversion: '1.0'\nmodel_type: embedding\nframework: onnx\n"
        f"domain: w{writer}\nowner_team: team{writer}\n"
        f"dependencies: {dependencies!r}\n"
        f"resource_requirements: {{memory_mb: {100 + index}}}\n"
    )


def _wait_for(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def _apply_worker(args: tuple[str, int, int, int, float]) -> tuple[int, list[str]]:
    """Apply `per_writer` models (plus the previous writer's roots they depend on, which
    that writer registers too, with the same content) in batches of `batch`."""
    url, writer, per_writer, batch, start_at = args
    store = CatalogStore.open(url)
    errors: list[str] = []
    created = 0
    texts = [_manifest(writer, i) for i in range(per_writer)]
    borrowed = [_manifest(writer - 1, i) for i in range(ROOTS_PER_WRITER)] if writer else []
    _wait_for(start_at)
    for start in range(0, per_writer, batch):
        # Later batches depend on the borrowed roots, registered with the first one.
        chunk = (borrowed if start == 0 else []) + texts[start : start + batch]
        documents = [doc for text in chunk for doc in parse_manifest_text(text)]
        try:
            created += len(apply_documents(store, documents).created)
        except ModelyardError as error:
            errors.append(f"writer {writer}: {error}")
    store.dispose()
    return created, errors


def _spawn_map(function: object, jobs: list[object]) -> list[object]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(jobs)) as pool:
        return pool.map(function, jobs)  # type: ignore[arg-type]


def _counts(store: CatalogStore) -> Counter[str]:
    with store.reader() as tx:
        rows = tx.connection.execute(
            select(models.c.domain, models.c.name, model_versions.c.version).join(
                models, models.c.id == model_versions.c.model_id
            )
        ).all()
    return Counter(f"{d}/{n}@{v}" for d, n, v in rows)


def concurrent_apply(
    url: str, writers: int = 8, per_writer: int = 500, batch: int = 100
) -> Outcome:
    """`writers` processes register `per_writer` distinct models each, at once."""
    started = time.perf_counter()
    start_at = time.time() + START_DELAY_S
    results = _spawn_map(
        _apply_worker, [(url, w, per_writer, batch, start_at) for w in range(writers)]
    )
    seconds = time.perf_counter() - started - START_DELAY_S
    store = CatalogStore.open(url)
    counts = _counts(store)
    intact = sum(1 for stored in store.versions() if stored.spec.domain.startswith("w"))
    store.dispose()
    expected = {f"w{w}/m{i}@1.0" for w in range(writers) for i in range(per_writer)}
    errors = [e for _, errs in results for e in errs]  # type: ignore[attr-defined]
    assert intact == len(counts)  # every stored spec decodes
    return Outcome(
        "apply distinct models",
        writers,
        writers * per_writer,
        len(expected),
        len(expected & set(counts)),
        len(expected - set(counts)),
        sum(n - 1 for n in counts.values() if n > 1),
        0,
        errors,
        seconds,
    )


def _same_version_worker(args: tuple[str, int, bool, float]) -> str:
    url, writer, same_content, start_at = args
    store = CatalogStore.open(url)
    memory = 512 if same_content else 512 + writer
    text = (
        f"name: shared\nversion: '1.0'\nmodel_type: ranker\nframework: onnx\n"
        f"domain: race\nowner_team: t\nresource_requirements: {{memory_mb: {memory}}}\n"
    )
    documents = parse_manifest_text(text)
    _wait_for(start_at)
    try:
        result = apply_documents(store, documents)
        return "created" if result.created else "unchanged"
    except VersionConflict:
        return "conflict"
    except ModelyardError as error:
        return f"error: {error}"
    finally:
        store.dispose()


def concurrent_same_version(url: str, writers: int = 8, same_content: bool = True) -> Outcome:
    """`writers` processes register one id@version at once, with the same content or not."""
    started = time.perf_counter()
    start_at = time.time() + START_DELAY_S
    results = [
        str(r)
        for r in _spawn_map(
            _same_version_worker, [(url, w, same_content, start_at) for w in range(writers)]
        )
    ]
    seconds = time.perf_counter() - started - START_DELAY_S
    store = CatalogStore.open(url)
    counts = _counts(store)
    store.dispose()
    found = counts.get("race/shared@1.0", 0)
    name = "same version, same content" if same_content else "same version, other content"
    return Outcome(
        name,
        writers,
        writers,
        1,
        min(found, 1),
        1 - min(found, 1),
        max(found - 1, 0),
        results.count("conflict"),
        [r for r in results if r.startswith("error")]
        + ([] if results.count("created") == 1 else [f"created {results}"]),
        seconds,
    )


def _alias_worker(args: tuple[str, int, int, float]) -> tuple[int, int]:
    url, writer, attempts, start_at = args
    store = CatalogStore.open(url)
    chooser = random.Random(writer)
    moved = refused = 0
    _wait_for(start_at)
    for _ in range(attempts):
        [current] = store.aliases("race/aliased")
        target = chooser.choice([v for v in ("1.0", "2.0", "3.0") if v != current.version])
        try:
            store.set_alias("race/aliased", "production", target, expect=current.version)
            moved += 1
        except AliasConflict:
            refused += 1
    store.dispose()
    return moved, refused


def concurrent_alias_moves(url: str, writers: int = 8, attempts: int = 50) -> Outcome:
    """`writers` processes move one alias with compare-and-set. Every successful move adds
    one revision, so revision - 1 == successful moves exactly when no update was lost."""
    store = CatalogStore.open(url)
    documents = [
        doc
        for version in ("1.0", "2.0", "3.0")
        for doc in parse_manifest_text(
            f"name: aliased\nversion: '{version}'\nmodel_type: ranker\nframework: onnx\n"
            "domain: race\nowner_team: t\n"
        )
    ]
    apply_documents(store, documents)
    store.set_alias("race/aliased", "production", "1.0")
    started = time.perf_counter()
    start_at = time.time() + START_DELAY_S
    results = _spawn_map(_alias_worker, [(url, w, attempts, start_at) for w in range(writers)])
    seconds = time.perf_counter() - started - START_DELAY_S
    moved = sum(m for m, _ in results)  # type: ignore[misc]
    refused = sum(r for _, r in results)  # type: ignore[misc]
    [final] = store.aliases("race/aliased")
    store.dispose()
    recorded = final.revision - 1
    return Outcome(
        "alias compare-and-set",
        writers,
        writers * attempts,
        moved,
        recorded,
        max(moved - recorded, 0),
        max(recorded - moved, 0),
        refused,
        [] if moved + refused == writers * attempts else ["attempts unaccounted"],
        seconds,
    )


def _lease_worker(args: tuple[str, int, float]) -> str:
    url, writer, start_at = args
    store = CatalogStore.open(url)
    _wait_for(start_at)
    try:
        DeploymentLog(store).acquire_lease("race-target", f"writer-{writer}", ttl_s=60)
        return "acquired"
    except Conflict:
        return "refused"
    finally:
        store.dispose()


def concurrent_leases(url: str, writers: int = 8) -> Outcome:
    """`writers` processes take one target's deploy lease at the same moment."""
    started = time.perf_counter()
    start_at = time.time() + START_DELAY_S
    results = [
        str(r) for r in _spawn_map(_lease_worker, [(url, w, start_at) for w in range(writers)])
    ]
    seconds = time.perf_counter() - started - START_DELAY_S
    acquired = results.count("acquired")
    return Outcome(
        "deploy lease",
        writers,
        writers,
        1,
        min(acquired, 1),
        1 - min(acquired, 1),
        max(acquired - 1, 0),
        results.count("refused"),
        [],
        seconds,
    )


def _hold_lease_and_hang(url: str, ttl_s: float) -> None:
    store = CatalogStore.open(url)
    DeploymentLog(store).acquire_lease("killed-target", f"pid-{os.getpid()}", ttl_s=ttl_s)
    time.sleep(3600)


def killed_lease_holder(url: str, ttl_s: float = 2.0) -> tuple[str, str]:
    """A process takes a lease and is killed (SIGKILL, no clean-up). Returns what a
    deployer gets at once, and after the lease's time ran out."""
    context = multiprocessing.get_context("spawn")
    holder = context.Process(target=_hold_lease_and_hang, args=(url, ttl_s))
    holder.start()
    store = CatalogStore.open(url)
    log = DeploymentLog(store)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if _lease_holder(store) is not None:
                break
            time.sleep(0.05)
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
        try:
            log.acquire_lease("killed-target", "next-deployer", ttl_s=60)
            at_once = "acquired"
        except Conflict as error:
            at_once = str(error)
        time.sleep(ttl_s + 0.5)
        log.acquire_lease("killed-target", "next-deployer", ttl_s=60)
        return at_once, "acquired"
    finally:
        store.dispose()


def _lease_holder(store: CatalogStore) -> str | None:
    with store.reader() as tx:
        row = tx.connection.execute(
            select(leases.c.holder).where(leases.c.target == "killed-target")
        ).first()
    return None if row is None else str(row[0])


TEAM_MANIFEST = """name: r{index}
version: "{version}"
model_type: regression
framework: onnx
domain: shared
owner_team: {team}
"""


def two_teams_register(root: Path, pairs: int) -> dict[tuple[int, str], str]:
    """`pairs` new models `shared/r{i}`, each registered at the same moment by `team_a`
    (version 1.0) and `team_b` (1.1), each on a workspace handle of its own, as two API
    requests are: (index, team) -> "registered" or the refusal's class name."""
    import threading

    from modelyard import Forbidden, Workspace

    barrier = threading.Barrier(2 * pairs)
    outcomes: dict[tuple[int, str], str] = {}

    def register(index: int, team: str) -> None:
        workspace = Workspace.open(root)
        try:
            barrier.wait()
            version = "1.0" if team == "team_a" else "1.1"
            text = TEAM_MANIFEST.format(index=index, version=version, team=team)
            workspace.apply_text(text, owner_team=team)
            outcomes[index, team] = "registered"
        except (Forbidden, Conflict) as exc:
            outcomes[index, team] = type(exc).__name__
        finally:
            workspace.close()

    threads = [
        threading.Thread(target=register, args=(i, team))
        for i in range(pairs)
        for team in ("team_a", "team_b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def owners_by_model(root: Path) -> dict[str, set[str]]:
    """Every model's owner teams across its versions (one, unless teams crossed)."""
    from modelyard import Workspace

    workspace = Workspace.open(root)
    try:
        owners: dict[str, set[str]] = {}
        for stored in workspace.store.versions():
            owners.setdefault(stored.spec.id, set()).add(stored.spec.owner_team)
        return owners
    finally:
        workspace.close()


@dataclass(frozen=True)
class TenancyDeploys:
    """Two teams' targeted deploys run at once against one real Triton."""

    models_per_team: int
    deployed: dict[str, str]  # team -> "succeeded" or the error's class name
    served: dict[str, list[int]]  # Triton name -> READY versions afterwards
    touched_by: dict[str, list[str]]  # team -> the models its deploy changed
    requests: int
    failed_requests: int
    seconds: float

    @property
    def cross_team_effects(self) -> int:
        """Models one team's deploy changed that the other team owns."""
        return sum(
            not model.startswith(f"{team}.") for team, ms in self.touched_by.items() for model in ms
        )

    def row(self) -> dict[str, object]:
        return {
            "models_per_team": self.models_per_team,
            "deploys": ", ".join(f"{t}: {d}" for t, d in sorted(self.deployed.items())),
            "cross_team_effects": self.cross_team_effects,
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "seconds": round(self.seconds, 2),
        }


def two_teams_deploy(root: Path, target: str, models_per_team: int = 2) -> TenancyDeploys:
    """Teams `team_a` and `team_b` (domains of the same names) each have
    `models_per_team` python models served at 1.0 on `target` (a real Triton, which
    `root`'s modelyard.yaml names). Both register 2.0 of each and deploy their own models
    at the same moment, as two maintainers' API jobs do (`team_deploy_refs`, targeted,
    waiting for the lease), while a client keeps asking every model. Each deploy may
    change its own team's models only."""
    import threading

    from modelyard import Workspace
    from modelyard.deploy.runner import DeployOptions
    from modelyard.triton.client import TritonClient
    from tests.support.rollout import GOOD_MODEL

    teams = ("team_a", "team_b")
    options = DeployOptions(concurrency=4, load_timeout_s=120, wait_for_lease_s=300)

    def manifests(version: str) -> list[Path]:
        paths = []
        for team in teams:
            for index in range(models_per_team):
                folder = root.parent / "tenancy-models" / f"{team}-m{index}-{version}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "model.py").write_text(GOOD_MODEL)
                (folder / "manifest.yaml").write_text(
                    f'name: m{index}\nversion: "{version}"\nmodel_type: regression\n'
                    f"framework: python\ndomain: {team}\nowner_team: {team}\n"
                    "artifact: model.py\ninputs: [{name: X, data_type: FP32, dims: [1]}]\n"
                    "outputs: [{name: Y, data_type: FP32, dims: [1]}]\n"
                    "resource_requirements: {max_batch_size: 0, gpu_memory_mb: 0}\n"
                )
                paths.append(folder / "manifest.yaml")
        return paths

    admin = Workspace.open(root)
    try:
        admin.apply(manifests("1.0"))
        admin.deploy(target, options=options)
        admin.apply(manifests("2.0"))
        url = admin.config.targets[target].url
    finally:
        admin.close()
    names = [f"{team}.m{index}" for team in teams for index in range(models_per_team)]
    client = TritonClient(url)
    stop = threading.Event()
    counts = {"requests": 0, "failed": 0}

    def ask() -> None:
        while not stop.is_set():
            for name in names:
                counts["requests"] += 1
                try:
                    client.infer(name, {"X": ("FP32", [1], [0.0])})
                except Exception:  # any failed request is what this counts
                    counts["failed"] += 1

    barrier = threading.Barrier(len(teams))
    deployed: dict[str, str] = {}
    touched: dict[str, list[str]] = {}

    def deploy(team: str) -> None:
        workspace = Workspace.open(root)
        try:
            refs = workspace.team_deploy_refs(target, team, check=False)
            barrier.wait()
            result = workspace.deploy(
                target, refs=refs, options=options, actor=f"token:{team}-maintainer"
            )
            deployed[team] = "succeeded" if result.ok else "failed"
            touched[team] = [m.model for m in result.models if m.action != "keep"]
        except ModelyardError as exc:
            deployed[team] = type(exc).__name__
        finally:
            workspace.close()

    asker = threading.Thread(target=ask)
    asker.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=deploy, args=(team,)) for team in teams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    stop.set()
    asker.join()
    served: dict[str, list[int]] = {}
    for entry in client.index():
        if entry.get("state") == "READY":
            served.setdefault(str(entry["name"]), []).append(int(entry["version"]))
    client.close()
    return TenancyDeploys(
        models_per_team,
        deployed,
        {name: sorted(versions) for name, versions in served.items()},
        touched,
        counts["requests"],
        counts["failed"],
        seconds,
    )
