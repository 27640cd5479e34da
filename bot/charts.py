"""Small SVG charts for the post-crisis report: bars, stacked bars, lines, horizontal bars.

Each function returns one self-contained `<svg>` element (no script, no external
font or stylesheet) with a title, both axes with tick labels, axis names and a
legend when there is more than one series, so that a screenshot can be read on
its own. Every data point is an element with `class="bar"` or `class="point"`
and its value in `data-value` (and a `<title>` tooltip), which the tests count.
All text is escaped. A chart of nothing is refused (ValueError): the report says
"no data" in words instead of drawing an empty frame.
"""

from __future__ import annotations

import math
from html import escape
from typing import Callable, List, Sequence, Tuple

# Okabe-Ito: colours told apart with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
Series = Sequence[Tuple[str, Sequence[float]]]


def colour(index: int) -> str:
    """The colour of the index-th series."""
    return PALETTE[index % len(PALETTE)]


def nice_ticks(top: float, count: int = 5, whole: bool = False) -> List[float]:
    """Round tick values from 0 to at least `top` (about `count` steps; whole steps for counts)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _text(
    x: float, y: float, text: str, size: int = 11, anchor: str = "middle", **extra: str
) -> str:
    attrs = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
        f" {FONT}{attrs}>{escape(text)}</text>"
    )


def _check(categories: Sequence[str], series: Series) -> None:
    if not categories or not series or not any(any(v for v in vals) for _, vals in series):
        raise ValueError("nothing to draw")
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(categories)}")


def _whole(series: Series) -> bool:
    return all(float(v).is_integer() for _, values in series for v in values)


def _legend(series_names: Sequence[str], x: float, y: float) -> str:
    if len(series_names) < 2:
        return ""
    parts, cursor = ['<g class="legend">'], x
    for index, name in enumerate(series_names):
        parts.append(
            f'<rect x="{cursor:.1f}" y="{y - 9:.1f}" width="10" height="10"'
            f' fill="{colour(index)}"/>'
        )
        parts.append(_text(cursor + 14, y, name, anchor="start"))
        cursor += 24 + 7 * len(name)
    parts.append("</g>")
    return "".join(parts)


class _Frame:
    """The plot area of a chart with a vertical value axis and categories along x."""

    def __init__(
        self, width: int, height: int, top_value: float, n: int, legend: bool, whole: bool
    ) -> None:
        self.width, self.height = width, height
        self.left, self.right = 58, width - 16
        self.top = 58 if legend else 40
        self.bottom = height - 58
        self.ticks = nice_ticks(top_value, whole=whole)
        self.max = self.ticks[-1]
        self.n = n

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * (value / self.max)

    def slot(self) -> float:
        return (self.right - self.left) / self.n

    def x_centre(self, index: int) -> float:
        return self.left + self.slot() * (index + 0.5)

    def axes(self, categories: Sequence[str], x_label: str, y_label: str) -> str:
        parts = ['<g class="axes">']
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}"'
                ' stroke="#e3e3e3"/>'
            )
            parts.append(_text(self.left - 6, y + 4, _number(tick), anchor="end"))
        parts.append(
            f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{self.bottom}"'
            ' stroke="#333"/>'
        )
        parts.append(
            f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}"'
            ' stroke="#333"/>'
        )
        every = max(1, math.ceil(len(categories) / 12))  # at most 12 labels fit
        for index, label in enumerate(categories):
            if index % every == 0:
                parts.append(_text(self.x_centre(index), self.bottom + 16, label, size=10))
        parts.append(_text((self.left + self.right) / 2, self.height - 18, x_label, size=12))
        middle = (self.top + self.bottom) / 2
        parts.append(_text(14, middle, y_label, size=12, transform=f"rotate(-90 14 {middle:.1f})"))
        parts.append("</g>")
        return "".join(parts)


def _svg(width: int, height: int, title: str, body: str, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' aria-label="{escape(title)}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f"{_text(width / 2, 22, title, size=14, font_weight='bold')}{body}</svg>"
    )


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Series,
    *,
    x_label: str,
    y_label: str,
    stacked: bool = True,
    width: int = 760,
    height: int = 320,
) -> str:
    """Vertical bars per category, one colour per series, stacked or side by side."""
    _check(categories, series)
    if stacked:
        top = max(sum(vals[i] for _, vals in series) for i in range(len(categories)))
    else:
        top = max(max(vals) for _, vals in series)
    frame = _Frame(width, height, top, len(categories), len(series) > 1, _whole(series))
    parts = [frame.axes(categories, x_label, y_label), '<g class="data">']
    slot = frame.slot()
    bar = slot * 0.7 if stacked else slot * 0.8 / len(series)
    for index, category in enumerate(categories):
        base = 0.0
        for s, (name, values) in enumerate(series):
            value = values[index]
            if not value:
                continue
            if stacked:
                x = frame.x_centre(index) - bar / 2
                y0, y1 = frame.y(base + value), frame.y(base)
                base += value
            else:
                x = frame.left + slot * index + slot * 0.1 + bar * s
                y0, y1 = frame.y(value), frame.y(0)
            parts.append(
                f'<rect class="bar" data-series="{escape(name)}" data-value="{_number(value)}"'
                f' x="{x:.1f}" y="{y0:.1f}" width="{max(bar, 1):.1f}"'
                f' height="{max(y1 - y0, 0.5):.1f}" fill="{colour(s)}">'
                f"<title>{escape(f'{category} · {name}: {_number(value)}')}</title></rect>"
            )
    parts.append("</g>")
    parts.append(_legend([name for name, _ in series], frame.left, 44))
    return _svg(width, height, title, "".join(parts), "bar")


def line_chart(
    title: str,
    categories: Sequence[str],
    series: Series,
    *,
    x_label: str,
    y_label: str,
    width: int = 760,
    height: int = 320,
) -> str:
    """One line with a marker per point for each series, over the categories."""
    _check(categories, series)
    top = max(max(vals) for _, vals in series)
    frame = _Frame(width, height, top, len(categories), len(series) > 1, _whole(series))
    parts = [frame.axes(categories, x_label, y_label), '<g class="data">']
    for s, (name, values) in enumerate(series):
        points = [(frame.x_centre(i), frame.y(v)) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline fill="none" stroke="{colour(s)}" stroke-width="2.5" points="{path}"/>'
        )
        for (x, y), category, value in zip(points, categories, values, strict=True):
            parts.append(
                f'<circle class="point" data-series="{escape(name)}"'
                f' data-value="{_number(value)}" cx="{x:.1f}" cy="{y:.1f}" r="3.5"'
                f' fill="{colour(s)}"><title>'
                f"{escape(f'{category} · {name}: {_number(value)}')}</title></circle>"
            )
    parts.append("</g>")
    parts.append(_legend([name for name, _ in series], frame.left, 44))
    return _svg(width, height, title, "".join(parts), "line")


def hbar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    x_label: str,
    value_text: Callable[[float], str] = _number,
    width: int = 760,
    label_width: int = 260,
) -> str:
    """One horizontal bar per label (longest labels cut), the value written beside it."""
    _check(labels, [("", values)])
    row = 24
    top, bottom = 40, 40
    height = top + row * len(labels) + bottom
    left, right = label_width, width - 70
    ticks = nice_ticks(max(values), whole=_whole([("", values)]))
    scale = (right - left) / ticks[-1]
    parts = ['<g class="axes">']
    for tick in ticks:
        x = left + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#e3e3e3"/>'
        )
        parts.append(_text(x, height - bottom + 14, value_text(tick), size=10))
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#333"/>')
    parts.append(_text((left + right) / 2, height - 8, x_label, size=12))
    parts.append('</g><g class="data">')
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + row * index
        shown = label if len(label) <= 40 else label[:39] + "…"
        parts.append(_text(left - 6, y + 16, shown, anchor="end"))
        parts.append(
            f'<rect class="bar" data-value="{_number(value)}" x="{left}" y="{y + 4}"'
            f' width="{max(value * scale, 1):.1f}" height="{row - 8}" fill="{colour(0)}">'
            f"<title>{escape(f'{label}: {value_text(value)}')}</title></rect>"
        )
        parts.append(_text(left + value * scale + 6, y + 16, value_text(value), anchor="start"))
    parts.append("</g>")
    return _svg(width, height, title, "".join(parts), "hbar")
