"""Writing a Triton model repository to S3 (`s3://bucket/path`), which Triton reads as
`--model-repository=s3://HOST:PORT/bucket/path`.

S3 has no links and no rename, so the local writer's atomic switch (triton/repository.py)
has no equivalent. What is atomic in S3 is one object: a reader of a key sees the old
object or the new one, never a mix. The guarantees rest on that and on Triton's explicit
model control (a model's files are read only when it is loaded, and only the versions its
`config.pbtxt` names, `version_policy: specific`, which modelyard always writes):

1. A new version folder is uploaded in full before the `config.pbtxt` that names it; a
   model's `config.pbtxt` is its last object written. A load that starts mid-publish reads
   either the old config (which does not name the new version) or the new one (whose
   versions are complete). So no half-written *new* version is ever loaded.
2. modelyard itself loads only after `publish` returned (the rollout runner, holding the
   target's lease), so every load it asks for reads a complete generation.
3. What was published is recorded once complete: the manifest of generation N
   (`<path>.generations/N.json`: each repository path's SHA-256 and each object's) and
   then the pointer `<path>.generations/current` (one PUT: the switch). Until the pointer
   moves, `diff` and `doctor` judge against the previous generation. The manifests live
   beside the repository prefix, not under it, so Triton never lists them as a model.
4. Objects the new generation no longer uses are deleted one publish later (a server
   still serving from them, or a rollback, finds them; Triton copies a model into a
   temporary folder at load, so a loaded model never depends on them).

Not guaranteed: files of a version folder that is *already* published and whose compiled
bytes change (a recompile with another wrapper) are overwritten in place, one object at
a time; a load of that model by someone else during the publish could read a mix. Every
upload is checked against its MD5 (the ETag of a single-part PUT); `verify` re-reads every
object and compares its SHA-256 with the manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelyard.catalog.manifest import artifact_digest, artifact_files
from modelyard.errors import InputError, ObjectStoreError
from modelyard.s3.store import S3Store, S3Url, parse_s3_url
from modelyard.triton.repository import (
    RepoFile,
    RepositoryDiff,
    RepositoryWriteError,
    with_bytecode_guards,
)

CONFIG_FILE = "config.pbtxt"
# The path parts Triton's S3 client reads (its s3:// URL pattern); a model or file named
# otherwise is published but never loads ("failed to poll from model repository").
_TRITON_S3_PART = re.compile(r"[0-9a-zA-Z._-]+")
POINTER = "current"


@dataclass(frozen=True)
class _Object:
    relative: str  # key below the repository prefix
    sha256: str
    md5: str
    content: bytes | None
    source: Path | None

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        assert self.source is not None
        return self.source.read_bytes()


def parse_repository_url(url: str, what: str) -> S3Url:
    """`s3://bucket/path` of a repository: a folder with a non-empty path (the
    generations' manifests live beside it)."""
    location = parse_s3_url(url.rstrip("/") + "/", what)
    if not location.key:
        raise InputError(
            f"{what}: {url!r} is a bucket's root; give s3://BUCKET/PATH (modelyard keeps "
            "PATH.generations/ beside the repository)"
        )
    return location


class S3RepositoryWriter:
    """The repository at `url` (`s3://bucket/path`) in `store`."""

    def __init__(self, store: S3Store, url: S3Url) -> None:
        self.store = store
        self.url = url
        self.generations = S3Url(url.bucket, url.key.rstrip("/") + ".generations/")
        self._snapshots: Path | None = None

    # What is published ---------------------------------------------------------------

    def current_number(self) -> int | None:
        pointer = self.generations.child(POINTER)
        if self.store.exists(pointer) is None:
            return None
        return int(self.store.get_bytes(pointer).decode().strip())

    def manifest(self, number: int | None = None) -> dict[str, dict[str, str]] | None:
        """{"files": path -> SHA-256, "objects": key -> SHA-256, "retired": ...} of the
        generation `number` (default: the current one); None before the first publish."""
        number = self.current_number() if number is None else number
        if number is None:
            return None
        data: dict[str, dict[str, str]] = json.loads(
            self.store.get_bytes(self.generations.child(f"{number:06d}.json"))
        )
        return data

    def current_digests(self) -> dict[str, str]:
        manifest = self.manifest()
        return dict(manifest["files"]) if manifest else {}

    def diff(self, files: Sequence[RepoFile]) -> RepositoryDiff:
        old = self.current_digests()
        new = {f.path: f.digest for f in with_bytecode_guards(files)}
        return RepositoryDiff(
            added=sorted(p for p in new if p not in old),
            changed=sorted(p for p in new if p in old and old[p] != new[p]),
            removed=sorted(p for p in old if p not in new),
        )

    def current_files(self) -> list[RepoFile] | None:
        """The published files, downloaded now into a local snapshot (S3 objects are
        overwritten in place, so a rollback needs its own copy); removed by `close`."""
        manifest = self.manifest()
        if manifest is None:
            return None
        if self._snapshots is None:
            self._snapshots = Path(tempfile.mkdtemp(prefix="modelyard-s3-published-"))
        snapshot = Path(tempfile.mkdtemp(dir=self._snapshots))
        for relative in manifest["objects"]:
            target = snapshot / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.store.get_bytes(self.url.child(relative)))
        return [
            RepoFile(path, digest, source=snapshot / path)
            for path, digest in manifest["files"].items()
        ]

    def close(self) -> None:
        if self._snapshots is not None:
            shutil.rmtree(self._snapshots, ignore_errors=True)
            self._snapshots = None

    # Publishing ----------------------------------------------------------------------

    def write(self, files: Sequence[RepoFile]) -> tuple[RepositoryDiff, int | None]:
        """Make `files` the repository (see the module docstring for the order and what
        it guarantees). Returns the diff and the generation now current.

        Raises:
            RepositoryWriteError: the storage refused or failed; the previous generation
                stays current (objects of new versions may have been uploaded; they are
                referenced by no config and by no manifest).
        """
        unreadable = sorted(
            {f.path for f in files if not all(map(_TRITON_S3_PART.fullmatch, f.path.split("/")))}
        )
        if unreadable:
            raise RepositoryWriteError(
                f"{self.url}: Triton's S3 client reads only names of letters, digits, '.', '_' "
                f"and '-', so it could not load {', '.join(unreadable[:3])}"
                f"{' ...' if len(unreadable) > 3 else ''} (an experiment's ensemble variant "
                "`a~b@v` cannot live on an S3 repository); nothing was written"
            )
        try:
            return self._write(with_bytecode_guards(files))
        except ObjectStoreError as exc:
            raise RepositoryWriteError(
                f"cannot write the repository at {self.url}: {exc.message}; generation "
                f"{self._safe_number()} stays current"
            ) from exc
        except OSError as exc:
            raise RepositoryWriteError(
                f"cannot write the repository at {self.url} ({exc.strerror or exc}); the "
                "previous generation stays current"
            ) from exc

    def _safe_number(self) -> str:
        try:
            number = self.current_number()
        except (ObjectStoreError, ValueError):
            return "(unknown)"
        return "(none yet)" if number is None else str(number)

    def _write(self, files: list[RepoFile]) -> tuple[RepositoryDiff, int | None]:
        number = self.current_number()
        old = self.manifest(number) if number is not None else None
        diff = self.diff(files)
        if diff.is_empty and old is not None:
            return diff, number
        objects = [obj for f in files for obj in _objects_of(f)]
        old_objects = old["objects"] if old else {}
        # Configs last: a model's config.pbtxt names only versions already complete.
        ordered = sorted(
            objects, key=lambda o: (o.relative.endswith("/" + CONFIG_FILE), o.relative)
        )
        for obj in ordered:
            if old_objects.get(obj.relative) != obj.sha256:
                self.store.put_bytes(self.url.child(obj.relative), obj.read())
        new_keys = {o.relative: o.sha256 for o in objects}
        retired = sorted(set(old_objects) - set(new_keys))
        following = (number or 0) + 1
        manifest = {
            "files": {f.path: f.digest for f in files},
            "objects": new_keys,
            "retired": {key: old_objects[key] for key in retired},
        }
        self.store.put_bytes(
            self.generations.child(f"{following:06d}.json"),
            json.dumps(manifest, indent=1, sort_keys=True).encode(),
        )
        self.store.put_bytes(self.generations.child(POINTER), f"{following}\n".encode())
        # What the previous publish retired and this one does not use again.
        stale = [key for key in (old or {}).get("retired", {}) if key not in new_keys]
        self.store.delete([self.url.child(key) for key in stale])
        return diff, following

    # Checking ------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Every object of the current generation re-read and compared with its manifest:
        one line per object missing or changed (empty: all as published)."""
        manifest = self.manifest()
        if manifest is None:
            return []
        errors = []
        for relative, digest in sorted(manifest["objects"].items()):
            location = self.url.child(relative)
            try:
                content = self.store.get_bytes(location)
            except ObjectStoreError as exc:
                if exc.missing:
                    errors.append(f"{location} is missing")
                    continue
                raise
            found = hashlib.sha256(content).hexdigest()
            if found != digest:
                errors.append(
                    f"{location} was changed after it was published (SHA-256 {found}, "
                    f"the generation's manifest says {digest})"
                )
        return errors


def _objects_of(repo_file: RepoFile) -> list[_Object]:
    """The objects one repository file becomes (a folder artifact: one per file)."""
    if repo_file.content is not None:
        return [_object(repo_file.path, repo_file.content, None)]
    assert repo_file.source is not None
    source = repo_file.source
    if source.is_dir():
        if artifact_digest(source) != repo_file.digest:
            raise OSError(f"{source} changed while it was being published")
        return [
            _object(f"{repo_file.path}/{file.relative_to(source).as_posix()}", None, file)
            for file in artifact_files(source)
        ]
    return [_object(repo_file.path, None, source)]


def _object(relative: str, content: bytes | None, source: Path | None) -> _Object:
    data = content if content is not None else (source.read_bytes() if source else b"")
    return _Object(
        relative,
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        content,
        source,
    )
