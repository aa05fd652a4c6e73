"""Server-side SVG line chart of rate history for the admin: no JavaScript, no CDN."""

from datetime import UTC, datetime
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
MAX_POINTS = 600  # per series; more than the chart has pixels


def _thin(points: list[tuple[datetime, Decimal]]) -> list[tuple[datetime, Decimal]]:
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    return [points[int(i * step)] for i in range(MAX_POINTS)] + [points[-1]]


def history_svg(
    *, title: str, series: dict[str, list[tuple[datetime, Decimal]]], width: int = 860, height: int = 280
) -> SafeString:
    """One polyline per provider. Coordinates are computed in Decimal; every text is escaped."""
    left, right, top, bottom = 90, 130, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for values in series.values() for p in values]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" style="font: 11px sans-serif">',
        f'<text x="{left}" y="18" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>',
    ]
    if not points:
        parts.append(f'<text x="{left + 10}" y="{top + 20}">No observations in this period.</text></svg>')
        return mark_safe("".join(parts))  # safe: built from numbers and escaped text only

    t0 = min(t for t, _ in points).timestamp()
    t1 = max(t for t, _ in points).timestamp()
    low = min(r for _, r in points)
    high = max(r for _, r in points)
    pad = (high - low) * Decimal("0.05") or (high * Decimal("0.001")) or Decimal(1)
    low, high = low - pad, high + pad
    span_t = Decimal(str(t1 - t0)) or Decimal(1)

    def x(t: datetime) -> str:
        return f"{left + Decimal(str(t.timestamp() - t0)) / span_t * plot_w:.1f}"

    def y(r: Decimal) -> str:
        return f"{top + (high - r) / (high - low) * plot_h:.1f}"

    for label, value in (("high", high - pad), ("low", low + pad)):
        parts.append(
            f'<text x="{left - 6}" y="{y(value)}" text-anchor="end" data-label="{label}">{value.normalize():f}</text>'
        )
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value)}" y2="{y(value)}" stroke="#eee"/>')
    start = datetime.fromtimestamp(t0, tz=UTC).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(t1, tz=UTC).strftime("%Y-%m-%d %H:%M")
    parts.append(f'<text x="{left}" y="{height - 15}">{start} UTC</text>')
    parts.append(f'<text x="{left + plot_w}" y="{height - 15}" text-anchor="end">{end} UTC</text>')
    for index, (name, values) in enumerate(sorted(series.items())):
        color = COLORS[index % len(COLORS)]
        coords = " ".join(f"{x(t)},{y(r)}" for t, r in _thin(sorted(values)))
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        legend_y = top + 14 + index * 16
        parts.append(f'<rect x="{left + plot_w + 12}" y="{legend_y - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{left + plot_w + 26}" y="{legend_y}">{escape(name)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # safe: built from numbers and escaped text only
