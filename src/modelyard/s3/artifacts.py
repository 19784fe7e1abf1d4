"""`artifact: s3://bucket/key` (a file) or `s3://bucket/prefix/` (a folder).

At registration the object(s) are downloaded and hashed by the same rules as a local file
or folder (catalog/manifest.py `artifact_digest`: a folder's relative names and contents,
sorted), and the SHA-256 is pinned. The copy is kept in a cache by digest
(`.modelyard/cache/artifacts/<sha256>/artifact`, a file or folder: the name is no part of
the digest; beside it the ETags it was read at, by URL).

At compile the object is looked up again: while its ETags are those the cached copy was
read at, the cached copy (re-hashed) is used; otherwise it is downloaded and hashed anew,
and bytes that are not the pinned ones are refused, naming both digests. The storage is
asked every time, so an object replaced behind modelyard's back is found even when the
old bytes are cached; what is compiled is only ever the pinned bytes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from modelyard.catalog.manifest import ArtifactUnreadable, artifact_digest
from modelyard.config import WorkspaceConfig
from modelyard.errors import InputError, ObjectStoreError
from modelyard.s3.store import S3Store, S3Url, parse_s3_url

ARTIFACT_CACHE = Path(".modelyard") / "cache" / "artifacts"
_ETAGS_SUFFIX = ".etags.json"
_LOCAL_NAME = "artifact"


class ArtifactChanged(ArtifactUnreadable):
    """The stored object is not the one whose digest was pinned at registration."""


class S3Artifacts:
    """Reads `s3://` artifacts through `store`, keeping verified copies in `cache_dir`."""

    def __init__(self, store: S3Store, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir

    def resolve(self, url: str) -> tuple[str, Path]:
        """The SHA-256 of the artifact at `url` and a local copy of it (registration).

        Raises:
            ArtifactUnreadable: a malformed URL, or storage that cannot be read (the
                message names the URL, the reason and the fix).
        """
        location = self._parse(url)
        try:
            digest, path, _ = self._download(location)
        except (ObjectStoreError, OSError) as exc:
            raise ArtifactUnreadable(_reason(exc)) from None
        return digest, path

    def fetch(self, url: str, pinned: str) -> Path:
        """A local copy of the artifact at `url` holding exactly the bytes pinned (compile).

        Raises:
            ArtifactChanged: the stored bytes have another SHA-256 (both are named).
            ArtifactUnreadable: the storage cannot be read.
        """
        location = self._parse(url)
        try:
            current = {_relative(location, o.key): o.etag for o in self.store.objects(location)}
            cached = self._cached(pinned)
            unchanged = cached is not None and self._etags(pinned).get(str(location)) == current
            if unchanged and cached is not None and artifact_digest(cached) == pinned:
                return cached
            digest, path, _ = self._download(location)
        except (ObjectStoreError, OSError) as exc:
            raise ArtifactUnreadable(_reason(exc)) from None
        if digest != pinned:
            raise ArtifactChanged(
                f"artifact {url} changed after registration: it now has SHA-256 {digest}, "
                f"registration pinned {pinned}; a registered version is immutable: "
                "restore the object or register a new version"
            )
        return path

    def _parse(self, url: str) -> S3Url:
        try:
            return parse_s3_url(url, "artifact")
        except InputError as exc:
            raise ArtifactUnreadable(exc.message.removeprefix("artifact: ")) from None

    def _cached(self, digest: str) -> Path | None:
        path = self.cache_dir / digest / _LOCAL_NAME
        return path if path.exists() else None

    def _etags(self, digest: str) -> dict[str, dict[str, str]]:
        """URL -> (relative key -> ETag) each URL was read at into this entry."""
        sidecar = self.cache_dir / f"{digest}{_ETAGS_SUFFIX}"
        try:
            data: dict[str, dict[str, str]] = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _download(self, location: S3Url) -> tuple[str, Path, dict[str, str]]:
        """Download into a staging folder, hash, then move into the cache under the digest
        (one rename: a reader never sees a half-copied entry)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".partial-"))
        try:
            local = staging / _LOCAL_NAME
            etags = self.store.download(location, local)
            if location.is_folder:
                local.mkdir(exist_ok=True)
            digest = artifact_digest(local)
            entry = self.cache_dir / digest
            if not (entry / local.name).exists():
                shutil.rmtree(entry, ignore_errors=True)
                staging.rename(entry)
            known = {**self._etags(digest), str(location): etags}
            sidecar = self.cache_dir / f"{digest}{_ETAGS_SUFFIX}"
            sidecar.write_text(json.dumps(known, sort_keys=True))
            return digest, entry / local.name, etags
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _relative(location: S3Url, key: str) -> str:
    return key[len(location.key) :] if location.is_folder else ""


def _reason(exc: Exception) -> str:
    if isinstance(exc, ObjectStoreError):
        return exc.message
    if isinstance(exc, OSError):
        return f"cannot write the artifact cache ({exc.strerror or exc}); check the disk"
    return str(exc)


def remote_artifacts(ctx: _HasWorkspace) -> S3Artifacts:
    """The `s3://` artifacts of a workspace: its `s3:` endpoint, its cache folder (without
    a workspace folder, the user's cache)."""
    root = ctx.root if ctx.root is not None else Path.home() / ".cache" / "modelyard"
    cache = root / ARTIFACT_CACHE if ctx.root is not None else root / "artifacts"
    return S3Artifacts(S3Store(ctx.config.s3), cache)


class _HasWorkspace(Protocol):
    @property
    def root(self) -> Path | None: ...

    @property
    def config(self) -> WorkspaceConfig: ...
