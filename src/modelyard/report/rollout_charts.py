"""Per-arm charts of a canary rollout over its analyses (pure): the weight each arm had,
its error rate and its p99, baseline against candidate, with the decision marked.

Inline SVG like report/charts.py (no JavaScript, no CDN, readable when printed), so the
dashboard and the self-contained HTML report draw the same pictures. One point per
analysis (an inconclusive look is a point too: the step held once more); the figures
are the ones the analysis judged, as stored with it (store/canary.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from modelyard.store.canary import CanaryEvent

WIDTH = 470
HEIGHT = 190
LEFT = 72
RIGHT = 140
TOP = 26
BOTTOM = 38
COLOURS = {"baseline": "#4C78A8", "candidate": "#F58518"}
OUTCOME_COLOURS = {"passed": "#1B7F3B", "failed": "#B00020", "inconclusive": "#8A5A00"}


@dataclass(frozen=True)
class RolloutPoint:
    """One analysis: where it was, and each arm's figures then (None: not known)."""

    label: str  # `step 2 (25 %)`
    outcome: str
    weight: dict[str, float]
    error_rate: dict[str, float | None]
    p99_ms: dict[str, float | None]


def rollout_points(events: Sequence[CanaryEvent]) -> list[RolloutPoint]:
    """The analyses of a rollout's events, in order, as chart points."""
    points = []
    for event in events:
        if event.kind != "analysis":
            continue
        arms = {arm: event.figures.get(arm) or {} for arm in ("baseline", "candidate")}
        points.append(
            RolloutPoint(
                label=f"step {event.step} ({event.weight} %)",
                outcome=event.outcome or "",
                weight={"baseline": 100.0 - event.weight, "candidate": float(event.weight)},
                error_rate={arm: _rate(figures) for arm, figures in arms.items()},
                p99_ms={arm: _number(figures.get("p99_ms")) for arm, figures in arms.items()},
            )
        )
    return points


def decision_of(events: Sequence[CanaryEvent]) -> CanaryEvent | None:
    """The rollout's decision (the last one), if it has been taken."""
    decisions = [e for e in events if e.kind == "decision"]
    return decisions[-1] if decisions else None


def rollout_charts(events: Sequence[CanaryEvent]) -> list[dict[str, str]]:
    """`{"id", "svg"}` per chart: weight, error rate and p99 per arm over the analyses."""
    points = rollout_points(events)
    if not points:
        return []
    decision = decision_of(events)
    return [
        {
            "id": "weight",
            "svg": line_chart(
                "weight per arm", points, lambda p: p.weight, "%", decision, top=100.0
            ),
        },
        {
            "id": "error-rate",
            "svg": line_chart(
                "error rate per arm (since the start)",
                points,
                lambda p: {k: None if v is None else 100 * v for k, v in p.error_rate.items()},
                "%",
                decision,
            ),
        },
        {
            "id": "p99",
            "svg": line_chart("p99 latency per arm", points, lambda p: p.p99_ms, "ms", decision),
        },
    ]


def line_chart(
    title: str,
    points: Sequence[RolloutPoint],
    values: Callable[[RolloutPoint], Mapping[str, float | None]],
    unit: str,
    decision: CanaryEvent | None = None,
    *,
    top: float | None = None,
) -> str:
    """One line per arm across the analyses; each point's outcome as a dot under the
    axis; the decision as a marked last line. A value not known leaves a gap. `top`: the
    axis's end (default: a tenth above the largest value)."""
    series = {arm: [values(p).get(arm) for p in points] for arm in COLOURS}
    known = [v for line in series.values() for v in line if v is not None]
    top = top or max(known + [1e-9]) * 1.1
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [
        f'<svg class="chart rollout-chart" role="img" aria-label="{escape(title)}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#999"/>',
        f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" class="chart-label">'
        f"{_fmt(top)} {escape(unit)}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" class="chart-label">0</text>',
    ]
    for index, point in enumerate(points):
        colour = OUTCOME_COLOURS.get(point.outcome, "#666")
        parts.append(
            f'<circle class="outcome outcome-{escape(point.outcome)}" cx="{x(index):.1f}" '
            f'cy="{TOP + plot_h + 9}" r="4" fill="{colour}"><title>{escape(point.label)}: '
            f"{escape(point.outcome)}</title></circle>"
        )
        if index in (0, len(points) - 1) or len(points) <= 6:
            parts.append(
                f'<text x="{x(index):.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'class="chart-label">{escape(point.label)}</text>'
            )
    for arm, line in series.items():
        colour = COLOURS[arm]
        segment: list[str] = []
        segments = []
        for index, value in enumerate(line):
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(index):.1f},{y(value):.1f}")
            parts.append(
                f'<circle class="point {arm}" cx="{x(index):.1f}" cy="{y(value):.1f}" r="3" '
                f'fill="{colour}"><title>{arm} at {escape(points[index].label)}: '
                f"{_fmt(value)} {escape(unit)}</title></circle>"
            )
        if segment:
            segments.append(segment)
        for drawn in segments:
            if len(drawn) > 1:
                parts.append(
                    f'<polyline class="line {arm}" fill="none" stroke="{colour}" '
                    f'stroke-width="2" points="{" ".join(drawn)}"/>'
                )
        last = next((v for v in reversed(line) if v is not None), None)
        legend_y = TOP + 12 + 16 * list(COLOURS).index(arm)
        parts.append(
            f'<text x="{LEFT + plot_w + 8}" y="{legend_y}" class="chart-value" '
            f'fill="{colour}">{arm}'
            + (f" {_fmt(last)} {escape(unit)}" if last is not None else " –")
            + "</text>"
        )
    if decision is not None:
        outcome = decision.outcome or ""
        colour = OUTCOME_COLOURS.get(outcome, "#666")
        at = x(len(points) - 1)
        parts.append(
            f'<line class="decision decision-{escape(outcome)}" x1="{at:.1f}" x2="{at:.1f}" '
            f'y1="{TOP}" y2="{TOP + plot_h}" stroke="{colour}" stroke-dasharray="4 3">'
            f"<title>decision: {escape(outcome)}: {escape(decision.reason or '')}</title></line>"
        )
        parts.append(
            f'<text x="{LEFT + plot_w + 8}" y="{TOP + 52}" class="chart-value" '
            f'fill="{colour}">{"rolled back" if outcome == "failed" else "promoted"}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _rate(figures: dict[str, Any]) -> float | None:
    requests = _number(figures.get("requests"))
    errors = _number(figures.get("errors"))
    if not requests or errors is None:
        return None
    return errors / requests


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"
