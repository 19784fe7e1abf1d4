"""How one model's requests are split between its versions: arms, weights, buckets (pure).

Every request to a routed model falls into a bucket 0..99: a random one, or, with a
sticky header, a hash of that header's value and the model name (the same user always
lands in the same bucket of a model, and the buckets of two models are independent).
The arms own consecutive bucket ranges in a fixed order, the order they were given when
the experiment started: with arms 3.0=90 and 3.1=10, buckets 0-89 go to 3.0 and 90-99 to
3.1. A weight change moves the boundaries, never the order, so when the last arm (the
candidate) grows from 10 to 30, the users of buckets 70-89 move into it and none moves out.

A route may also have a shadow: a version that gets a copy of a share of the model's
requests (drawn independently of the bucket), whose answers go nowhere.

The gateway (traffic/haproxy.py) applies the same rule; `arm_for_bucket` is its
reference, for tests and for explaining a request's arm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelyard.catalog.version import Version
from modelyard.errors import InputError

# Arms one route may have: the gateway's rules are generated for this many.
MAX_ARMS = 4
BUCKETS = 100
# Header names the gateway can hash for sticky assignment: lowercase (HTTP header names
# are case-insensitive), as HAProxy's `req.hdr()` takes them.
_HEADER = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ARM = re.compile(r"\s*([^=\s]+)\s*=\s*(-?\d+)\s*%?\s*")
DEFAULT_STICKY_HEADERS = ("x-user-id",)
# What separates the fields of a route in the gateway's map file.
FIELD_SEPARATOR = "|"
NO_HEADER = "-"


def parse_arms(values: Sequence[str], where: str = "--arm") -> list[tuple[str, int]]:
    """`["3.0=90", "3.1=10"]` -> `[("3.0", 90), ("3.1", 10)]`, in the order given.

    Raises:
        InputError: a value that is not VERSION=PERCENT, a version that is not
            MAJOR.MINOR[.PATCH], a weight outside 0..100, or a version given twice.
    """
    arms: list[tuple[str, int]] = []
    seen: dict[Version, str] = {}
    for value in values:
        match = _ARM.fullmatch(value)
        if match is None:
            raise InputError(f"{where} {value!r}: expected VERSION=PERCENT, e.g. 3.1=10")
        version, weight = match.group(1), int(match.group(2))
        try:
            parsed = Version.parse(version)
        except ValueError as exc:
            raise InputError(f"{where} {value!r}: {exc}") from None
        if not 0 <= weight <= 100:
            raise InputError(f"{where} {value!r}: a weight is a percent, 0 to 100")
        if parsed in seen:
            raise InputError(f"{where}: version {version} is given twice ({seen[parsed]})")
        seen[parsed] = value
        arms.append((version, weight))
    return arms


def parse_shadow(value: str, arms: Sequence[str] = ()) -> tuple[str, int]:
    """`"3.2=20"` -> `("3.2", 20)`: the shadow version and the percent of requests copied.

    Raises:
        InputError: not VERSION=PERCENT, a version that is not MAJOR.MINOR[.PATCH], a
            percent outside 1..100, or a version that is one of `arms`.
    """
    match = _ARM.fullmatch(value)
    if match is None:
        raise InputError(f"--shadow {value!r}: expected VERSION=PERCENT, e.g. 3.2=20")
    version, percent = match.group(1), int(match.group(2))
    try:
        parsed = Version.parse(version)
    except ValueError as exc:
        raise InputError(f"--shadow {value!r}: {exc}") from None
    if not 1 <= percent <= 100:
        raise InputError(
            f"--shadow {value!r}: the share of requests copied is a percent, 1 to 100 "
            "(`experiment set --no-shadow` ends a shadow)"
        )
    if any(Version.parse(arm) == parsed for arm in arms):
        raise InputError(
            f"--shadow {value!r}: {version} is an arm ({', '.join(arms)}); a shadow is a "
            "version clients never get, so choose one that is not an arm"
        )
    return version, percent


def check_weights(arms: Sequence[tuple[str, int]], where: str = "--arm") -> None:
    """InputError unless there are 1..MAX_ARMS arms whose weights add up to 100."""
    if not arms:
        raise InputError(
            f"{where}: give the arms as VERSION=PERCENT, e.g. --arm 3.0=90 --arm 3.1=10"
        )
    if len(arms) > MAX_ARMS:
        raise InputError(f"{where}: at most {MAX_ARMS} arms, got {len(arms)}")
    total = sum(weight for _, weight in arms)
    if total != 100:
        shown = ", ".join(f"{version}={weight}" for version, weight in arms)
        raise InputError(f"{where}: the weights must add up to 100, got {total} ({shown})")


def check_sticky_header(header: str) -> str:
    """The header name, lowercased; InputError unless it is a plain HTTP header name."""
    name = header.strip().lower()
    if not _HEADER.fullmatch(name):
        raise InputError(
            f"--sticky-header {header!r}: expected a header name of letters, digits and "
            "'-', e.g. x-user-id"
        )
    return name


def reweighted(
    layout: Sequence[str], weights: Mapping[str, int], where: str = "--arm"
) -> dict[str, int]:
    """New weights for an experiment's arms, in its layout order; an arm not named gets 0.

    Raises:
        InputError: a version that is not one of the arms, or weights not adding to 100.
    """
    by_version = {Version.parse(arm): arm for arm in layout}
    result = dict.fromkeys(layout, 0)
    for version, weight in weights.items():
        arm = by_version.get(Version.parse(version))
        if arm is None:
            raise InputError(
                f"{where}: {version} is not an arm of this experiment (arms: "
                f"{', '.join(layout)}); stop it and start another to try other versions"
            )
        result[arm] = weight
    check_weights(list(result.items()), where)
    return result


@dataclass(frozen=True)
class RouteArm:
    """One arm as the gateway routes it: where its requests go (a Triton model and
    version folder) and the catalog version that names it (in the response header and
    the counters).

    `triton_model` None is the route's own model; `triton_version` None leaves the
    version to Triton (its highest loaded), as for an ensemble's arm, which goes to the
    ensemble itself or to a generated variant of it (traffic/dependents.py)."""

    triton_version: int | None
    label: str
    weight: int
    triton_model: str | None = None

    def path(self, model: str) -> str:
        """What follows `/v2/models/` in the rewritten request path (before `/infer`)."""
        name = self.triton_model or model
        return name if self.triton_version is None else f"{name}/versions/{self.triton_version}"


@dataclass(frozen=True)
class RouteShadow:
    """A route's shadow: the Triton version folder copies go to, the catalog version
    that names it, and the percent of requests copied."""

    triton_version: int
    label: str
    percent: int


@dataclass(frozen=True)
class Route:
    """Where the gateway sends one Triton model's unversioned requests."""

    model: str  # the Triton model name clients call
    arms: tuple[RouteArm, ...]
    sticky_header: str | None = None
    # What the gateway's per-arm counters are keyed by (an experiment id).
    key: str = "-"
    shadow: RouteShadow | None = None
    # The model whose buckets a sticky user gets (None: `model`). An ensemble routed by
    # its step's experiment hashes with the step's name, so a user is on one arm of that
    # experiment whether they call the step or any ensemble using it.
    bucket_model: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.arms) <= MAX_ARMS:
            raise ValueError(f"{self.model}: a route has 1 to {MAX_ARMS} arms")
        if sum(arm.weight for arm in self.arms) != 100:
            raise ValueError(f"{self.model}: the weights of a route add up to 100")
        if self.shadow is not None and not 1 <= self.shadow.percent <= BUCKETS:
            raise ValueError(f"{self.model}: a shadow copies 1 to 100 % of requests")

    @property
    def cuts(self) -> list[int]:
        """Each arm's exclusive upper bucket: arm i serves buckets cuts[i-1]..cuts[i]-1."""
        cuts, total = [], 0
        for arm in self.arms:
            total += arm.weight
            cuts.append(total)
        return cuts

    def entry(self) -> str:
        """The route as one value of the gateway's map file (see traffic/haproxy.py):
        `path|cut|label` per arm, padded to MAX_ARMS with the last arm, then the sticky
        header, the counter key, the bucket model, and the shadow's `t|percent|label`
        (`-|0|-` without one). One value, so that one runtime `set map` changes it whole."""
        padded = list(zip(self.arms, self.cuts, strict=True))
        while len(padded) < MAX_ARMS:
            padded.append((self.arms[-1], BUCKETS))
        fields: list[str] = []
        for arm, cut in padded:
            fields += [arm.path(self.model), str(cut), arm.label]
        fields += [self.sticky_header or NO_HEADER, self.key, self.bucket_model or self.model]
        shadow = self.shadow
        fields += (
            [str(shadow.triton_version), str(shadow.percent), shadow.label]
            if shadow
            else [NO_HEADER, "0", NO_HEADER]
        )
        return FIELD_SEPARATOR.join(fields)

    @property
    def weights(self) -> dict[str, int]:
        return {arm.label: arm.weight for arm in self.arms}


def arm_for_bucket(route: Route, bucket: int) -> RouteArm:
    """The arm that serves `bucket` (0..99): the first whose range holds it."""
    for arm, cut in zip(route.arms, route.cuts, strict=True):
        if bucket < cut:
            return arm
    raise ValueError(f"bucket {bucket} is outside 0..{BUCKETS - 1}")
