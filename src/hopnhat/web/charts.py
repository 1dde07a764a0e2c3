"""Inline SVG charts drawn on the server: no JavaScript, no CDN, readable by screen readers (role=img + title)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

_PALETTE = ("#1d5fa8", "#b8420f", "#2e7d32", "#6a1b9a", "#8d6e00")


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(label: str, room: int = 30) -> str:
    # A center's name starts with the same words ("Trung tâm Phục vụ hành chính công ..."): keep the end, which
    # tells them apart; the full name is in the bar's tooltip.
    return label if len(label) <= room else "…" + label[-(room - 1) :]


def bar_chart(
    title: str, items: Sequence[tuple[str, float]], *, unit: str = "", max_value: float | None = None
) -> Markup:
    """Horizontal bars, one per (label, value); ``max_value`` fixes the scale (100 for percentages)."""
    # Labels at body size (16 px when the chart is drawn at its own width): room for a center's name.
    row_h, label_w, bar_w = 30, 250, 190
    height = max(1, len(items)) * row_h + 8
    top = max_value if max_value is not None else max((v for _, v in items), default=0.0)
    top = top or 1.0
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {label_w + bar_w + 60} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row_h
        width = max(0.0, min(1.0, value / top)) * bar_w
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 20}" text-anchor="end" class="chart-label">{escape(_short(label))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" '
            f'fill="{_PALETTE[0]}"><title>{escape(label)}: {_num(value)}{escape(unit)}</title></rect>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 20}" class="chart-value">{_num(value)}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, unit: str = ""
) -> Markup:
    """Lines over shared x labels (days); one colour per series with a legend, y axis from 0 to the maximum."""
    # Labels at body size (16 px at the chart's own width): the legend takes two entries a row, above the plot.
    legend_rows = max(1, -(-len(series) // 2))
    width, left, bottom, top_pad = 600, 56, 28, 8 + 22 * legend_rows
    height = 180 + top_pad
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max((v for _, values in series for v in values), default=0.0) or 1.0
    n = max(1, len(labels) - 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#555"/>'
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#555"/>'
        f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" class="chart-value">{_num(top)}{escape(unit)}</text>'
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" class="chart-value">0</text>'
    ]
    for i, label in enumerate(labels):
        if len(labels) <= 8 or i in (0, len(labels) - 1):
            x = left + plot_w * i / n
            parts.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="chart-label">{escape(label)}</text>'
            )
    for s, (name, values) in enumerate(series):
        colour = _PALETTE[s % len(_PALETTE)]
        points = " ".join(
            f"{left + plot_w * i / n:.1f},{top_pad + plot_h - plot_h * v / top:.1f}" for i, v in enumerate(values)
        )
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        # Dots too: a single day would otherwise draw nothing visible.
        parts.extend(
            f'<circle cx="{pt.split(",")[0]}" cy="{pt.split(",")[1]}" r="3" fill="{colour}"/>' for pt in points.split()
        )
        parts.append(
            f'<rect x="{left + 8 + (s % 2) * 270}" y="{8 + (s // 2) * 22}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + 26 + (s % 2) * 270}" y="{19 + (s // 2) * 22}" class="chart-label">'
            f"{escape(_short(name, 28))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["bar_chart", "line_chart"]
