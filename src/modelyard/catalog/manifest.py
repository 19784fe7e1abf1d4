"""Reading manifests: YAML (one or many documents per file), folders, and the seed's JSON.

Every problem is collected (not just the first) and reported with its file, line,
field and reason; nothing is returned unless every document is valid.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from modelyard.catalog.artifact_hashes import ArtifactHashes
from modelyard.catalog.parse_cache import ParseCache, ParsedDocument
from modelyard.catalog.real_paths import folders_resolved_once, is_within, real_path
from modelyard.catalog.spec import ItemError, ModelSpec
from modelyard.catalog.yaml_reader import (
    DuplicateKey,
    ManifestLoader,
    Preparsed,
    UnreadableScalar,
    line_of,
    text_key,
    yaml_documents,
)
from modelyard.errors import Forbidden, InputError, Problem, Severity

_T = TypeVar("_T")

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# An `artifact` with this prefix lives in object storage, read through a RemoteArtifacts.
REMOTE_SCHEME = "s3://"


class RemoteArtifacts(Protocol):
    """Reads artifacts that live in object storage (`s3://...`): modelyard.s3 provides
    it; the catalog only asks for the digest and a local copy."""

    def resolve(self, url: str) -> tuple[str, Path]:
        """The artifact's SHA-256 (by `artifact_digest`'s rules) and a local copy of it;
        ArtifactUnreadable (the message names the URL and the fix) if it cannot be read."""
        ...


# The most one manifest file may hold (README: "Reading manifest files"): far more than
# a folder of hand-written manifests, and a bound on what one apply reads into memory.
MANIFEST_MAX_BYTES = 4 * 1024 * 1024


_KNOWN_KEYS = tuple(ModelSpec.model_fields)


@dataclass(frozen=True, slots=True)
class ManifestDocument:
    """One validated model spec and where it was written."""

    spec: ModelSpec
    source: str
    line: int | None = None
    # Line of each `dependencies` entry, so later errors about one can point at it.
    dependency_lines: tuple[int | None, ...] = ()
    # A remote artifact's local copy (read at registration), for checks that open it.
    local_artifact: Path | None = None

    @property
    def artifact_path(self) -> Path | None:
        """Where the artifact's bytes can be read on this machine."""
        if self.local_artifact is not None:
            return self.local_artifact
        return Path(self.spec.artifact) if self.spec.artifact is not None else None

    def line_of_dependency(self, position: int) -> int | None:
        if position < len(self.dependency_lines):
            return self.dependency_lines[position] or self.line
        return self.line

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


def load_manifests(
    paths: Sequence[str | Path],
    *,
    max_file_bytes: int = MANIFEST_MAX_BYTES,
    cache: ParseCache | None = None,
    remote: RemoteArtifacts | None = None,
    parse_ahead: Callable[[Sequence[str]], dict[str, Preparsed]] | None = None,
    artifact_hashes: ArtifactHashes | None = None,
) -> list[ManifestDocument]:
    """Read every manifest under `paths` (files or folders, recursively).

    Only regular files are read (a link to one counts), each of at most
    `max_file_bytes`; a device, pipe or socket is refused as such (see
    `read_manifest_bytes`). With `cache`, a YAML file read before with the same content
    is not parsed again (catalog/parse_cache.py); the result is the same. `remote` reads
    `s3://` artifacts; without it they are refused. `parse_ahead` is given the YAML
    texts the cache lacks before any is read in order, and returns what
    `yaml_reader.documents_for_cache` makes of each (by `text_key`): e.g. parsed on
    every core (ops/parse_ahead.py); the result is the same. `artifact_hashes` gives
    the digest of an artifact file unchanged since it was last read, and learns the
    others (catalog/artifact_hashes.py), as compile does.

    Raises:
        InputError: listing every problem found, each with file, line and field.
    """
    parses = _Preparsed(cache)
    # Each file as `before` read it, for the reading in order (read once either way).
    read_ahead: dict[Path, tuple[str | None, list[Problem]]] = {}

    def before(files: dict[Path, Path]) -> None:
        if parse_ahead is None:
            return
        texts = []
        for file, given in files.items():
            text, _ = read_ahead[file] = _read_file(file, max_file_bytes, given)
            if file.suffix.lower() == ".json" or text is None:
                continue
            if not (cache is not None and cache.has(text)):
                texts.append(text)
        parses.add(parse_ahead(texts))

    def read(file: Path, given: Path) -> tuple[list[ManifestDocument], list[Problem]]:
        ahead = read_ahead.pop(file, None)
        text, problems = ahead if ahead is not None else _read_file(file, max_file_bytes, given)
        if text is None:
            return [], problems
        return _parse_text(
            text,
            str(file),
            is_json=file.suffix.lower() == ".json",
            base_dir=file.parent,
            cache=parses,
            remote=remote,
        )

    token = _known_hashes.set(artifact_hashes)
    try:
        with folders_resolved_once():
            return _from_each_file(paths, read, before)
    finally:
        _known_hashes.reset(token)


