"""The MLflow Model Registry over its REST API (httpx): registered models, their versions,
tags and aliases, and the download of a version's artifacts.

The `mlflow` package is not imported: its pins clash with the project's, and the REST API
(`/api/2.0/mlflow/...`, MLflow 2 and 3) is all an import needs. Artifacts are read through
the tracking server's artifact proxy (`mlflow-artifacts:/` URIs, `mlflow server
--serve-artifacts`, the default since MLflow 2) or from the local file system
(`file://` URIs, a server sharing this machine's disk). Other stores (s3://, gs://, ...)
are refused with the fix: serve them through the tracking server.

Every failure is a `RegistryError` (MLflow does not answer, or refuses) or an `InputError`
(a bad `--tracking-uri`), naming the URI, the model and what to do.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import httpx

from modelyard.errors import InputError, RegistryError

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
PAGE_SIZE = 100
# A registry larger than this many pages is refused rather than read for ever.
MAX_PAGES = 1000
# At most this many files per version: a version is a model, not a data set.
MAX_FILES = 10_000
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, as MLflow records it."""

    name: str
    version: int
    source: str
    status: str
    run_id: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model with its tags, aliases (alias -> version) and versions."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[ModelVersion] = field(default_factory=list)


class MlflowClient:
    """A client of one MLflow tracking server; `transport` is the httpx seam for tests."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parsed = urlparse(tracking_uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError(
                f"--tracking-uri {tracking_uri!r}: expected the URL of an MLflow tracking "
                "server, e.g. http://127.0.0.1:5000"
            )
        self.tracking_uri = tracking_uri.rstrip("/")
        self._http = httpx.Client(
            base_url=self.tracking_uri, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Reading the registry ---------------------------------------------------------------

    def model_names(self) -> list[str]:
        """The names of every registered model, sorted."""
        found = self._pages("registered-models/search", "registered_models")
        return sorted(str(m["name"]) for m in found)

    def registered_model(self, name: str) -> RegisteredModel:
        data = self._get(f"{API}/registered-models/get", {"name": name})["registered_model"]
        versions = [
            _version(item)
            for item in self._pages(
                "model-versions/search", "model_versions", {"filter": f"name={_quoted(name)}"}
            )
        ]
        return RegisteredModel(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            tags=_tags(data.get("tags")),
            aliases={str(a["alias"]): int(a["version"]) for a in data.get("aliases") or []},
            versions=sorted(versions, key=lambda v: v.version),
        )

    def download_uri(self, name: str, version: int) -> str:
        """Where the artifacts of `name` version `version` are (MLflow resolves
        `runs:/` and `models:/` sources to a store URI)."""
        answer = self._get(
            f"{API}/model-versions/get-download-uri", {"name": name, "version": str(version)}
        )
        return str(answer.get("artifact_uri") or "")

    # Artifacts --------------------------------------------------------------------------

    def download(self, uri: str, destination: Path, *, what: str) -> int:
        """Copy the artifacts under `uri` into the (new, empty) folder `destination`;
        returns how many files. `what` names the version in messages.

        Raises:
            RegistryError: the store cannot be read, the URI's scheme is not supported,
                or there are no artifacts at all.
        """
        parsed = urlparse(uri)
        if parsed.scheme == "mlflow-artifacts":
            count = self._download_proxied(parsed.path.lstrip("/"), destination, what)
        elif parsed.scheme == "file":
            count = _copy_local(Path(unquote(parsed.path)), destination, what)
        else:
            raise RegistryError(
                f"{what}: artifacts at {uri!r} are in a store modelyard does not read "
                f"({parsed.scheme or 'no scheme'}:); serve them through the tracking server "
                "(`mlflow server --serve-artifacts --artifacts-destination ...`, URIs "
                "mlflow-artifacts:/...)"
            )
        if count == 0:
            raise RegistryError(
                f"{what}: MLflow has no artifacts at {uri}; log the model's files "
                "(e.g. model.onnx or model.py) before importing it"
            )
        return count

    def _download_proxied(self, root: str, destination: Path, what: str) -> int:
        count = 0
        for relative in self._walk(root, "", what):
            count += 1
            if count > MAX_FILES:
                raise RegistryError(f"{what}: more than {MAX_FILES} artifact files; not a model")
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            url = f"{ARTIFACTS_API}/{root}/{relative}"
            try:
                with self._http.stream("GET", url) as response:
                    self._check(response, url)
                    with target.open("wb") as handle:
                        for chunk in response.iter_bytes(1 << 20):
                            handle.write(chunk)
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
        return count

    def _walk(self, root: str, prefix: str, what: str) -> Iterator[str]:
        path = f"{root}/{prefix}".rstrip("/")
        listing = self._get(ARTIFACTS_API, {"path": path})
        for item in listing.get("files") or []:
            # The proxy lists names relative to `path`; older servers give full paths.
            name = PurePosixPath(str(item["path"])).name
            if name in ("", ".", "..") or "/" in name:
                raise RegistryError(f"{what}: the artifact store lists a bad name {item['path']!r}")
            relative = f"{prefix}/{name}" if prefix else name
            if item.get("is_dir"):
                yield from self._walk(root, relative, what)
            else:
                yield relative

    # HTTP -------------------------------------------------------------------------------

    def _pages(
        self, endpoint: str, key: str, params: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        token = ""
        for _ in range(MAX_PAGES):
            query = {**(params or {}), "max_results": str(PAGE_SIZE)}
            if token:
                query["page_token"] = token
            answer = self._get(f"{API}/{endpoint}", query)
            yield from answer.get(key) or []
            token = str(answer.get("next_page_token") or "")
            if not token:
                return
        raise RegistryError(f"{self.tracking_uri}: more than {MAX_PAGES} pages of {key}")

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        self._check(response, url)
        try:
            data = response.json()
        except ValueError as exc:
            raise RegistryError(
                f"{self.tracking_uri}{url}: the answer is not JSON; is this an MLflow "
                "tracking server?"
            ) from exc
        if not isinstance(data, dict):
            raise RegistryError(f"{self.tracking_uri}{url}: expected a JSON object")
        return data

    def _check(self, response: httpx.Response, url: str) -> None:
        if response.is_success:
            return
        response.read()
        try:
            message = str(response.json().get("message") or response.text)
        except ValueError:
            message = response.text
        hint = ""
        if response.status_code in (401, 403):
            hint = "; give credentials MLflow accepts"
        elif response.status_code == 404 and "mlflow-artifacts" in url:
            hint = "; start the server with --serve-artifacts"
        elif response.status_code == 404:
            hint = "; is this an MLflow tracking server (2.x or later)?"
        raise RegistryError(
            f"MLflow at {self.tracking_uri} refused {url} (HTTP {response.status_code}): "
            f"{message.strip()[:300]}{hint}"
        )

    def _unreachable(self, exc: httpx.HTTPError) -> RegistryError:
        return RegistryError(
            f"MLflow at {self.tracking_uri} does not answer ({type(exc).__name__}: {exc}); "
            "check --tracking-uri and that `mlflow server` is running; nothing was imported"
        )


def _version(item: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=str(item["name"]),
        version=int(str(item["version"])),
        source=str(item.get("source") or ""),
        status=str(item.get("status") or "READY"),
        run_id=str(item.get("run_id") or ""),
        description=str(item.get("description") or ""),
        tags=_tags(item.get("tags")),
    )


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        return {}
    return {str(tag["key"]): str(tag.get("value") or "") for tag in value}


def _quoted(name: str) -> str:
    """`name` as a string literal of MLflow's filter syntax, which has no escapes: one
    kind of quote or the other."""
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    raise RegistryError(
        f"MLflow model {name!r}: a name holding both kinds of quote cannot be searched "
        "with MLflow's filter syntax; rename it in MLflow"
    )


def _copy_local(source: Path, destination: Path, what: str) -> int:
    if not source.exists():
        return 0
    if source.is_file():
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / source.name)
        return 1
    files = [p for p in source.rglob("*") if p.is_file()]
    if len(files) > MAX_FILES:
        raise RegistryError(f"{what}: more than {MAX_FILES} artifact files; not a model")
    for file in files:
        target = destination / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    return len(files)
