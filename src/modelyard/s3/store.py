"""S3-compatible object storage through boto3: `s3://bucket/key` URLs, listing with
ETags, downloads and verified uploads.

Every failure of the storage (unreachable endpoint, refused credentials, missing bucket
or object) becomes one ObjectStoreError naming the URL, the reason and the fix; boto3's
own exceptions never reach a caller. Credentials come from boto3's chain (the standard
AWS environment variables, ~/.aws); modelyard never stores them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.config import S3Config
from modelyard.errors import InputError, ObjectStoreError

SCHEME = "s3://"
# What Triton's S3 client accepts (measured: an upper-case or `_` bucket is refused), and
# S3's own length rule; checked before any request, so a bad name changes nothing.
BUCKET_PATTERN = re.compile(r"[0-9a-z][0-9a-z.-]{1,61}[0-9a-z]")
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 30


def is_s3_url(value: str) -> bool:
    return value.startswith(SCHEME)


@dataclass(frozen=True)
class S3Url:
    """`s3://bucket/key`; a key that is empty or ends in `/` names a folder (a prefix)."""

    bucket: str
    key: str

    @property
    def is_folder(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    @property
    def name(self) -> str:
        """The last part of the key (a file's name, a folder's name)."""
        return self.key.rstrip("/").rpartition("/")[2]

    def child(self, relative: str) -> S3Url:
        base = self.key if self.is_folder or not self.key else self.key + "/"
        return S3Url(self.bucket, base + relative)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"


def parse_s3_url(value: str, what: str = "the S3 URL") -> S3Url:
    """`value` as an S3Url; InputError naming `what` and the rule broken."""
    if not is_s3_url(value):
        raise InputError(f"{what}: expected s3://BUCKET/KEY, got {value!r}")
    bucket, _, key = value[len(SCHEME) :].partition("/")
    if not BUCKET_PATTERN.fullmatch(bucket) or ".." in bucket:
        raise InputError(
            f"{what}: the bucket name {bucket!r} in {value!r} is not one Triton and S3 accept "
            "(3-63 characters of lower-case letters, digits, '.' and '-', starting and ending "
            "with a letter or digit); rename the bucket"
        )
    if "//" in key or key.startswith("/") or any(p in {".", ".."} for p in key.split("/")):
        raise InputError(
            f"{what}: the key {key!r} in {value!r} has an empty, '.' or '..' part; "
            "write it as a/b/c (a trailing '/' names a folder)"
        )
    return S3Url(bucket, key)


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    size: int


class S3Store:
    """One S3-compatible endpoint (`s3:` in modelyard.yaml); the boto3 client is made on
    first use, so a workspace without S3 artifacts never imports boto3."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._client: Any = None

    @property
    def where(self) -> str:
        return self.config.endpoint_url or "AWS S3"

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise InputError(
                    "s3:// artifacts and repositories need boto3: pip install 'modelyard[s3]'"
                ) from None
            # A session of its own: boto3's default one keeps the first credentials it
            # found for the whole process.
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.config.endpoint_url,
                region_name=self.config.region,
                config=Config(
                    connect_timeout=_CONNECT_TIMEOUT_S,
                    read_timeout=_READ_TIMEOUT_S,
                    retries={"max_attempts": 2, "mode": "standard"},
                    # Path-style (`host/bucket/key`), as Triton and S3-compatible servers use.
                    s3={"addressing_style": "path"},
                ),
            )
        return self._client

    def objects(self, url: S3Url) -> list[StoredObject]:
        """The object `url` names (a file), or every object under it (a folder), sorted by
        key; ObjectStoreError if there is none."""
        with self._errors(url):
            if not url.is_folder:
                head = self.client.head_object(Bucket=url.bucket, Key=url.key)
                return [StoredObject(url.key, _etag(head), int(head["ContentLength"]))]
            found: list[StoredObject] = []
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=url.bucket, Prefix=url.key
            )
            for page in pages:
                found += [
                    StoredObject(o["Key"], _etag(o), int(o["Size"]))
                    for o in page.get("Contents", [])
                    if not o["Key"].endswith("/")  # a folder marker, no file
                ]
        if not found:
            raise ObjectStoreError(f"{url}: no objects under this prefix at {self.where}")
        return sorted(found, key=lambda o: o.key)

    def download(self, url: S3Url, destination: Path) -> dict[str, str]:
        """Copy `url` (a file to the file `destination`, a folder's objects into the
        folder `destination`, keys relative to it); returns relative key -> ETag of what
        was read."""
        objects = self.objects(url)
        etags: dict[str, str] = {}
        with self._errors(url):
            for item in objects:
                relative = item.key[len(url.key) :] if url.is_folder else ""
                target = destination / relative if relative else destination
                target.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(url.bucket, item.key, str(target))
                etags[relative] = item.etag
        return etags

    def get_bytes(self, url: S3Url) -> bytes:
        with self._errors(url):
            body: bytes = self.client.get_object(Bucket=url.bucket, Key=url.key)["Body"].read()
        return body

    def put_bytes(self, url: S3Url, content: bytes) -> None:
        """Write one object and check the ETag S3 answers against the bytes' MD5 (a
        single-part upload's ETag is its MD5), so a corrupted upload is caught."""
        with self._errors(url):
            answer = self.client.put_object(Bucket=url.bucket, Key=url.key, Body=content)
        expected = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if _etag(answer) != expected:
            raise ObjectStoreError(
                f"{url}: the storage answered ETag {_etag(answer)} for an upload of MD5 "
                f"{expected}: the bytes were changed on the way; try again"
            )

    def put_file(self, url: S3Url, path: Path) -> None:
        self.put_bytes(url, path.read_bytes())

    def exists(self, url: S3Url) -> StoredObject | None:
        """The object `url` names (a file), or None if there is none."""
        try:
            return self.objects(url)[0]
        except ObjectStoreError as exc:
            if exc.missing:
                return None
            raise

    def delete(self, urls: list[S3Url]) -> None:
        for url in urls:
            with self._errors(url):
                self.client.delete_object(Bucket=url.bucket, Key=url.key)

    @contextmanager
    def _errors(self, url: S3Url) -> Iterator[None]:
        try:
            from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
        except ImportError:
            raise InputError(
                f"{url}: s3:// artifacts and repositories need boto3: pip install 'modelyard[s3]'"
            ) from None

        try:
            yield
        except NoCredentialsError:
            raise ObjectStoreError(
                f"{url}: no S3 credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or a profile in ~/.aws)"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"}:
                raise ObjectStoreError(
                    f"{url}: {self.where} refused the credentials ({code}); check "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                ) from None
            if code in {"NoSuchBucket"}:
                raise ObjectStoreError(
                    f"{url}: {self.where} has no bucket {url.bucket!r}; create it or fix the URL",
                    missing=True,
                ) from None
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectStoreError(
                    f"{url}: no such object at {self.where}; fix the URL or upload it "
                    "(`modelyard push`)",
                    missing=True,
                ) from None
            raise ObjectStoreError(
                f"{url}: {self.where} answered {code or 'an error'}: {error.get('Message', exc)}"
            ) from None
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"{url}: cannot reach {self.where} ({exc}); check `s3.endpoint_url` in "
                "modelyard.yaml and that the storage is up"
            ) from None


def _etag(answer: dict[str, Any]) -> str:
    return str(answer["ETag"]).strip('"')
