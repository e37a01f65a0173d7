"""What the Compare tab's charts share: a variant's colour, a plot with its legend beside it, and a frame that
shows a sentence saying what to do, instead of empty axes, when there is nothing to draw."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QWidget

from core.compare import VariantRow, collapsed
from studio.theme import SERIES, WARNING

NO_VARIANTS = "No variants yet — compress the model in the Compress tab to compare it here."


def variant_colour(index: int, row: VariantRow, max_drop: float) -> str:
    """Distinct hues by position; red for a variant whose accuracy collapsed, whatever its position."""
    return WARNING if collapsed(row, max_drop) else SERIES[index % len(SERIES)]


class PlotWithLegend(pg.GraphicsLayoutWidget):
    """A plot and, in the next column of its layout, its legend: no entry ever hides a point."""

    def __init__(self) -> None:
        super().__init__()
        self.plot_item: pg.PlotItem = self.addPlot(row=0, col=0)
        self.legend = pg.LegendItem()
        # Its own height, at the top: stretched to the plot's, it would spread entries apart from their symbols.
        self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.addItem(self.legend, row=0, col=1)


class ChartOrMessage(QStackedWidget):
    """A chart, or in its place a sentence saying what to do: empty axes tell a user nothing."""

    def __init__(self, chart: QWidget) -> None:
        super().__init__()
        self.chart = chart
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(chart)
        self.addWidget(self.message)

    def show_chart_or(self, message: str) -> None:
        """The chart when `message` is empty, else the message."""
        self.message.setText(message)
        self.setCurrentWidget(self.message if message else self.chart)