# `load_manifests`'s artifact_hashes, for `_resolve_artifact` deep below it.
_known_hashes: ContextVar[ArtifactHashes | None] = ContextVar("known_hashes", default=None)


class _Preparsed:
    """Parses made ahead (`load_manifests`'s `parse_ahead`), looked up after the parse
    cache as if they were in it; one used is learnt by the cache, as a file read here
    would be."""

    def __init__(self, cache: ParseCache | None) -> None:
        self._cache = cache
        self._parsed: dict[str, Preparsed] = {}

    def add(self, parsed: dict[str, Preparsed]) -> None:
        self._parsed.update(parsed)

    def get(self, text: str) -> list[ParsedDocument] | None:
        cached = self._cache.get(text) if self._cache is not None else None
        if cached is not None or not self._parsed:
            return cached
        found = self._parsed.pop(text_key(text), None)
        if found is None:
            return None
        documents = [ParsedDocument(data, line, lines) for data, line, lines in found]
        if self._cache is not None:
            self._cache.put(text, documents)
        return documents

    def put(self, text: str, documents: list[ParsedDocument]) -> None:
        if self._cache is not None:
            self._cache.put(text, documents)


class _ParsedTexts(Protocol):
    """Where a YAML text parsed before is found (ParseCache, _Preparsed)."""

    def get(self, text: str) -> list[ParsedDocument] | None: ...

    def put(self, text: str, documents: list[ParsedDocument]) -> None: ...


def _from_each_file(
    paths: Sequence[str | Path],
    read: Callable[[Path, Path], tuple[list[_T], list[Problem]]],
    before: Callable[[dict[Path, Path]], None] | None = None,
) -> list[_T]:
    """What `read(file, given_as)` makes of each manifest file under `paths`; every
    problem of every file raised at once, so nothing is used from a bad set. `before`
    sees every file (resolved -> as given) before the first is read."""
    collected: list[_T] = []
    problems: list[Problem] = []
    # Each file once (resolved), named by the first path that led to it.
    files: dict[Path, Path] = {}
    for found in _manifest_files(paths, problems):
        files.setdefault(found.resolve(), found)
    if before is not None:
        before(files)
    for file, given in files.items():
        items, file_problems = read(file, given)
        collected += items
        problems += file_problems
    if not files and not problems:
        problems.append(
            _problem(
                ", ".join(str(p) for p in paths),
                None,
                None,
                "no manifest files (*.yaml, *.yml, *.json) found",
                "no-manifests",
            )
        )
    if problems:
        raise InputError.from_problems(problems, "manifests are not valid; nothing was applied")
    return collected


def parse_manifest_text(
    text: str,
    source: str = "<text>",
    *,
    base_dir: Path | None = None,
    artifact_roots: Sequence[Path] | None = None,
    remote: RemoteArtifacts | None = None,
    cache: ParseCache | None = None,
) -> list[ManifestDocument]:
    """Parse manifest YAML (or seed JSON, when `source` ends in `.json`) given as text,
    e.g. the body of an API call. With `cache`, YAML parsed before with the same content
    is not parsed again (as in `load_manifests`).

    Args:
        base_dir: what a relative `artifact` path is relative to (default: the current
            folder).
        artifact_roots: when given, an `artifact` must resolve (symlinks and `..`
            followed) to a path under one of these resolved folders; one that does not
            is refused before it is opened, even to see whether it exists. `s3://`
            artifacts are not paths: `remote` reads them (without it they are refused).

    Raises:
        Forbidden: an `artifact` outside `artifact_roots` (with any other problems).
        InputError: the text is not valid.
    """
    with folders_resolved_once():
        docs, problems = _parse_text(
            text,
            source,
            is_json=source.lower().endswith(".json"),
            base_dir=base_dir,
            artifact_roots=artifact_roots,
            cache=cache,
            remote=remote,
        )
    outside = [p for p in problems if p.code == ARTIFACT_OUTSIDE_ROOTS]
    if outside:
        others = [p for p in problems if p.code != ARTIFACT_OUTSIDE_ROOTS]
        raise Forbidden.from_problems(
            outside + others,
            "manifest names artifacts outside the "
            "folders this server may read; nothing was applied",
        )
    if problems:
        raise InputError.from_problems(problems, "manifest is not valid")
    return docs


