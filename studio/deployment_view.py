"""The Compare tab's deployment view: frames per second of a variant, chosen here, at each input resolution."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.compare import VariantRow, fps_verdict
from studio.charts import NO_VARIANTS, ChartOrMessage
from studio.theme import SERIES, WARNING


class DeploymentView(QWidget):
    """Measured FPS of the variant picked in its own selector against a target. The selector follows the Variants
    tab when its selection changes, and otherwise keeps what was picked here, through refreshes and jobs."""

    measure_requested = Signal(str)  # variant id
    target_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.variant = QComboBox()
        self.variant.setToolTip("The variant to time at each input resolution (frames per second, FPS)")
        self.variant.setWhatsThis("Pick any variant of the project to see how many frames per second (FPS) it runs "
                                  "at 128, 160, 192 and 224 px. Selecting a variant in the Variants tab picks it "
                                  "here too.")
        self.target = QDoubleSpinBox()
        self.target.setRange(1, 1000)
        self.target.setSuffix(" FPS target")
        self.target.setToolTip("The frame rate your app needs (frames per second, FPS), e.g. 30 for live camera")
        self.target.setWhatsThis("The frame rate the app must reach. The red line on the chart marks it, and the "
                                 "line under the chart says at which resolutions the variant meets it.")
        self.measure = QPushButton("Measure at every resolution")
        self.measure.setToolTip("Time the chosen variant at 128, 160, 192 and 224 px, one thread (a job)")
        self.measure.setWhatsThis("Runs a job that times the chosen variant's inference (its latency, as FPS) at "
                                  "each input resolution on one CPU thread; the result is stored in the project.")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "input resolution", units="px")
        self.plot.setLabel("left", "frames per second (1 thread)")
        self.plot.showGrid(y=True, alpha=0.3)
        self.chart = ChartOrMessage(self.plot)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.rows: dict[str, VariantRow] = {}
        self._followed: str | None = None
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Variant"))
        controls.addWidget(self.variant, 1)
        controls.addWidget(self.target)
        controls.addWidget(self.measure)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.verdict)
        self.variant.currentIndexChanged.connect(self._draw)
        self.target.valueChanged.connect(self._draw)
        self.measure.clicked.connect(self._request_measure)
        self.target.editingFinished.connect(lambda: self.target_changed.emit(self.target.value()))

    def _request_measure(self) -> None:
        chosen = self.current_id()
        if chosen:
            self.measure_requested.emit(chosen)

    def current_id(self) -> str | None:
        return self.variant.currentData()

    def show_rows(self, rows: Sequence[VariantRow]) -> None:
        """The project's variants in the selector, keeping the one picked while it exists."""
        picked = self.current_id()
        self.rows = {row.id: row for row in rows}
        with QSignalBlocker(self.variant):
            self.variant.clear()
            for row in rows:
                self.variant.addItem(row.name, row.id)
            self.variant.setCurrentIndex(max(0, self.variant.findData(picked)))
        self._draw()

    def follow(self, variant_id: str | None, target_fps: float) -> None:
        """The Variants tab's selection, only when it changed since the last call; and the target."""
        if variant_id != self._followed:
            self._followed = variant_id
            if (index := self.variant.findData(variant_id)) >= 0:
                self.variant.setCurrentIndex(index)
        self.target.setValue(target_fps)

    def _draw(self) -> None:
        row = self.rows.get(self.current_id() or "")
        self.measure.setEnabled(row is not None)
        self.plot.clear()
        self.verdict.clear()
        if row is None or not row.fps_by_resolution:
            self.chart.show_chart_or(NO_VARIANTS if row is None else f"Not measured yet: press “Measure at every "
                                     f"resolution” to time {row.name} at 128, 160, 192 and 224 px.")
            return
        sizes, fps = zip(*row.fps_by_resolution, strict=True)
        target = self.target.value()
        self.plot.addItem(pg.BarGraphItem(x=list(sizes), height=list(fps), width=20, brush=SERIES[0]))
        self.plot.addLine(y=target, pen=pg.mkPen(WARNING, width=2), label=f"target {target:g} FPS",
                          labelOpts={"color": pg.getConfigOption("foreground"), "position": 0.95})
        self.chart.show_chart_or("")
        self.verdict.setText(f"{row.name}: " + "; ".join(
            f"{size} px {value:.0f} FPS ({fps_verdict(value, target)})" for size, value in row.fps_by_resolution))
