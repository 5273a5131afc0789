"""Chart geometry for the reports' inline SVG: plain numbers here, markup (escaped) in the templates."""
from __future__ import annotations

from dataclasses import dataclass, field

COLORS = {
    "accepted": "#2e7d32", "rejected": "#c62828", "ignored": "#9e9e9e",
    "added": "#1565c0", "updated": "#6a1b9a", "unchanged": "#90a4ae",
    "hard_bounce": "#c62828", "invalid": "#ad1457", "spam_complaint": "#6a1b9a", "manual": "#4527a0",
    "unsubscribe": "#1565c0", "soft_bounce": "#ef6c00", "policy_block": "#757575",
    "rows": "#1565c0", "flagged": "#c62828", "rate": "#ef6c00",
}
LABELS = {"ignored": "accepted, no suppression", "added": "new", "updated": "strengthened",
          "unchanged": "already present, unchanged"}
FALLBACK = ("#00838f", "#558b2f", "#f9a825", "#5d4037", "#37474f", "#d81b60")


def color(name: str, i: int = 0) -> str:
    return COLORS.get(name, FALLBACK[i % len(FALLBACK)])


@dataclass
class Segment:
    series: str
    value: float
    x: float
    width: float
    color: str


@dataclass
class Bar:
    label: str
    total: float
    y: float
    segments: list[Segment] = field(default_factory=list)
    value_text: str = ""
    value_x: float = 0.0


@dataclass
class HBarChart:
    """Horizontal bars, one per label, each split into stacked segments."""

    title: str
    bars: list[Bar]
    series: list[tuple[str, str]]  # (name, color) for the legend
    width: int
    height: int
    label_width: int
    row: int


def hbars(title: str, rows: list[tuple[str, dict[str, float]]], series: list[str] | None = None,
          width: int = 620, label_width: int = 200, row: int = 24, fmt=None, legend: bool | None = None) -> HBarChart:
    """`rows`: (label, {series: value}); bars scaled to the largest total."""
    series = series or list(dict.fromkeys(s for _, values in rows for s in values))
    fmt = fmt or (lambda v: f"{v:,.0f}")
    plot = width - label_width - 70
    biggest = max((sum(v for v in values.values() if v) for _, values in rows), default=0) or 1
    bars = []
    for i, (label, values) in enumerate(rows):
        x = float(label_width)
        bar = Bar(label=label, total=sum(v for v in values.values() if v), y=i * row + 4)
        for j, name in enumerate(series):
            value = values.get(name) or 0
            w = plot * value / biggest
            if value:
                bar.segments.append(Segment(name, value, x, max(w, 1.0), color(name, j)))
            x += w
        bar.value_text = fmt(bar.total)
        bar.value_x = x + 5
        bars.append(bar)
    shown = len(series) > 1 if legend is None else legend
    legend = [(LABELS.get(name, name), color(name, j)) for j, name in enumerate(series)] if shown else []
    return HBarChart(title, bars, legend, width, len(rows) * row + 8, label_width, row)


@dataclass
class Column:
    label: str
    value: float
    x: float
    y: float
    height: float
    color: str
    note: str


@dataclass
class ColumnChart:
    """Vertical columns over a time axis (one per day), flagged ones in red."""

    title: str
    columns: list[Column]
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    column_width: float
    max_label: str
    ticks: list[tuple[float, str]]


def columns(title: str, points: list[tuple[str, float, bool, str]], width: int = 560, height: int = 150,
            fmt=None, base_color: str = COLORS["rows"]) -> ColumnChart:
    """`points`: (day label, value, flagged, note) in time order."""
    fmt = fmt or (lambda v: f"{v:,.0f}")
    top, bottom, left = 14, height - 22, 48
    plot_w = width - left - 8
    n = max(len(points), 1)
    step = plot_w / n
    col_w = max(min(step * 0.7, 40), 2)
    real_max = max((p[1] for p in points), default=0)
    biggest = real_max or 1
    cols = []
    for i, (label, value, flagged, note) in enumerate(points):
        # a flagged empty day still gets a red stub, so an empty night is seen, not missed
        h = max((bottom - top) * value / biggest, 3.0 if flagged else 0.0)
        cols.append(Column(label, value, left + i * step + (step - col_w) / 2, bottom - h, h,
                           COLORS["flagged"] if flagged else base_color, note))
    every = max(1, n // 8)
    ticks = [(c.x + col_w / 2, c.label[5:] if len(c.label) == 10 else c.label) for i, c in enumerate(cols)
             if i % every == 0 or i == n - 1]
    return ColumnChart(title, cols, width, height, top, bottom, col_w, fmt(real_max) if real_max else "", ticks)
