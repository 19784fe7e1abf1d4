"""Writing the exported objects into a folder: one YAML file each, only what changed.

The folder may hold other files (a kustomization, a README): modelyard touches only the
files it wrote, listed in `.modelyard-export.json` in the folder. A run writes a file whose
content differs (through a temporary file and a rename, so a reader never sees half of
one), leaves an unchanged file alone (content and mtime), and removes the files it wrote
before that the objects no longer need. Every new content is staged before the first
rename, so a failure while writing (a full disk) leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelyard.errors import InputError

MANIFEST_FILE = ".modelyard-export.json"
_STAGING_SUFFIX = ".modelyard-tmp"


class _Dumper(yaml.SafeDumper):
    """Block style, and no YAML anchors for repeated dicts (kubectl reads them, people
    do not)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _multiline(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # haproxy.cfg in the ConfigMap reads as a block, not one escaped line.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _multiline)


def to_yaml(obj: Mapping[str, Any]) -> str:
    """One object as YAML, keys in the order they were built (apiVersion, kind first)."""
    return yaml.dump(
        dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )


@dataclass(frozen=True)
class WriteResult:
    written: list[str]
    unchanged: list[str]
    removed: list[str]


def check_out(out: Path) -> None:
    """InputError when `out` cannot be the export folder (a file, or under one)."""
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--out {out}: {folder} is a file, not a folder; give a folder")
        if folder.is_dir():
            break


def _read_manifest(out: Path) -> dict[str, Any]:
    path = out / MANIFEST_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--out {out}: {MANIFEST_FILE} cannot be read ({exc}); it lists the files an "
            "earlier export wrote: restore it or remove the folder"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise InputError(f"--out {out}: {MANIFEST_FILE} is not an export manifest")
    return data


def write_objects(out: Path, files: Mapping[str, str], about: Mapping[str, Any]) -> WriteResult:
    """Make `out` hold exactly `files` (name -> text) of those modelyard writes.

    Raises:
        InputError: `out` is a file, a file to write exists and an earlier export did not
            write it, or the folder cannot be written (nothing was changed).
    """
    check_out(out)
    previous = _read_manifest(out)
    owned = {str(name) for name in previous.get("files", [])}
    foreign = sorted(n for n in files if n not in owned and (out / n).exists())
    if foreign:
        raise InputError(
            f"--out {out}: {foreign[0]} exists and no earlier export wrote it; move it "
            "away or export into another folder"
        )
    changed = [n for n in sorted(files) if _content(out / n) != files[n]]
    removed = sorted(n for n in owned - set(files) if (out / n).is_file())
    manifest_text = json.dumps({**about, "files": sorted(files)}, indent=2, sort_keys=True) + "\n"
    write_manifest = _content(out / MANIFEST_FILE) != manifest_text
    staged: list[tuple[Path, Path]] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in [
            *((n, files[n]) for n in changed),
            *([(MANIFEST_FILE, manifest_text)] if write_manifest else []),
        ]:
            target = out / name
            temporary = target.with_name(f".{name}{_STAGING_SUFFIX}")
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            staged.append((temporary, target))
    except OSError as exc:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise InputError(
            f"--out {out}: cannot write ({exc.strerror or exc}); nothing was changed"
        ) from exc
    # The manifest goes last: until then it lists every file of the earlier export, so a
    # run stopped here still knows which stale files are its own.
    for temporary, target in staged:
        if target.name != MANIFEST_FILE:
            os.replace(temporary, target)
    for name in removed:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for temporary, target in staged:
        if target.name == MANIFEST_FILE:
            os.replace(temporary, target)
    return WriteResult(
        written=changed, unchanged=sorted(set(files) - set(changed)), removed=removed
    )


def _content(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError):
        return None
