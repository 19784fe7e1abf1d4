"""Object-storage use cases: `modelyard push` uploads local artifacts content-addressed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.manifest import ArtifactUnreadable, artifact_digest, artifact_files
from modelyard.errors import InputError
from modelyard.ops.context import Context
from modelyard.s3.store import S3Store, S3Url, parse_s3_url

CONTENT_FOLDER = "sha256"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


class PushedArtifact(BaseModel):
    """One local artifact and the s3:// URL to write as its `artifact:`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    url: str
    objects: int
    uploaded: int  # objects written now (0: the storage held them already)


class PushResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str
    artifacts: list[PushedArtifact]


def push(ctx: Context, paths: Sequence[str | Path], to: str) -> PushResult:
    """Upload each file or folder of `paths` to `<to>/sha256/<digest>/<name>` (a folder:
    its files under `.../<name>/`) and return the URL to name in a manifest.

    Content-addressed: a URL's bytes never change, so pushing the same artifact again
    uploads nothing, and a manifest pinning it stays valid. Each upload is checked
    against its MD5 (the ETag). Nothing the user wrote is rewritten.

    Raises:
        InputError: a path that is no readable file or folder, or a malformed URL;
            checked for every path before anything is uploaded.
        ObjectStoreError: the storage is unreachable or refuses the credentials.
    """
    prefix = parse_s3_url(to if to.endswith("/") else to + "/", "--to")
    planned: list[tuple[Path, str, S3Url, list[tuple[Path, S3Url]]]] = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        if not path.exists():
            raise InputError(f"{given}: no file or folder there; nothing was uploaded")
        try:
            digest = artifact_digest(path)
            files = artifact_files(path)
        except ArtifactUnreadable as exc:
            raise InputError(f"{given}: {exc}; nothing was uploaded") from None
        base = prefix.child(f"{CONTENT_FOLDER}/{digest}/{path.name}")
        if path.is_dir():
            folder = S3Url(base.bucket, base.key + "/")
            objects = [(f, folder.child(f.relative_to(path).as_posix())) for f in files]
            planned.append((path, digest, folder, objects))
        else:
            planned.append((path, digest, base, [(path, base)]))
    store = S3Store(ctx.config.s3)
    pushed = []
    for path, digest, url, objects in planned:
        uploaded = 0
        for file, target in objects:
            found = store.exists(target)
            # Same key, same bytes: nothing to do; other bytes under a content address were
            # put there by hand and are replaced by the right ones.
            if found is None or found.etag != _md5(file):
                store.put_file(target, file)
                uploaded += 1
        pushed.append(
            PushedArtifact(
                path=str(path), sha256=digest, url=str(url), objects=len(objects), uploaded=uploaded
            )
        )
    return PushResult(to=str(prefix), artifacts=pushed)