def _manifest_files(paths: Sequence[str | Path], problems: list[Problem]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [
                    Path(root) / n
                    for n in names
                    if n.lower().endswith(MANIFEST_SUFFIXES) and not n.startswith(".")
                ]
            yield from sorted(found)
        elif _is_special(path):
            problems.append(
                _problem(
                    str(path),
                    None,
                    None,
                    f"{_file_kind(path.stat().st_mode)}, not a regular file; only regular "
                    "files are read as manifests",
                    "not-a-file",
                )
            )
        elif path.is_file():
            if path.suffix.lower() not in MANIFEST_SUFFIXES:
                problems.append(
                    _problem(
                        str(path),
                        None,
                        None,
                        "not a manifest: expected a .yaml, .yml or .json file",
                        "not-a-manifest",
                    )
                )
            else:
                yield path
        elif path.is_symlink():
            problems.append(
                _problem(
                    str(path),
                    None,
                    None,
                    "a symbolic link to nothing (its target is missing)",
                    "not-found",
                )
            )
        else:
            problems.append(_problem(str(path), None, None, "no such file or folder", "not-found"))


def _is_special(path: Path) -> bool:
    """Something at `path` that is neither a regular file nor a folder (a device, a pipe,
    a socket), so that it is refused as such, not as missing."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def read_manifest_bytes(path: Path, max_bytes: int = MANIFEST_MAX_BYTES) -> bytes:
    """The bytes of the regular file at `path` (a link to one is followed), at most
    `max_bytes` of them.

    Anything else is refused before it is read: a device would never end (/dev/zero),
    a pipe would block apply for ever. The file is checked by `stat` before it is
    opened (opening some devices acts on them), opened without blocking and checked
    again on the open file (it may have been swapped in between), and read no further
    than the cap, whatever its size claimed.

    Raises:
        ManifestUnreadable: the reason, in words that name what is there.
    """
    try:
        before = os.stat(path)
    except OSError as exc:
        raise ManifestUnreadable(f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(before.st_mode):
        raise ManifestUnreadable(
            f"{_file_kind(before.st_mode)}, not a regular file; only regular files are "
            "read as manifests"
        )
    if before.st_size > max_bytes:
        raise ManifestUnreadable(_too_large(before.st_size, max_bytes))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ManifestUnreadable(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise ManifestUnreadable(
                f"{_file_kind(opened.st_mode)}, not a regular file (it changed while being "
                "opened); only regular files are read as manifests"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ManifestUnreadable(_too_large(len(data), max_bytes))
    return data


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"{size:,} bytes is larger than the {max_bytes:,} bytes a manifest file may hold; "
        "split it into several files"
    )


class ManifestUnreadable(ValueError):
    """A manifest path that is not read: not a regular file, too large, or unreadable."""


def _read_file(
    path: Path, max_bytes: int, given: Path | None = None
) -> tuple[str | None, list[Problem]]:
    """The text of the manifest file at `path` (newlines as the readers expect them), or
    None and why not."""
    source = str(path)
    if not is_utf8_path(path):
        return None, [
            _problem(
                _show_path(path),
                None,
                None,
                "the file name is not UTF-8 (the "
                "catalog records where each version came from); rename it",
                "encoding",
            )
        ]
    try:
        text = read_manifest_bytes(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [
            _problem(
                source, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})", "encoding"
            )
        ]
    except ManifestUnreadable as exc:
        shown = source
        if given is not None and given.is_symlink():
            shown = f"{_show_path(given)} (a link to {source})"
        return None, [_problem(shown, None, None, str(exc), "unreadable")]
    # read_text() turned \r\n into \n; keep what the YAML and JSON readers saw.
    return text.replace("\r\n", "\n").replace("\r", "\n"), []


def read_manifest_files(
    paths: Sequence[str | Path], *, max_file_bytes: int = MANIFEST_MAX_BYTES
) -> list[tuple[str, str]]:
    """`(source, text)` of every manifest file under `paths`, found and read as
    `load_manifests` finds and reads them but not parsed: what the remote client sends a
    server, which parses them (`parse_manifest_text(text, source)`) as `apply` would.

    Raises:
        InputError: every file that cannot be read, or no manifest file at all.
    """

    def read(file: Path, given: Path) -> tuple[list[tuple[str, str]], list[Problem]]:
        text, problems = _read_file(file, max_file_bytes, given)
        return ([] if text is None else [(str(file), text)]), problems

    return _from_each_file(paths, read)


def _parse_text(
    text: str,
    source: str,
    *,
    is_json: bool,
    base_dir: Path | None = None,
    artifact_roots: Sequence[Path] | None = None,
    cache: _ParsedTexts | None = None,
    remote: RemoteArtifacts | None = None,
) -> tuple[list[ManifestDocument], list[Problem]]:
    if is_json:
        return _parse_json(text, source, base_dir, artifact_roots, remote)
    if cache is not None:
        cached = cache.get(text)
        if cached is not None:
            valid = _validate_parsed(cached, source, base_dir, artifact_roots, remote)
            if valid is not None:
                return valid, []
    try:
        raw_documents = list(yaml_documents(text))
    except yaml.YAMLError as exc:
        return [], [_yaml_problem(exc, source)]
    documents: list[ManifestDocument] = []
    problems: list[Problem] = []
    parsed: list[ParsedDocument] = []
    for node, data in raw_documents:
        if data is None:
            continue  # an empty document (e.g. a trailing `---`)
        line = node.start_mark.line + 1
        document, doc_problems = _validate(
            data, source, line, node, base_dir, artifact_roots, remote
        )
        problems += doc_problems
        if document:
            documents.append(document)
            parsed.append(ParsedDocument(data, line, document.dependency_lines))
    if cache is not None and not problems:
        cache.put(text, parsed)
    return documents, problems


def _validate_parsed(
    parsed: list[ParsedDocument],
    source: str,
    base_dir: Path | None,
    artifact_roots: Sequence[Path] | None,
    remote: RemoteArtifacts | None = None,
) -> list[ManifestDocument] | None:
    """The documents of a cached parse, validated as a fresh one is; None at the first
    problem (the caller then reads the YAML, whose nodes give each problem its line)."""
    documents = []
    for entry in parsed:
        document, problems = _validate(
            entry.data, source, entry.line, None, base_dir, artifact_roots, remote
        )
        if document is None or problems:
            return None
        documents.append(dataclasses.replace(document, dependency_lines=entry.dependency_lines))
    return documents


def _yaml_problem(exc: yaml.YAMLError, source: str) -> Problem:
    if isinstance(exc, (DuplicateKey, UnreadableScalar)):
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        code = "duplicate-key" if isinstance(exc, DuplicateKey) else "yaml-value"
        return _problem(source, line, None, str(exc.problem), code)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = " ".join(filter(None, [exc.problem, exc.context]))
        return _problem(source, line, None, f"YAML syntax error: {reason}", "yaml-syntax")
    return _problem(source, None, None, f"YAML error: {exc}", "yaml-syntax")


def parse_yaml_document(text: str, source: str) -> Any:
    """One YAML document read as manifests are (duplicate keys refused, values PyYAML
    cannot construct reported), e.g. modelyard.yaml.

    Raises:
        InputError: naming `source`, the line and the reason.
    """
    try:
        return yaml.load(text, Loader=ManifestLoader)
    except yaml.YAMLError as exc:
        raise InputError(str(_yaml_problem(exc, source))) from None


def _parse_json(
    text: str,
    source: str,
    base_dir: Path | None,
    artifact_roots: Sequence[Path] | None = None,
    remote: RemoteArtifacts | None = None,
) -> tuple[list[ManifestDocument], list[Problem]]:
    try:
        data = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        return [], [
            _problem(source, exc.lineno, None, f"JSON syntax error: {exc.msg}", "json-syntax")
        ]
    except _DuplicateJsonKey as exc:
        return [], [_problem(source, None, None, str(exc), "duplicate-key")]
    except ValueError as exc:  # a number of more than 4300 digits
        return [], [
            _problem(source, None, None, f"JSON error: {str(exc).split(';')[0]}", "json-syntax")
        ]
    except RecursionError:
        return [], [
            _problem(source, None, None, "JSON error: nested too deeply to read", "json-syntax")
        ]
    entries: list[tuple[str | None, Any]]
    if isinstance(data, list):
        entries = [(None, item) for item in data]
    elif (
        isinstance(data, dict)
        and data
        and all(isinstance(k, str) and "/" in k and isinstance(v, dict) for k, v in data.items())
    ):
        # The seed notebook's repository_metadata.json: {"domain/name": {...}, ...}
        entries = list(data.items())
    else:
        entries = [(None, data)]
    documents: list[ManifestDocument] = []
    problems: list[Problem] = []
    for key, entry in entries:
        if isinstance(entry, dict):
            entry = {
                k: v for k, v in entry.items() if k != "created_at"
            }  # the catalog records its own
        document, doc_problems = _validate(
            entry, source, None, None, base_dir, artifact_roots, remote
        )
        if key is not None:
            doc_problems = [
                dataclasses.replace(p, message=f"entry {key!r}: {p.message}") for p in doc_problems
            ]
        problems += doc_problems
        if document and key is not None and key != document.spec.id:
            problems.append(
                _problem(
                    source,
                    None,
                    None,
                    f"entry {key!r} holds the model {document.spec.id}; "
                    "the key must be domain/name of its model",
                    "key-mismatch",
                )
            )
            continue
        if document:
            documents.append(document)
    return documents, problems


class _DuplicateJsonKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse duplicate keys in JSON, as in YAML (json.loads would keep the last)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateJsonKey(f"duplicate key {key!r}; keep one")
        data[key] = value
    return data


def _validate(
    data: Any,
    source: str,
    line: int | None,
    node: yaml.Node | None,
    base_dir: Path | None,
    artifact_roots: Sequence[Path] | None = None,
    remote: RemoteArtifacts | None = None,
) -> tuple[ManifestDocument | None, list[Problem]]:
    if not isinstance(data, dict):
        return None, [
            _problem(
                source,
                line,
                None,
                f"expected a mapping of manifest keys (name, version, ...), "
                f"got {type(data).__name__}",
                "not-a-mapping",
            )
        ]
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as exc:
        return None, [_from_pydantic(error, data, source, line, node) for error in exc.errors()]
    local: Path | None = None
    if spec.artifact is not None and spec.artifact.startswith(REMOTE_SCHEME):
        spec, local, problem = _resolve_remote_artifact(spec, source, node, line, remote)
        if problem:
            return None, [problem]
    elif spec.artifact is not None:
        spec, problem = _resolve_artifact(spec, source, node, line, base_dir, artifact_roots)
        if problem:
            return None, [problem]
    dependency_lines = tuple(
        line_of(node, ("dependencies", i)) for i in range(len(spec.dependencies))
    )
    return ManifestDocument(spec, source, line, dependency_lines, local), []


def _resolve_remote_artifact(
    spec: ModelSpec,
    source: str,
    node: yaml.Node | None,
    doc_line: int | None,
    remote: RemoteArtifacts | None,
) -> tuple[ModelSpec, Path | None, Problem | None]:
    """An `s3://` artifact: its digest read from the storage (downloaded) and pinned."""
    assert spec.artifact is not None
    line = line_of(node, ("artifact",)) or doc_line
    if remote is None:
        return (
            spec,
            None,
            _problem(
                source,
                line,
                "artifact",
                f"{spec.ref}: {_show(spec.artifact)} is in object storage, which this "
                "registration cannot read; register it with `modelyard apply` in a workspace",
                "artifact-remote",
                model=spec.ref,
            ),
        )
    try:
        digest, local = remote.resolve(spec.artifact)
    except ArtifactUnreadable as exc:
        return (
            spec,
            None,
            _problem(
                source,
                line,
                "artifact",
                f"{spec.ref}: {exc}",
                "artifact-unreadable",
                model=spec.ref,
            ),
        )
    if spec.artifact_sha256 and spec.artifact_sha256 != digest:
        pinned_line = line_of(node, ("artifact_sha256",)) or line
        return (
            spec,
            None,
            _problem(
                source,
                pinned_line,
                "artifact_sha256",
                f"{spec.ref}: {spec.artifact} has SHA-256 {digest}, the manifest pins "
                f"{spec.artifact_sha256}",
                "artifact-digest",
                model=spec.ref,
            ),
        )
    return spec.model_copy(update={"artifact_sha256": digest}), local, None


def _resolve_artifact(
    spec: ModelSpec,
    source: str,
    node: yaml.Node | None,
    doc_line: int | None,
    base_dir: Path | None,
    artifact_roots: Sequence[Path] | None = None,
) -> tuple[ModelSpec, Problem | None]:
    assert spec.artifact is not None
    line = line_of(node, ("artifact",)) or doc_line
    try:
        given = str(Path(spec.artifact).expanduser()) if spec.artifact[:1] == "~" else spec.artifact
        if not os.path.isabs(given) and base_dir is not None:
            given = os.path.join(base_dir, given)
        resolved = real_path(given)
        path = Path(resolved)
        # Checked before anything is opened or even looked up: a refused path must not
        # tell whether it exists.
        if artifact_roots is not None and not _is_under(path, artifact_roots):
            return spec, _outside_roots(spec, source, line, artifact_roots)
        if not is_utf8_path(path):
            raise ValueError("the path is not UTF-8; rename the folders on it")
        exists = path.exists()
    except (OSError, ValueError, RuntimeError) as exc:
        # NUL in the path (ValueError), `~nobody` (RuntimeError), a name too long (OSError).
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return spec, _problem(
            source,
            line,
            "artifact",
            f"{spec.ref}: {_show(spec.artifact)} is not a usable path "
            f"({reason}); give the model file's or folder's path",
            "artifact-path",
            model=spec.ref,
        )
    if not exists:
        return spec, _problem(
            source,
            line,
            "artifact",
            f"{spec.ref}: no file or folder at {path}",
            "artifact-missing",
            model=spec.ref,
        )
    hashes = _known_hashes.get()
    try:
        if hashes is not None and artifact_roots is None:
            digest = hashes.digest(path, artifact_digest)
        else:
            digest = artifact_digest(path, artifact_roots)
    except ArtifactOutsideRoots:
        return spec, _outside_roots(spec, source, line, artifact_roots or ())
    except ArtifactUnreadable as exc:
        return spec, _problem(
            source, line, "artifact", f"{spec.ref}: {exc}", "artifact-unreadable", model=spec.ref
        )
    if spec.artifact_sha256 and spec.artifact_sha256 != digest:
        pinned_line = line_of(node, ("artifact_sha256",)) or line
        return spec, _problem(
            source,
            pinned_line,
            "artifact_sha256",
            f"{spec.ref}: {path} has SHA-256 {digest}, the manifest pins {spec.artifact_sha256}",
            "artifact-digest",
            model=spec.ref,
        )
    return spec.model_copy(update={"artifact": str(path), "artifact_sha256": digest}), None


ARTIFACT_OUTSIDE_ROOTS = "artifact-outside-roots"


def _is_under(path: Path, roots: Sequence[Path]) -> bool:
    """`path` (resolved) is one of `roots` (resolved folders) or below one."""
    return is_within(str(path), [str(root) for root in roots])


def _outside_roots(
    spec: ModelSpec, source: str, line: int | None, roots: Sequence[Path]
) -> Problem:
    # The resolved path is not shown: it would tell where a symlink outside points.
    allowed = ", ".join(str(r) for r in roots) or "none"
    return _problem(
        source,
        line,
        "artifact",
        f"{spec.ref}: {_show(spec.artifact)} is outside the folders this server "
        f"reads artifacts from ({allowed}); put the model file under one of them, "
        "or have an admin add its folder to `api.artifact_roots` in modelyard.yaml",
        ARTIFACT_OUTSIDE_ROOTS,
        model=spec.ref,
    )


class ArtifactUnreadable(ValueError):
    """An artifact's files cannot be read; the message names the file and why."""


class ArtifactOutsideRoots(ArtifactUnreadable):
    """A file of an artifact folder links outside the allowed roots."""


def artifact_digest(path: Path, roots: Sequence[Path] | None = None) -> str:
    """SHA-256 of a file, or of a folder's files (relative names and contents, sorted).

    With `roots`, every file (links followed) must lie under one of them; it is checked
    before any file is opened.

    Raises:
        ArtifactUnreadable: a file cannot be read, or the folder holds another file
            system's mount point (`artifact: /` would read /proc and /dev).
        ArtifactOutsideRoots: with `roots`, a file resolves outside all of them.
    """
    digest = hashlib.sha256()
    if not path.is_file() and not path.is_dir():
        # Reading a pipe would wait forever and /dev/zero never ends (compile copies it).
        raise ArtifactUnreadable(
            f"{path} is neither a regular file nor a folder (a device, "
            "pipe or socket); point `artifact` at the model's file or folder"
        )
    try:
        files = [path] if path.is_file() else _folder_files(path)
        if roots is not None and not all(_is_under(f.resolve(), roots) for f in files):
            raise ArtifactOutsideRoots(f"{path} holds links to files outside the allowed roots")
        for file in files:
            if path.is_dir():
                digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    except OSError as exc:
        raise ArtifactUnreadable(
            f"cannot read {exc.filename or path}: {exc.strerror or exc}; make the artifact readable"
        ) from exc
    return digest.hexdigest()


def artifact_files(path: Path) -> list[Path]:
    """The files `artifact_digest` reads of a file or folder artifact, in its order."""
    return [path] if path.is_file() else _folder_files(path)


def _folder_files(folder: Path) -> list[Path]:
    """The regular files under `folder` (links to files included), never leaving its
    file system."""
    device = folder.stat().st_dev
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, onerror=_raise):
        for name in dirs + names:
            if not is_utf8_path(Path(name)):
                raise ArtifactUnreadable(
                    f"{_show_path(Path(root) / name)}: the file name is not UTF-8 (it goes into "
                    "the digest and the repository's file list); rename it"
                )
        for name in dirs:
            inner = Path(root) / name
            if not inner.is_symlink() and inner.stat().st_dev != device:
                raise ArtifactUnreadable(
                    f"the artifact folder {folder} holds the mount point {inner} of another file "
                    "system; point `artifact` at the model's own file or folder"
                )
        for name in names:
            inner = Path(root) / name
            if not inner.is_file() and not inner.is_symlink():  # a pipe, socket or device
                raise ArtifactUnreadable(
                    f"{inner} in the artifact folder is neither a regular file nor a folder; "
                    "remove it (a pipe blocks and a device never ends when copied)"
                )
        found += [Path(root) / name for name in names if (Path(root) / name).is_file()]
    return sorted(found)


