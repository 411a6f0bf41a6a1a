"""The report's figures, drawn with reportlab's own vector graphics: the selector's dark-pixel
counts, P(COVID) per slice and the Grad-CAM colour bar. Sizes are in points (1/72 inch); the
horizontal axis of both charts is the slice position in mm, head on the left."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from reportlab.graphics.shapes import Circle, Drawing, Group, Line, PolyLine, Rect, String
from reportlab.lib import colors

from lunglens.analysis import Analysis
from lunglens.core.decision import exact_text
from lunglens.core.reformat import runs
from lunglens.render.overlay import colour_bar_rgb
from lunglens.report.images import OVERLAY_STYLE

FONT = "Helvetica"
FONT_SIZE = 7.5
KEPT_SHADE = colors.Color(0.80, 0.93, 0.80)
DISCARDED_SHADE = colors.Color(0.90, 0.90, 0.90)
LINE_COLOUR = colors.Color(0.12, 0.35, 0.70)
MARK_COLOUR = colors.Color(0.85, 0.10, 0.10)
#: Margins around the plot area inside a chart drawing (points): left, bottom, right, top.
MARGINS = (44.0, 30.0, 10.0, 18.0)
POSITION_LABEL = "slice position (mm): head on the left, feet on the right"
#: The same when the files state no slice positions (`SeriesRecord.positions_stated`).
ASSUMED_POSITION_LABEL = "slice position (mm, assumed from the file order): head on the left"


@dataclass(frozen=True)
class _Plot:
    """The plot area of a drawing: the data ranges (x0, x1) and (y0, y1) map linearly onto the
    rectangle at (left, bottom) of `width` x `height` points (x0 > x1 runs the axis backwards)."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    left: float
    bottom: float
    width: float
    height: float

    def x(self, value: float) -> float:
        x0, x1 = self.x_range
        return self.left + (value - x0) / (x1 - x0) * self.width

    def y(self, value: float) -> float:
        y0, y1 = self.y_range
        return self.bottom + (value - y0) / (y1 - y0) * self.height


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About `count` round tick values (steps of 1, 2 or 5 x 10^k) within [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    return [k * step for k in range(first, math.floor(high / step + 1e-9) + 1)]


def _tick_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.0f}"


def _half_spacing(positions_mm: np.ndarray) -> float:
    """Half the typical slice spacing (mm): the half-width of one slice's band on the chart."""
    if len(positions_mm) < 2:
        return 1.0
    return max(float(np.median(np.abs(np.diff(positions_mm)))) / 2, 1e-3)


def _new_chart(analysis: Analysis, width: float, height: float, y_range) -> tuple[Drawing, _Plot]:
    positions = analysis.positions_mm
    half = _half_spacing(positions)
    left, bottom, right, top = MARGINS
    plot = _Plot(
        x_range=(float(positions.max()) + half, float(positions.min()) - half),
        y_range=y_range,
        left=left,
        bottom=bottom,
        width=width - left - right,
        height=height - bottom - top,
    )
    return Drawing(width, height), plot


def _shade(drawing: Drawing, plot: _Plot, analysis: Analysis, mask: np.ndarray, colour) -> None:
    """Shade the slice bands of each run of `mask` over the full plot height."""
    half = _half_spacing(analysis.positions_mm)
    for first, last in runs(mask):
        a = plot.x(float(analysis.positions_mm[first]) + half)
        b = plot.x(float(analysis.positions_mm[last]) - half)
        drawing.add(Rect(min(a, b), plot.bottom, abs(b - a), plot.height, fillColor=colour, strokeColor=None))


def _axes(drawing: Drawing, plot: _Plot, y_label: str, positions_stated: bool) -> None:
    """Frame, ticks and labels of both axes."""
    drawing.add(Rect(plot.left, plot.bottom, plot.width, plot.height, fillColor=None, strokeWidth=0.6))
    x_lo, x_hi = sorted(plot.x_range)
    for value in nice_ticks(x_lo, x_hi, count=8):
        x = plot.x(value)
        drawing.add(Line(x, plot.bottom, x, plot.bottom - 3, strokeWidth=0.6))
        drawing.add(
            String(
                x, plot.bottom - 11, _tick_text(value), fontName=FONT, fontSize=FONT_SIZE, textAnchor="middle"
            )
        )
    for value in nice_ticks(*plot.y_range, count=4):
        y = plot.y(value)
        drawing.add(Line(plot.left, y, plot.left - 3, y, strokeWidth=0.6))
        drawing.add(
            String(
                plot.left - 5, y - 2.5, _tick_text(value), fontName=FONT, fontSize=FONT_SIZE, textAnchor="end"
            )
        )
    drawing.add(
        String(
            plot.left + plot.width / 2,
            plot.bottom - 23,
            POSITION_LABEL if positions_stated else ASSUMED_POSITION_LABEL,
            fontName=FONT,
            fontSize=FONT_SIZE,
            textAnchor="middle",
        )
    )
    label = Group(String(0, 0, y_label, fontName=FONT, fontSize=FONT_SIZE, textAnchor="middle"))
    label.transform = (0, 1, -1, 0, 9, plot.bottom + plot.height / 2)
    drawing.add(label)


