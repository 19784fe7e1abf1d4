"""Writing a Triton model repository atomically.

`DIR` is a symbolic link to one complete generation, `.DIR.generations/NNNNNN/`. A
compile builds the next generation beside it (unchanged files hard-linked, not
rewritten), then swaps the link with one `rename`, which POSIX makes atomic: a reader
of `DIR/<model>/config.pbtxt` sees the old repository or the new one, never a mix or a
gap. If nothing changed, no generation is made. The last few generations are kept, so
a server still reading an older one (and a rollback) finds its files.

Every folder that holds a `.py` file also gets an empty *file* named `__pycache__` (a
bytecode guard, recorded in the manifest like any file): Triton's python backend imports
`model.py` and would otherwise write `__pycache__/*.pyc` into the repository. Its stub
embeds an isolated interpreter, which ignores PYTHONDONTWRITEBYTECODE and
PYTHONPYCACHEPREFIX, and read-only folders do not stop a Triton running as root (the NGC
container's default). CPython cannot make the cache folder where a file has its name and
silently skips the write (importlib's `SourceFileLoader.set_data`), whoever runs it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelyard.catalog.manifest import artifact_digest

KEEP_GENERATIONS = 3
_NAME_MAX_BYTES = 255  # NAME_MAX on Linux
_MANIFEST_SUFFIX = ".json"
BYTECODE_GUARD = "__pycache__"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class RepoFile:
    """One file (or artifact folder) of a repository: bytes or a source path, with its digest.

    A generated file (a model's config) may instead come with `render`, which makes its
    bytes when they are first read, and a `digest` known without them (from the digest
    cache, triton/config_digests.py): validating 10,000 models reads no config's text, and
    planning an unchanged catalog renders none.
    """

    __slots__ = ("path", "source", "_content", "_digest", "_render")

    def __init__(
        self,
        path: str,
        digest: str | None = None,
        content: bytes | None = None,
        source: Path | None = None,
        *,
        render: Callable[[], bytes] | None = None,
    ) -> None:
        if digest is None and content is None and render is None:
            raise ValueError(f"{path}: a file needs a digest, its bytes or a way to make them")
        self.path = path
        self.source = source
        self._content = content
        self._digest = digest
        self._render = render

    @property
    def content(self) -> bytes | None:
        if self._content is None and self._render is not None:
            self._content = self._render()
            if self._digest is not None:
                # A digest known beforehand (a cache) gives way to the bytes themselves.
                self._digest = hashlib.sha256(self._content).hexdigest()
        return self._content

    @property
    def digest(self) -> str:
        if self._digest is None:
            content = self.content
            assert content is not None  # __init__ refuses a file with neither
            self._digest = hashlib.sha256(content).hexdigest()
        return self._digest

    def at(self, path: str) -> RepoFile:
        """The same file at another path (a model's folder under another name)."""
        moved = RepoFile(path, self._digest, self._content, self.source, render=self._render)
        return moved

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RepoFile):
            return NotImplemented
        return (self.path, self.digest, self.source) == (other.path, other.digest, other.source)

    def __hash__(self) -> int:
        return hash((self.path, self.digest))

    def __repr__(self) -> str:
        return f"RepoFile({self.path!r}, {self._digest!r}, source={self.source!r})"


class RepositoryDiff(BaseModel):
    """Files a write adds, changes and removes, by path inside the repository."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    added: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def with_bytecode_guards(files: Sequence[RepoFile]) -> list[RepoFile]:
    """`files` and, in each folder holding a `.py` file, an empty `__pycache__` file (once)."""
    paths = {f.path for f in files}
    guards = sorted(
        {
            f"{folder}/{BYTECODE_GUARD}"
            for folder, _, name in (f.path.rpartition("/") for f in files)
            if folder and name.endswith(".py")
        }
        - paths
    )
    return [*files, *(RepoFile(path, _EMPTY_SHA256, content=b"") for path in guards)]


class RepositoryWriteError(OSError):
    """The repository could not be written; the previous one is untouched."""


class RepositoryWriter:
    def __init__(self, out: Path) -> None:
        self.out = out.absolute()
        self.generations = self.out.parent / f".{self.out.name}.generations"

    def current(self) -> Path | None:
        """The generation `out` points to, or None before the first compile."""
        if self.out.is_symlink():
            return (self.out.parent / os.readlink(self.out)).resolve()
        return None

    def current_digests(self) -> dict[str, str]:
        current = self.current()
        if current is None:
            return {}
        manifest = current.with_name(current.name + _MANIFEST_SUFFIX)
        if not manifest.is_file():
            return {}
        data: dict[str, str] = json.loads(manifest.read_text())
        return data

    def current_files(self) -> list[RepoFile] | None:
        """The files published now, readable until the next write but one (the writer
        keeps the last few generations); None before the first compile."""
        generation = self.current()
        if generation is None:
            return None
        return [
            RepoFile(path, digest, source=generation / path)
            for path, digest in self.current_digests().items()
        ]

    def diff(self, files: Sequence[RepoFile]) -> RepositoryDiff:
        """What writing `files` would change: against the files modelyard published (the
        manifest), never the folder's other content, so files it did not write (see
        `strays`) are in no diff."""
        self._check_out_path(remove_empty=False)
        old = self.current_digests()
        new = {f.path: f.digest for f in with_bytecode_guards(files)}
        return RepositoryDiff(
            added=sorted(p for p in new if p not in old),
            changed=sorted(p for p in new if p in old and old[p] != new[p]),
            removed=sorted(p for p in old if p not in new),
        )

    def write(self, files: Sequence[RepoFile]) -> tuple[RepositoryDiff, Path | None]:
        """Make `files` the repository. Returns the diff and the generation now served.

        Concurrent writers to one repository take turns (an exclusive lock), so two
        compiles never build into, or publish, each other's half-made generation.
        """
        try:
            # Refused before anything is created, not even the generations folder beside it.
            self._check_out_path(remove_empty=False)
            self.generations.mkdir(parents=True, exist_ok=True)
            with self._locked():
                return self._write_locked(files)
        except RepositoryWriteError:
            raise
        except OSError as exc:
            raise RepositoryWriteError(
                f"cannot write the repository at {self.out} ({exc.strerror or exc}); the previous "
                "repository is unchanged"
            ) from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.generations / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_locked(self, files: Sequence[RepoFile]) -> tuple[RepositoryDiff, Path | None]:
        self._check_out_path()
        files = with_bytecode_guards(files)
        diff = self.diff(files)
        current = self.current()
        if diff.is_empty and current is not None:
            return diff, current
        old_digests = self.current_digests()
        final = self.generations / f"{self._next_number():06d}"
        staging = Path(tempfile.mkdtemp(dir=self.generations, prefix=f"{final.name}.partial-"))
        manifest = final.with_name(final.name + _MANIFEST_SUFFIX)
        published = False
        try:
            for repo_file in files:
                self._place(repo_file, staging, current, old_digests)
            staging.chmod(0o755)  # mkdtemp makes it private; Triton may run as another user
            os.rename(staging, final)
            manifest.write_text(
                json.dumps({f.path: f.digest for f in files}, indent=1, sort_keys=True)
            )
            link = self.out.parent / f".{self.out.name}.link-{os.getpid()}"
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(os.path.relpath(final, self.out.parent), link)
            os.replace(link, self.out)  # the atomic switch
            published = True
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if not published:
                shutil.rmtree(final, ignore_errors=True)
                manifest.unlink(missing_ok=True)
            raise RepositoryWriteError(
                f"cannot write the repository at {self.out} ({exc.strerror or exc}); the previous "
                "repository is unchanged"
            ) from exc
        self._prune(keep=final)
        return diff, final

    def verify(self) -> tuple[list[str], list[str]]:
        """Check the served generation against its manifest: (errors, warnings).

        Errors: the link is broken, a file is missing or its bytes changed (a file added
        inside a published folder changes that folder). Warnings: a writer that died left a
        partial generation (the next compile removes it). Files beside the published ones
        are not checked here: `strays` names them.
        """
        errors: list[str] = []
        warnings = (
            [
                f"{p} is a generation a writer left half-made; the next compile removes it"
                for p in sorted(self.generations.glob("*.partial-*"))
            ]
            if self.generations.is_dir()
            else []
        )
        if not self.out.is_symlink():
            if self.out.exists():
                errors.append(f"{self.out} is not a link written by modelyard")
            else:
                errors.append(f"{self.out} does not exist: nothing was compiled there yet")
            return errors, warnings
        current = self.current()
        if current is None or not current.is_dir():
            errors.append(f"{self.out} points at {os.readlink(self.out)}, which is gone")
            return errors, warnings
        manifest = current.with_name(current.name + _MANIFEST_SUFFIX)
        if not manifest.is_file():
            errors.append(f"generation {current} has no manifest ({manifest.name})")
            return errors, warnings
        for path, digest in sorted(self.current_digests().items()):
            file = current / path
            if not file.exists():
                errors.append(f"{path} is missing from {current}")
            elif artifact_digest(file) != digest:
                errors.append(f"{path} in {current} was changed after it was written")
        return errors, warnings

    def strays(self) -> list[str]:
        """What the served generation holds that modelyard did not publish (not in its
        manifest), by path inside the repository, a folder once with a trailing `/`:
        bytecode a server wrote (`m/1/__pycache__/`), files copied in by hand."""
        current = self.current()
        if current is None or not current.is_dir():
            return []
        published = set(self.current_digests())
        folders = {
            "/".join(parts[:depth])
            for parts in (p.split("/") for p in published)
            for depth in range(1, len(parts))
        }
        found: list[str] = []
        for folder, dirs, names in os.walk(current):
            relative = Path(folder).relative_to(current).as_posix()
            prefix = "" if relative == "." else relative + "/"
            for name in sorted(dirs):
                path = prefix + name
                if path not in published and path not in folders:
                    found.append(path + "/")
            # Into the folders that hold published files only (a published folder is
            # checked whole by `verify`).
            dirs[:] = sorted(d for d in dirs if prefix + d in folders)
            found += [prefix + n for n in sorted(names) if prefix + n not in published]
        return sorted(found)

    def check_out(self) -> None:
        """RepositoryWriteError unless `out` may become (or already is) this repository;
        creates nothing."""
        self._check_out_path(remove_empty=False)

    def _check_out_path(self, remove_empty: bool = True) -> None:
        if not self.out.name or len(self.generations.name.encode()) > _NAME_MAX_BYTES:
            raise RepositoryWriteError(
                f"{self.out}: the repository needs a folder of its own with a name of at most "
                f"{_NAME_MAX_BYTES - len('..generations')} bytes (modelyard keeps "
                f".NAME.generations beside it); choose another --out"
            )
        if self.out.is_symlink():
            target = os.readlink(self.out)
            if (self.out.parent / target).resolve().parent != self.generations.resolve():
                raise RepositoryWriteError(
                    f"{self.out} is a link to {target} that modelyard did not make; choose "
                    "another --out or remove the link (modelyard keeps DIR as a link to "
                    f"{self.generations.name}/NNNNNN)"
                )
            return
        if self.out.exists():
            if self.out.is_dir() and not any(self.out.iterdir()):
                if remove_empty:
                    self.out.rmdir()
                return
            raise RepositoryWriteError(
                f"{self.out} exists and was not written by modelyard; choose another --out or "
                "move it away (modelyard keeps DIR as a link to complete generations)"
            )

    def _next_number(self) -> int:
        numbers = [
            int(p.name.split(".")[0])
            for p in self.generations.iterdir()
            if p.name.split(".")[0].isdigit()
        ]
        return max(numbers, default=0) + 1

    @staticmethod
    def _place(
        repo_file: RepoFile, root: Path, current: Path | None, old_digests: dict[str, str]
    ) -> None:
        target = root / repo_file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        unchanged = (
            current is not None
            and old_digests.get(repo_file.path) == repo_file.digest
            and (current / repo_file.path).exists()
        )
        if unchanged:
            assert current is not None
            _link_tree(current / repo_file.path, target)
        elif repo_file.content is not None:
            target.write_bytes(repo_file.content)
        elif repo_file.source is not None and repo_file.source.is_dir():
            # Links stay links (never followed out of the artifact); modes are kept.
            shutil.copytree(repo_file.source, target, symlinks=True)
        elif repo_file.source is not None:
            shutil.copy2(repo_file.source, target)
        else:  # pragma: no cover - RepoFile always has one of them
            raise ValueError(f"{repo_file.path}: nothing to write")

    def _prune(self, keep: Path) -> None:
        for stale in self.generations.glob("*.partial-*"):  # left by a writer that died
            shutil.rmtree(stale, ignore_errors=True)
        numbered = sorted(p for p in self.generations.iterdir() if p.is_dir() and p.name.isdigit())
        for old in numbered[:-KEEP_GENERATIONS]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)
                old.with_name(old.name + _MANIFEST_SUFFIX).unlink(missing_ok=True)


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link a file (or every file of a folder): unchanged content is not rewritten."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(source), str(target))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
