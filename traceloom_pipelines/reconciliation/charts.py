"""Inline SVG charts of the reconciliation pages, generated in Python (no JavaScript, no
download: the pages work offline).

Geometry is computed here from plain numbers; every text that reaches the SVG (type names,
dates, tooltips) goes through :func:`markupsafe.Markup.format`, which HTML-escapes it.
"""

from __future__ import annotations

from datetime import date

from markupsafe import Markup

HIGH_COLOR = "#c0392b"  # high risk: manual review (open)
LOW_COLOR = "#2980b9"  # low risk: auto-sync scheduled
# Fixed order and colours of the discrepancy types; an unknown type gets the next free colour.
TYPE_ORDER = (
    "missing_in_mes",
    "missing_in_erp",
    "status_conflict",
    "quantity_mismatch",
    "description_mismatch",
    "consumption_variance",
    "hours_variance",
)
PALETTE = ("#8e44ad", "#d35400", "#c0392b", "#16a085", "#2980b9", "#7f8c8d", "#27ae60", "#f1c40f")


def type_sort_key(kind: str) -> tuple[int, str]:
    """Known types in :data:`TYPE_ORDER` first, then the rest alphabetically."""
    return (TYPE_ORDER.index(kind) if kind in TYPE_ORDER else len(TYPE_ORDER), kind)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def trend_bars(
    days: list[date], high: list[int], low: list[int], *, width: int = 180, height: int = 32
) -> Markup:
    """A stacked bar per day (high risk at the bottom, red; low risk on top, blue), scaled to the
    largest day; ``days``, ``high`` and ``low`` have equal length (counts of discrepancies).
    Each bar has a ``<title>`` tooltip ``YYYY-MM-DD: H high, L low``. Size in CSS pixels."""
    top = max([h + lo for h, lo in zip(high, low, strict=True)] + [1])
    step = width / max(len(days), 1)
    bar = max(step - 1, 1)
    parts = [
        Markup(
            '<svg class="trend" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        ).format(w=width, h=height),
        Markup("<title>{}</title>").format(
            f"{len(days)}-day trend: {sum(high)} high, {sum(low)} low"
        ),
        Markup('<line x1="0" y1="{y}" x2="{w}" y2="{y}" class="baseline"/>').format(
            y=height - 0.5, w=width
        ),
    ]
    for i, (day, h, lo) in enumerate(zip(days, high, low, strict=True)):
        x = i * step
        h_px, lo_px = h / top * (height - 1), lo / top * (height - 1)
        parts.append(
            Markup('<g class="day" data-day="{}"><title>{}</title>').format(
                day.isoformat(), f"{day.isoformat()}: {h} high, {lo} low"
            )
        )
        for value, px, base, color in (
            (h, h_px, height - 1 - h_px, HIGH_COLOR),
            (lo, lo_px, height - 1 - h_px - lo_px, LOW_COLOR),
        ):
            if value:
                parts.append(
                    Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>').format(
                        _fmt(x), _fmt(base), _fmt(bar), _fmt(px), color
                    )
                )
        parts.append(Markup("</g>"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def type_lines(
    days: list[date], series: dict[str, list[int]], *, width: int = 720, height: int = 220
) -> Markup:
    """A line chart of discrepancies per day, one ``<g class="series" data-type="…">`` (polyline,
    points with ``<title>`` tooltips, legend entry) per key of ``series`` (type → counts, one per
    day of ``days``). Axes: days left to right, count (0 … max) bottom to top. CSS pixels."""
    left, right, top_pad, bottom = 36, 170, 12, 28
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max([max(v) for v in series.values() if v] + [1])
    step = plot_w / max(len(days) - 1, 1)

    def xy(i: int, value: int) -> tuple[str, str]:
        return _fmt(left + i * step), _fmt(top_pad + plot_h - value / top * plot_h)

    parts = [
        Markup(
            '<svg class="by-type" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        ).format(w=width, h=height),
        Markup("<title>Discrepancies per day by type</title>"),
        Markup('<g class="axes"><line x1="{l}" y1="{b}" x2="{r}" y2="{b}"/>').format(
            l=left, b=top_pad + plot_h, r=left + plot_w
        ),
        Markup('<line x1="{l}" y1="{t}" x2="{l}" y2="{b}"/>').format(
            l=left, t=top_pad, b=top_pad + plot_h
        ),
        Markup('<text x="{x}" y="{y}" text-anchor="end">{v}</text>').format(
            x=left - 4, y=top_pad + 8, v=top
        ),
        Markup('<text x="{x}" y="{y}" text-anchor="end">0</text>').format(
            x=left - 4, y=top_pad + plot_h
        ),
    ]
    if days:
        parts.append(
            Markup('<text x="{x}" y="{y}">{d}</text>').format(
                x=left, y=height - 8, d=days[0].isoformat()
            )
        )
        parts.append(
            Markup('<text x="{x}" y="{y}" text-anchor="end">{d}</text>').format(
                x=left + plot_w, y=height - 8, d=days[-1].isoformat()
            )
        )
    parts.append(Markup("</g>"))
    for n, kind in enumerate(sorted(series, key=type_sort_key)):
        counts = series[kind]
        known = TYPE_ORDER.index(kind) if kind in TYPE_ORDER else len(TYPE_ORDER) + n
        color = PALETTE[known % len(PALETTE)]
        points = " ".join(",".join(xy(i, v)) for i, v in enumerate(counts))
        parts.append(
            Markup('<g class="series" data-type="{}" stroke="{}" fill="{}">').format(
                kind, color, color
            )
        )
        parts.append(Markup('<polyline fill="none" points="{}"/>').format(points))
        for i, value in enumerate(counts):
            if value:
                x, y = xy(i, value)
                parts.append(
                    Markup('<circle cx="{}" cy="{}" r="2.5"><title>{}</title></circle>').format(
                        x, y, f"{days[i].isoformat()} {kind}: {value}"
                    )
                )
        ly = top_pad + 10 + n * 18
        parts.append(
            Markup(
                '<rect x="{x}" y="{y}" width="10" height="10"/>'
                '<text x="{tx}" y="{ty}" stroke="none" fill="#222">{label} ({total})</text></g>'
            ).format(
                x=left + plot_w + 12,
                y=ly - 9,
                tx=left + plot_w + 28,
                ty=ly,
                label=kind.replace("_", " "),
                total=sum(counts),
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