def is_utf8_path(path: Path) -> bool:
    """Whether `path` is text: a file name of other bytes reaches Python as lone
    surrogates, which the catalog database, JSON and terminals cannot take."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show_path(path: Path) -> str:
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _raise(error: OSError) -> None:
    raise error  # os.walk would skip a folder it cannot list, leaving files out of the digest


def _from_pydantic(
    error: Any, data: dict[str, Any], source: str, doc_line: int | None, node: yaml.Node | None
) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ItemError):
        loc = (*loc, cause.index)
    field = format_field(loc)
    kind = error["type"]
    name = data.get("name") if isinstance(data.get("name"), str) else None
    model = f"{data.get('domain')}/{name}@{data.get('version')}" if name else None
    line = line_of(node, loc) or doc_line
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
        close = difflib.get_close_matches(str(loc[-1]), _known_keys_at(loc), n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        return _problem(source, line, field, message, "unknown-key", model=model)
    if kind == "missing":
        return _problem(
            source, doc_line, field, "required key is missing", "missing-key", model=model
        )
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else message
    if "input" in error and kind not in ("value_error", "assertion_error"):
        message += f", got {_show(error['input'])}"
    return _problem(source, line, field, message, "invalid-value", model=model)


def format_field(loc: Sequence[str | int]) -> str | None:
    """`("inputs", 0, "dims")` -> `inputs[0].dims`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def _known_keys_at(loc: tuple[str | int, ...]) -> Iterable[str]:
    from modelyard.catalog.spec import Resources, Sla, TensorSpec

    parent = loc[0] if len(loc) > 1 else None
    by_parent: dict[str, type[BaseModel]] = {
        "resource_requirements": Resources,
        "sla_requirements": Sla,
        "inputs": TensorSpec,
        "outputs": TensorSpec,
    }
    model = by_parent.get(str(parent)) if parent is not None else None
    return tuple(model.model_fields) if model else _KNOWN_KEYS


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(
    source: str,
    line: int | None,
    field: str | None,
    message: str,
    code: str,
    model: str | None = None,
) -> Problem:
    return Problem(
        Severity.ERROR, code, message, model=model, source=source, line=line, field=field
    )
