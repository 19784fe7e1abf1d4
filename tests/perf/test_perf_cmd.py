"""The perf command's own flags: durations and concurrency levels."""

from __future__ import annotations

import pytest

from modelyard import InputError, PerfOptions
from modelyard.cli.perf_cmd import parse_concurrency, parse_duration_s


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("500ms", 0.5), ("2m", 120),
                                               ("1.5", 1.5), (" 3 s ", 3), ("1min", 60)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "0s", "-1s", "10h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError, match="--duration"):
        parse_duration_s(text)


def test_concurrency_levels() -> None:
    assert parse_concurrency("1,2,4,8") == (1, 2, 4, 8)
    assert parse_concurrency(" 4 ") == (4,)
    for bad in ("", "one", "1,,x"):
        with pytest.raises(InputError, match="--concurrency"):
            parse_concurrency(bad)
    with pytest.raises(InputError, match="between 1 and 256"):
        PerfOptions(concurrency=(0,))
    with pytest.raises(InputError, match="--requests"):
        PerfOptions(max_requests=0)
