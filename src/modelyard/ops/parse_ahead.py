"""Manifest YAML parsed on every core before `apply` reads the files in order.

At 10,000 models parsing the YAML is about 2.3 s of a fresh apply on one core. The rest
of reading (validation, artifact digests, each problem with its line) stays in order in
the caller, which looks up what was parsed here as it would the parse cache.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence

from modelyard.catalog import yaml_reader
from modelyard.catalog.yaml_reader import Preparsed, text_key

# Below this much YAML a second process costs more than it saves: it starts in about
# 0.06 s, and 1 MiB of manifests parses in about 0.25 s.
PARALLEL_MIN_BYTES = 1024 * 1024


def parse_on_every_core(texts: Sequence[str]) -> dict[str, Preparsed]:
    """`documents_for_cache` of each text (by `text_key`), using every core: one share is
    parsed here, the others by `python -m modelyard.catalog.yaml_reader` processes.
    Empty where that would not pay (one core, little YAML); a share whose process fails
    is left out, for the caller to parse as usual.

    Processes started afresh rather than forked: a fork copies whatever lock another
    thread (the CLI's spinner) holds at that moment, and the child could wait on it for
    ever.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cores or 1) < 2 or len(texts) < 2 or sum(map(len, texts)) < PARALLEL_MIN_BYTES:
        return {}
    shares: list[list[str]] = [[] for _ in range(min(cores or 1, len(texts)))]
    sizes = [0] * len(shares)
    for text in sorted(texts, key=len, reverse=True):  # the largest first, to the lightest
        lightest = sizes.index(min(sizes))
        shares[lightest].append(text)
        sizes[lightest] += len(text)
    started: list[tuple[list[str], subprocess.Popen[bytes]]] = []
    for share in shares[1:]:
        try:
            process = subprocess.Popen(
                # -P: a folder of manifests holding a `yaml.py` is not imported from.
                [sys.executable, "-P", "-m", yaml_reader.__name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            continue
        assert process.stdin is not None
        try:
            # The child reads all of its share before it writes anything: no deadlock.
            process.stdin.write(pickle.dumps(share, protocol=pickle.HIGHEST_PROTOCOL))
            process.stdin.close()
        except OSError:
            process.kill()
        started.append((share, process))
    found: dict[str, Preparsed] = {}
    _learn(found, shares[0], [yaml_reader.documents_for_cache(text) for text in shares[0]])
    for share, process in started:
        assert process.stdout is not None
        output = process.stdout.read()
        process.stdout.close()
        if process.wait() == 0:
            # A share that came back damaged is parsed by the caller.
            with contextlib.suppress(pickle.UnpicklingError, EOFError, ValueError, TypeError):
                _learn(found, share, pickle.loads(output))
    return found


def _learn(found: dict[str, Preparsed], share: list[str], parsed: object) -> None:
    if not isinstance(parsed, list) or len(parsed) != len(share):
        return
    for text, documents in zip(share, parsed, strict=True):
        if documents is not None:
            found[text_key(text)] = documents
