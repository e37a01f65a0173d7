"""The Compress tab's sensitivity analysis: which layers change the answers most when pruned or quantized, drawn as
bars, and the suggestion it makes (per-layer pruning ratios for a MACs target, layers kept in float)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from core.compress.sensitivity import SensitivityReport
from studio.compress_charts import SensitivityChart
from studio.compress_words import TIPS

NOT_ANALYZED = "Run the analysis to see which layers are fragile."


class SensitivityBox(QGroupBox):
    analyze_requested = Signal()
    suggestion_requested = Signal(float)  # the share of MACs to keep

    def __init__(self) -> None:
        super().__init__("Which layers suffer most (sensitivity analysis)")
        self.report: SensitivityReport | None = None
        self.setToolTip(TIPS["sensitivity"])
        self.analyze_button = QPushButton("Find the fragile layers")
        self.analyze_button.setToolTip(TIPS["sensitivity"])
        self.target = QSpinBox()
        self.target.setRange(10, 99)
        self.target.setValue(70)
        self.target.setSuffix(" % of MACs")
        self.target.setToolTip(TIPS["target"])
        self.apply_button = QPushButton("Apply suggestion")
        self.apply_button.setEnabled(False)
        self.apply_button.setToolTip("Set per-layer pruning ratios (and layers kept in float) from the analysis")
        self.chart = SensitivityChart()
        self.note = QLabel(NOT_ANALYZED)
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.analyze_button)
        row.addWidget(QLabel("Keep"))
        row.addWidget(self.target)
        row.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.chart)
        layout.addWidget(self.note)
        self.analyze_button.clicked.connect(self.analyze_requested)
        self.apply_button.clicked.connect(lambda: self.suggestion_requested.emit(self.target.value() / 100))

    def show_report(self, report: SensitivityReport) -> None:
        self.report = report
        layers = self.chart.show_report(report)
        keep = report.keep_float_suggestion()
        self.note.setText(
            f"{len(layers)} layers probed on {report.images} images. Red bars change the answers most."
            + (f" Suggested to keep in float: {', '.join(keep)}." if keep else "")
        )
        self.apply_button.setEnabled(True)

    def forget(self) -> None:
        """Another model is current: its analysis goes."""
        self.report = None
        self.chart.clear()
        self.chart.message.show()
        self.apply_button.setEnabled(False)
        self.note.setText(NOT_ANALYZED)
