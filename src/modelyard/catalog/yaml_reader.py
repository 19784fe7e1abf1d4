"""Reading manifest YAML: the loader (duplicate keys refused, values PyYAML cannot
construct reported), documents with their node trees, and the line of a field.

Kept apart from the rest of manifest reading so that a process parsing files on another
core imports PyYAML and this module only: `python -m modelyard.catalog.yaml_reader` reads
pickled texts on stdin and writes their `documents_for_cache` (ops/parse_ahead.py starts
it).
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import yaml

try:  # libyaml is about ten times faster; PyYAML wheels ship it on Linux.
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - only without libyaml
    _YamlLoader = yaml.SafeLoader


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (PyYAML would keep the last silently)."""


class UnreadableScalar(yaml.constructor.ConstructorError):
    """A value PyYAML's constructors fail on with Python's own errors."""


_STR_TAG = "tag:yaml.org,2002:str"


class ManifestLoader(_YamlLoader):  # type: ignore[misc]
    """Refuses duplicate keys, which PyYAML would silently resolve to the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        first_line: dict[Any, int] = {}
        # `!!map [1]` reaches here with a sequence; the base class says so in its own words.
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if key_node.value in first_line:
                    raise DuplicateKey(
                        None,
                        None,
                        f"duplicate key {key_node.value!r} (first on line "
                        f"{first_line[key_node.value]}); keep one",
                        key_node.start_mark,
                    )
                first_line[key_node.value] = line
        return super().construct_mapping(node, deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node.tag == _STR_TAG and node.__class__ is yaml.ScalarNode:
            # What PyYAML's str constructor gives, without its bookkeeping: two thirds
            # of a manifest's nodes are text (at 10,000 models, 575,000 of 844,000).
            return node.value
        # PyYAML lets Python's own errors out of its constructors: an integer of more
        # than 4300 digits, a date such as 2024-02-30, `!!bool maybe`, `!!set [1]`.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError, KeyError, AttributeError, IndexError) as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]
            if isinstance(node, yaml.ScalarNode):
                text = str(node.value)
                shown = repr(text if len(text) <= 40 else f"{text[:37]}...")
            else:
                shown = "a sequence" if isinstance(node, yaml.SequenceNode) else "a mapping"
            reason = (
                f" ({str(exc).split(';')[0]})"
                if isinstance(exc, (ValueError, OverflowError))
                else ""
            )
            raise UnreadableScalar(
                None,
                None,
                f"{shown} cannot be read as {kind}{reason}; quote it to keep it as text",
                node.start_mark,
            ) from None


def yaml_documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    # Compose and construct separately so that each document keeps its node tree,
    # which is where line numbers for errors come from.
    loader = ManifestLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the node at `loc` inside a YAML document, or None."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(
                (
                    value
                    for key, value in node.value
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part)
                ),
                None,
            )
            if found is None:
                key_node = next(
                    (
                        key
                        for key, _ in node.value
                        if isinstance(key, yaml.ScalarNode) and key.value == str(part)
                    ),
                    None,
                )
                return key_node.start_mark.line + 1 if key_node else line
            node = found
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


# What the parse cache keeps of a file (catalog/parse_cache.py): each document's data,
# its line and the line of each of its dependencies.
Preparsed = list[tuple[Any, int, tuple[int | None, ...]]]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def documents_for_cache(text: str) -> Preparsed | None:
    """What the parse cache would keep for `text`; None when it is not valid YAML or a
    document is not a mapping, for the caller to read itself and report with lines."""
    found: Preparsed = []
    try:
        for node, data in yaml_documents(text):
            if data is None:
                continue
            if not isinstance(data, dict):
                return None
            dependencies = data.get("dependencies")
            lines = (
                tuple(line_of(node, ("dependencies", i)) for i in range(len(dependencies)))
                if isinstance(dependencies, list)
                else ()
            )
            found.append((data, node.start_mark.line + 1, lines))
    except yaml.YAMLError:
        return None
    return found


def _main() -> None:
    """The pickled texts on stdin, their `documents_for_cache` pickled on stdout."""
    texts = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(
        pickle.dumps([documents_for_cache(text) for text in texts], pickle.HIGHEST_PROTOCOL)
    )


if __name__ == "__main__":
    _main()
