"""Small inline SVG bar charts: no JavaScript, no CDN, readable when printed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 150
BAR_WIDTH = 230
VALUE_WIDTH = 95


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, float]],
    unit: str,
    capacity: float | None = None,
    colours: dict[str, str] | None = None,
    fmt: Callable[[float], str] | None = None,
) -> str:
    """Horizontal bars, one per row; with `capacity`, a marked line where the fleet ends.

    `fmt` writes a value with its unit (`3.9 TB`); without it, the figure and `unit`.
    """

    def shown(value: float) -> str:
        return fmt(value) if fmt is not None else f"{_fmt(value)} {unit}"

    scale_max = max([value for _, value in rows] + [capacity or 0, 1e-9])
    height = len(rows) * (BAR_HEIGHT + GAP) + 34
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(rows):
        y = 24 + index * (BAR_HEIGHT + GAP)
        length = max(1.0, BAR_WIDTH * value / scale_max)
        colour = (colours or {}).get(label, "#4C78A8")
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end" '
            f'class="chart-label">{escape(label)}</text>'
        )
        parts.append(
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" '
            f'height="{BAR_HEIGHT}" fill="{colour}"><title>{escape(label)}: '
            f"{escape(shown(value))}</title></rect>"
        )
        parts.append(
            f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + 13}" '
            f'class="chart-value">{escape(shown(value))}</text>'
        )
    if capacity:
        x = LABEL_WIDTH + BAR_WIDTH * capacity / scale_max
        parts.append(
            f'<line class="capacity" x1="{x:.1f}" x2="{x:.1f}" y1="20" y2="{height - 4}" '
            'stroke="#B00020" stroke-dasharray="4 3"><title>fleet capacity: '
            f"{escape(shown(capacity))}</title></line>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