def _legend(drawing: Drawing, plot: _Plot, items: list[tuple[str, object]]) -> None:
    """A row of (text, swatch colour) entries above the plot area."""
    x = plot.left
    y = plot.bottom + plot.height + 6
    for text, colour in items:
        drawing.add(Rect(x, y - 1, 9, 7, fillColor=colour, strokeColor=None))
        drawing.add(String(x + 12, y, text, fontName=FONT, fontSize=FONT_SIZE))
        x += 12 + len(text) * FONT_SIZE * 0.5 + 14


def _dashed(drawing: Drawing, plot: _Plot, y_value: float, colour) -> None:
    y = plot.y(y_value)
    drawing.add(
        Line(
            plot.left,
            y,
            plot.left + plot.width,
            y,
            strokeColor=colour,
            strokeWidth=0.9,
            strokeDashArray=[4, 2],
        )
    )


def selector_chart(analysis: Analysis, width: float, height: float) -> Drawing:
    """Dark-pixel count per slice (pixels) along the slice position, the selector's threshold as
    a dashed line and the kept slices shaded."""
    counts = analysis.selection.dark_pixel_counts.astype(float)
    top = max(float(counts.max()), analysis.selection.threshold, 1.0) * 1.08
    drawing, plot = _new_chart(analysis, width, height, (0.0, top))
    _shade(drawing, plot, analysis, analysis.selection.kept, KEPT_SHADE)
    _dashed(drawing, plot, analysis.selection.threshold, MARK_COLOUR)
    points = []
    for position, count in zip(analysis.positions_mm, counts, strict=True):
        points += [plot.x(float(position)), plot.y(count)]
    drawing.add(PolyLine(points, strokeColor=LINE_COLOUR, strokeWidth=1.0))
    _axes(drawing, plot, "dark pixels in region", analysis.series.positions_stated)
    _legend(
        drawing,
        plot,
        [
            ("dark-pixel count", LINE_COLOUR),
            (f"threshold {analysis.selection.threshold:.0f}", MARK_COLOUR),
            ("kept (lung open)", KEPT_SHADE),
        ],
    )
    return drawing


def probability_chart(analysis: Analysis, width: float, height: float) -> Drawing:
    """P(COVID) per classified slice along the slice position: discarded slices shaded grey,
    the slice cut-off as a dashed line, positive slices marked red."""
    drawing, plot = _new_chart(analysis, width, height, (-0.04, 1.04))
    _shade(drawing, plot, analysis, ~analysis.selection.kept, DISCARDED_SHADE)
    _dashed(drawing, plot, analysis.decision.params.slice_cutoff, MARK_COLOUR)
    for first, last in runs(analysis.selection.kept & analysis.classified):
        points = []
        for i in range(first, last + 1):
            points += [plot.x(float(analysis.positions_mm[i])), plot.y(float(analysis.p_covid[i]))]
        drawing.add(PolyLine(points, strokeColor=LINE_COLOUR, strokeWidth=0.8))
    for i in np.flatnonzero(analysis.classified):
        x, y = plot.x(float(analysis.positions_mm[i])), plot.y(float(analysis.p_covid[i]))
        if analysis.decision.positive[i]:
            drawing.add(Circle(x, y, 2.2, fillColor=MARK_COLOUR, strokeColor=None))
        elif analysis.selection.kept[i]:
            drawing.add(Circle(x, y, 1.1, fillColor=LINE_COLOUR, strokeColor=None))
        else:
            drawing.add(Circle(x, y, 1.1, fillColor=colors.grey, strokeColor=None))
    _axes(drawing, plot, "P(COVID)", analysis.series.positions_stated)
    _legend(
        drawing,
        plot,
        [
            ("P(COVID), kept slice", LINE_COLOUR),
            (f"positive (>= cut-off {exact_text(analysis.decision.params.slice_cutoff)})", MARK_COLOUR),
            ("discarded by the selector", DISCARDED_SHADE),
        ],
    )
    return drawing


def colour_bar(width: float, height: float = 30.0, steps: int = 64) -> Drawing:
    """The Grad-CAM colour bar: the overlay colour map from 0 to 1 (the slice's own CAM maximum)
    over dark grey, as transparent as the overlay is (none below `visible_from`, full colour
    from `opaque_at`): the viewer's bar (`lunglens.render.overlay.colour_bar_rgb`)."""
    visible_from = OVERLAY_STYLE.visible_from
    shown = colour_bar_rgb(steps, 1, OVERLAY_STYLE)[0] / 255
    bar_height = 8.0
    bar_bottom = height - bar_height - 2
    drawing = Drawing(width, height)
    step = width / steps
    for k, (r, g, b) in enumerate(shown):
        fill = colors.Color(r, g, b)
        drawing.add(Rect(k * step, bar_bottom, step + 0.3, bar_height, fillColor=fill, strokeColor=None))
    drawing.add(Rect(0, bar_bottom, width, bar_height, fillColor=None, strokeWidth=0.5))
    for value, anchor in ((0.0, "start"), (visible_from, "middle"), (1.0, "end")):
        drawing.add(
            String(
                value * width,
                bar_bottom - 9,
                f"{value:g}",
                fontName=FONT,
                fontSize=FONT_SIZE,
                textAnchor=anchor,
            )
        )
    drawing.add(
        String(
            width / 2,
            bar_bottom - 18,
            f"Grad-CAM / its slice maximum (not drawn below {visible_from:g})",
            fontName=FONT,
            fontSize=FONT_SIZE,
            textAnchor="middle",
        )
    )
    return drawing
