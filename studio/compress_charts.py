"""The Compress tab's charts: the sensitivity of each layer, and the candidates a target search tried."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel

from core.compress.sensitivity import SensitivityReport
from core.recipe import Verdict
from studio.theme import CHOSEN, COSTLY, GOOD, NEUTRAL, WARNING

NO_REPORT = "Press “Find the fragile layers” to see which layers suffer most."
NO_PROBES = "The analysis found no layer it could change on its own."
NO_CANDIDATES = "The candidates appear here while “Find the best model” runs."


class PlotWithMessage(pg.PlotWidget):
    """A plot covered, while it has nothing to draw, by a sentence saying what will fill it: empty axes tell a user
    nothing. Not studio.charts.ChartOrMessage, which wraps its chart: the Compress tab lays these out, and reads
    them, as plots."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = QLabel(message)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # The chart's own colours (theme: pyqtgraph's background is the palette's Base), so a theme switch follows.
        self.message.setAutoFillBackground(True)
        self.message.setBackgroundRole(QPalette.ColorRole.Base)
        self.message.setForegroundRole(QPalette.ColorRole.Text)
        # Over the whole viewport, axes included (a pyqtgraph view has no frame or scroll bars), sized with it.
        cover = QGridLayout(self.viewport())
        cover.setContentsMargins(0, 0, 0, 0)
        cover.addWidget(self.message)


class SensitivityChart(PlotWithMessage):
    """Agreement with the original per probed layer at the strongest probe: short bars are fragile layers."""

    def __init__(self) -> None:
        super().__init__(NO_REPORT)
        self.setMinimumHeight(180)
        self.setLabel("left", "answers unchanged", units="%")
        self.showGrid(y=True, alpha=0.3)

    def show_report(self, report: SensitivityReport) -> list[str]:
        self.clear()
        probes = report.of("prune") or report.of("quantize")
        strongest: dict[str, Any] = {}
        for probe in probes:
            if probe.layer not in strongest or probe.ratio > strongest[probe.layer].ratio:
                strongest[probe.layer] = probe
        layers = list(strongest)
        heights = [strongest[layer].agreement for layer in layers]
        colors = [pg.mkBrush(WARNING if h < 90 else COSTLY if h < 97 else GOOD) for h in heights]
        self.addItem(pg.BarGraphItem(x=list(range(len(layers))), height=heights, width=0.8, brushes=colors))
        self.getAxis("bottom").setTicks([[(i, name.split(".")[-1] if len(layers) > 12 else name)
                                          for i, name in enumerate(layers)]])
        self.setYRange(min(heights, default=0) - 5, 100)
        if not layers:
            self.message.setText(NO_PROBES)
        self.message.setVisible(not layers)
        return layers


class SearchChart(PlotWithMessage):
    """The search's candidates as they are measured: time against the current model (x) and answers that
    agree with it (y). Scanned candidates are grey; verified ones green (met the target) or red; the chosen
    one is a star."""

    def __init__(self) -> None:
        super().__init__(NO_CANDIDATES)
        self.colors = {"scan": NEUTRAL, "met": GOOD, "chosen": CHOSEN, "rejected": WARNING}
        self.setMinimumHeight(200)
        self.setLabel("bottom", "time per image vs the current model (×)")
        self.setLabel("left", "answers agreeing with the current model", units="%")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.rows: list[dict[str, Any]] = []

    def clear_candidates(self) -> None:
        self.rows = []
        self.clear()
        self.message.show()

    def add_candidate(self, row: dict[str, Any]) -> None:
        ratio, agreement = row.get("latency_ratio"), row.get("agreement")
        if ratio is None or agreement is None:
            return
        self.rows.append(row)
        self.message.hide()
        kind = "scan" if row.get("stage") == "scan" else str(row.get("verdict"))
        chosen = kind == Verdict.CHOSEN
        item = pg.ScatterPlotItem(
            [ratio], [agreement], size=16 if chosen else 9, symbol="star" if chosen else "o",
            brush=pg.mkBrush(self.colors.get(kind, NEUTRAL)), pen=None,
        )
        item.setToolTip(f"{row.get('label')} ({row.get('precision', 'float')}): {row.get('reason', 'scanned')}")
        self.addItem(item)
