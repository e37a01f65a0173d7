"""The Compare tab's bars: a row per variant, named once on the left in full, and a column per metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

from core.compare import VariantRow
from studio.charts import NO_VARIANTS, variant_colour
from studio.theme import NEUTRAL

# (title, unit, row attribute, what to do when no variant has it)
BAR_METRICS = (
    ("Size", "MB", "size_mb", "Not measured."),
    ("MACs", "M", "macs_m", "Not counted."),
    ("Latency vs original (paired)", "×", "latency_ratio",
     "Not timed against the original yet: Variants tab, Re-measure all."),
    ("Top-1", "%", "top1", "Not evaluated yet: open evaluation images (Data tab), then Variants tab, Re-evaluate."),
)
NOTE_WIDTH = 200  # px: a note wraps within about one column of a window 1280 px wide


def _interval(row: VariantRow, key: str) -> tuple[float, float] | None:
    """The 95 % interval drawn as an error bar: top-1's, or the paired latency ratio's."""
    return {"top1": row.top1_ci95, "latency_ratio": row.latency_ratio_ci95}.get(key)


class BarCharts(pg.GraphicsLayoutWidget):
    """Horizontal bars, because a standing bar leaves its name the width of one bar: the rows share one axis of
    full names. Each metric from zero, with the 95 % interval as an error bar where one was measured; collapsed
    variants in red."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, pg.PlotItem] = {}
        self.error_bars: dict[str, pg.ErrorBarItem] = {}
        for column, (title, unit, key, _) in enumerate(BAR_METRICS):
            plot = self.addPlot(row=0, col=column, title=f"{title} ({unit})")
            plot.showGrid(x=True, alpha=0.3)
            plot.invertY(True)  # the first variant on top, as in the Variants table
            if self.plots:
                plot.setYLink(next(iter(self.plots.values())))
                plot.getAxis("left").setStyle(showValues=False)  # the names stand once, on the left
            self.plots[key] = plot
        self.names: pg.AxisItem = next(iter(self.plots.values())).getAxis("left")  # widens to its longest name

    def show_rows(self, rows: Sequence[VariantRow], max_drop: float) -> str:
        """Draws the rows; returns what to show instead when there is nothing to draw."""
        self.error_bars = {}
        for plot in self.plots.values():
            plot.clear()
        if not rows:
            return NO_VARIANTS
        self.names.setTicks([[(index, row.name) for index, row in enumerate(rows)]])
        for _, _, key, missing in BAR_METRICS:
            plot = self.plots[key]
            plot.setYRange(-0.5, len(rows) - 0.5, padding=0)
            if not self._draw(plot, key, rows, max_drop):
                note = pg.TextItem(missing, color=pg.getConfigOption("foreground"), anchor=(0.5, 0.5))
                note.setTextWidth(NOTE_WIDTH)
                note.setPos(0.5, (len(rows) - 1) / 2)
                plot.setXRange(0, 1, padding=0)
                plot.addItem(note)
        return ""

    def _draw(self, plot: pg.PlotItem, key: str, rows: Sequence[VariantRow], max_drop: float) -> bool:
        """One metric's bars and intervals; False when no variant has it."""
        shown = [(index, getattr(row, key)) for index, row in enumerate(rows) if getattr(row, key) is not None]
        if not shown:
            return False
        indices, values = zip(*shown, strict=True)
        brushes = [pg.mkBrush(variant_colour(index, rows[index], max_drop)) for index in indices]
        plot.addItem(pg.BarGraphItem(x0=0, y=list(indices), width=list(values), height=0.7, brushes=brushes))
        highest = max(values)
        intervals = [(index, value, ci) for index, value in shown if (ci := _interval(rows[index], key))]
        if intervals:
            bars = pg.ErrorBarItem(
                x=np.array([value for _, value, _ in intervals], dtype=float),
                y=np.array([index for index, _, _ in intervals], dtype=float),
                right=np.array([ci[1] - value for _, value, ci in intervals]),
                left=np.array([value - ci[0] for _, value, ci in intervals]),
                beam=0.25, pen=pg.mkPen(NEUTRAL, width=1.5),
            )
            plot.addItem(bars)
            self.error_bars[key] = bars
            highest = max(highest, max(ci[1] for _, _, ci in intervals))
        plot.setXRange(0, 1.08 * highest, padding=0)  # bars start at zero
        return True
