"""Compare tab: bar charts per metric, Pareto scatters with the front, per-layer channels of a pruned
variant against its parent, the recommendation card and the deployment view (FPS per resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.compare import Recommendation, VariantRow, fps_verdict, pareto_front
from core.project import Variant

BAR_METRICS = (
    ("Size", "MB", "size_mb"),
    ("MACs", "M", "macs_m"),
    ("Latency (median)", "ms", "latency_ms"),
    ("Top-1", "%", "top1"),
)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _short(name: str) -> str:
    return name if len(name) <= 18 else name[:17] + "…"


class BarCharts(pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, pg.PlotItem] = {}
        for index, (title, unit, key) in enumerate(BAR_METRICS):
            plot = self.addPlot(row=index // 2, col=index % 2, title=f"{title} ({unit})")
            plot.showGrid(y=True, alpha=0.3)
            self.plots[key] = plot

    def show_rows(self, rows: Sequence[VariantRow]) -> None:
        ticks = [[(i, _short(r.name)) for i, r in enumerate(rows)]]
        for key, plot in self.plots.items():
            plot.clear()
            values = [getattr(r, key) for r in rows]
            shown = [(i, v) for i, v in enumerate(values) if v is not None]
            if shown:
                xs, heights = zip(*shown, strict=True)
                brushes = [pg.mkBrush(PALETTE[i % len(PALETTE)]) for i in xs]
                plot.addItem(pg.BarGraphItem(x=list(xs), height=list(heights), width=0.7, brushes=brushes))
            plot.getAxis("bottom").setTicks(ticks)


class ParetoPlot(pg.PlotWidget):
    """Accuracy against a cost; the non-dominated variants are joined and drawn larger."""

    def __init__(self, cost_key: str, cost_label: str) -> None:
        super().__init__()
        self.cost_key = cost_key
        self.setLabel("bottom", cost_label)
        self.setLabel("left", "Top-1 accuracy", units="%")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.addLegend(offset=(-10, 10))
        self.front: list[VariantRow] = []

    def show_rows(self, rows: Sequence[VariantRow]) -> None:
        self.clear()
        measured = [r for r in rows if r.top1 is not None and getattr(r, self.cost_key) is not None]
        points = [(getattr(r, self.cost_key), r.top1) for r in measured]
        front = pareto_front(points)  # type: ignore[arg-type]
        self.front = [measured[i] for i in front]
        for index, row in enumerate(measured):
            on_front = index in front
            self.plot([points[index][0]], [points[index][1]], pen=None, symbol="o" if on_front else "t",
                      symbolSize=14 if on_front else 9, symbolBrush=PALETTE[index % len(PALETTE)],
                      name=_short(row.name))  # fmt: skip
        if len(front) > 1:
            self.plot([points[i][0] for i in front], [points[i][1] for i in front],
                      pen=pg.mkPen("#888", width=2, style=pg.QtCore.Qt.PenStyle.DashLine))  # fmt: skip


class ChannelsPlot(pg.PlotWidget):
    """Output channels per layer of the selected variant against its parent (measured when stored)."""

    def __init__(self) -> None:
        super().__init__()
        self.setLabel("left", "output channels")
        self.setLabel("bottom", "layer (network order)")
        self.addLegend()
        self.showGrid(y=True, alpha=0.3)

    def show_variant(self, variant: Variant | None, parent: Variant | None) -> str:
        self.clear()
        if variant is None or parent is None:
            return "Select a variant with a parent to compare its channels."
        mine, theirs = variant.metrics.get("channels"), parent.metrics.get("channels")
        if not mine or not theirs:
            return "Channel counts were not recorded for this variant (stored by an older studio)."
        layers = list(theirs)
        xs = list(range(len(layers)))
        self.plot(xs, [theirs[name] for name in layers], pen=pg.mkPen("#999", width=2), name=_short(parent.name))
        self.plot(xs, [mine.get(name, 0) for name in layers], pen=pg.mkPen("#d62728", width=2),
                  name=_short(variant.name))  # fmt: skip
        narrower = sum(mine.get(name, 0) < theirs[name] for name in layers)
        return f"{narrower} of {len(layers)} layers are narrower than in {parent.name}."


class DeploymentView(QWidget):
    """Measured FPS of the selected variant at each input resolution against a target."""

    measure_requested = Signal(str)
    target_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "input resolution", units="px")
        self.plot.setLabel("left", "frames per second (1 thread)")
        self.plot.showGrid(y=True, alpha=0.3)
        self.target = QDoubleSpinBox()
        self.target.setRange(1, 1000)
        self.target.setSuffix(" FPS target")
        self.target.setToolTip("The frame rate your app needs, e.g. 30 for live camera")
        self.measure = QPushButton("Measure at every resolution")
        self.measure.setToolTip("Time the selected variant at 128, 160, 192 and 224 px (a job)")
        self.measure.setEnabled(False)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.variant_id: str | None = None
        row = QHBoxLayout()
        row.addWidget(self.target)
        row.addWidget(self.measure)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.verdict)
        self.measure.clicked.connect(lambda: self.variant_id and self.measure_requested.emit(self.variant_id))
        self.target.editingFinished.connect(lambda: self.target_changed.emit(self.target.value()))

    def show_variant(self, variant: Variant | None, target_fps: float) -> None:
        self.variant_id = variant.id if variant else None
        self.measure.setEnabled(variant is not None)
        self.target.setValue(target_fps)
        self.plot.clear()
        measured: dict[str, Any] = (variant.metrics.get("latency_by_resolution") or {}) if variant else {}
        if not measured:
            self.verdict.setText("Not measured yet: select a variant and press “Measure at every resolution”.")
            return
        sizes = sorted(int(size) for size in measured)
        fps = [measured[str(size)]["fps"] for size in sizes]
        self.plot.addItem(pg.BarGraphItem(x=sizes, height=fps, width=20, brush="#1f77b4"))
        self.plot.addLine(y=target_fps, pen=pg.mkPen("#d62728", width=2))
        self.verdict.setText(f"{variant.name if variant else ''}: " + "; ".join(
            f"{size} px {value:.0f} FPS ({fps_verdict(value, target_fps)})"
            for size, value in zip(sizes, fps, strict=True)
        ))  # fmt: skip


class ComparePanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.bars = BarCharts()
        self.pareto_latency = ParetoPlot("latency_ms", "latency (ms, median)")
        self.pareto_size = ParetoPlot("size_mb", "size (MB)")
        self.channels = ChannelsPlot()
        self.channels_note = QLabel()
        self.deployment = DeploymentView()
        self._pending: tuple[Sequence[VariantRow], Sequence[Recommendation]] | None = None
        self.card = QLabel("Recommendations appear once variants are measured.")
        self.card.setWordWrap(True)
        self.card.setObjectName("recommendations")
        channels = QWidget()
        channels_layout = QVBoxLayout(channels)
        channels_layout.addWidget(self.channels, 1)
        channels_layout.addWidget(self.channels_note)
        self.views = QTabWidget()
        self.views.addTab(self.bars, "Bars")
        self.views.addTab(self.pareto_latency, "Accuracy vs latency")
        self.views.addTab(self.pareto_size, "Accuracy vs size")
        self.views.addTab(channels, "Channels per layer")
        self.views.addTab(self.deployment, "Deployment")
        box = QGroupBox("Recommendation")
        QVBoxLayout(box).addWidget(self.card)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(self.views, 1)

    def show_rows(self, rows: Sequence[VariantRow], recommendations: Sequence[Recommendation]) -> None:
        """Drawn now if the tab is on screen, else when it is shown: redrawing hidden charts after every
        job took the GUI thread ~40 ms."""
        self._pending = (rows, recommendations)
        if self.isVisible():
            self._draw()

    def showEvent(self, event: Any) -> None:
        self._draw()
        super().showEvent(event)

    def _draw(self) -> None:
        if self._pending is None:
            return
        rows, recommendations = self._pending
        self._pending = None
        self.bars.show_rows(rows)
        self.pareto_latency.show_rows(rows)
        self.pareto_size.show_rows(rows)
        self.card.setText("<br>".join(f"<b>{r.title}:</b> {r.row.name} — {r.why}" for r in recommendations)
                          or "Recommendations appear once variants are measured.")  # fmt: skip

    def show_selection(self, variant: Variant | None, parent: Variant | None, target_fps: float) -> None:
        self.channels_note.setText(self.channels.show_variant(variant, parent))
        self.deployment.show_variant(variant, target_fps)
