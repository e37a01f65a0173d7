"""Compare tab: bar charts per metric, Pareto scatters with the front, per-layer channels of a pruned
variant against its parent, the recommendation card and the deployment view (FPS per resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
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

from core.compare import Recommendations, VariantRow, collapsed, fps_verdict, pareto_front
from core.project import Variant

BAR_METRICS = (
    ("Size", "MB", "size_mb"),
    ("MACs", "M", "macs_m"),
    ("Latency vs original (paired)", "×", "latency_ratio"),
    ("Top-1", "%", "top1"),
)
# Distinct hues for variants; red is kept for collapsed variants only.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
WARNING = "#d62728"


def _short(name: str) -> str:
    return name if len(name) <= 18 else name[:17] + "…"


def _colour(index: int, row: VariantRow, max_drop: float) -> str:
    return WARNING if collapsed(row, max_drop) else PALETTE[index % len(PALETTE)]


def _interval(row: VariantRow, key: str) -> tuple[float, float] | None:
    """The 95 % interval drawn as an error bar: top-1's, or the paired latency ratio's."""
    return {"top1": row.top1_ci95, "latency_ratio": row.latency_ratio_ci95}.get(key)


class BarCharts(pg.GraphicsLayoutWidget):
    """One bar per variant for each metric, from zero, with the 95 % interval where one was measured; collapsed
    variants in red."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, pg.PlotItem] = {}
        self.error_bars: dict[str, pg.ErrorBarItem] = {}
        for index, (title, unit, key) in enumerate(BAR_METRICS):
            plot = self.addPlot(row=index // 2, col=index % 2, title=f"{title} ({unit})")
            plot.showGrid(y=True, alpha=0.3)
            self.plots[key] = plot

    def show_rows(self, rows: Sequence[VariantRow], max_drop: float) -> None:
        ticks = [[(i, _short(r.name)) for i, r in enumerate(rows)]]
        self.error_bars = {}
        for key, plot in self.plots.items():
            plot.clear()
            shown = [(i, getattr(r, key)) for i, r in enumerate(rows) if getattr(r, key) is not None]
            if shown:
                xs, heights = zip(*shown, strict=True)
                brushes = [pg.mkBrush(_colour(i, rows[i], max_drop)) for i in xs]
                plot.addItem(pg.BarGraphItem(x=list(xs), height=list(heights), width=0.7, brushes=brushes))
                highest = max(heights)
                with_interval = [(i, h, _interval(rows[i], key)) for i, h in shown if _interval(rows[i], key)]
                if with_interval:
                    bars = pg.ErrorBarItem(
                        x=np.array([i for i, _, _ in with_interval], dtype=float),
                        y=np.array([h for _, h, _ in with_interval], dtype=float),
                        top=np.array([ci[1] - h for _, h, ci in with_interval]),  # type: ignore[index]
                        bottom=np.array([h - ci[0] for _, h, ci in with_interval]),  # type: ignore[index]
                        beam=0.25, pen=pg.mkPen("#444", width=1.5),
                    )  # fmt: skip
                    plot.addItem(bars)
                    self.error_bars[key] = bars
                    highest = max(highest, max(ci[1] for _, _, ci in with_interval))  # type: ignore[index]
                plot.setYRange(0, 1.08 * highest, padding=0)  # bars start at zero
            plot.getAxis("bottom").setTicks(ticks)


class ParetoPlot(pg.GraphicsLayoutWidget):
    """Δtop-1 against the original (paired, with its interval) over a cost; the non-dominated variants, by the
    paired figures, are joined and drawn larger. The legend sits beside the plot, never over a point."""

    def __init__(self, cost_key: str, cost_label: str, cost_interval: bool = False) -> None:
        super().__init__()
        self.cost_key = cost_key
        self.cost_interval = cost_interval
        self.plot_item: pg.PlotItem = self.addPlot(row=0, col=0)
        self.plot_item.setLabel("bottom", cost_label)
        self.plot_item.setLabel("left", "Δ top-1 vs original (points, paired)")
        self.plot_item.showGrid(x=True, y=True, alpha=0.3)
        self.legend = pg.LegendItem()
        self.addItem(self.legend, row=0, col=1)
        self.front: list[VariantRow] = []
        self.error_bars: pg.ErrorBarItem | None = None
        self.empty = pg.TextItem("Variants appear here once they are measured against their original "
                                 "(Variants tab: Re-measure all).", anchor=(0.5, 0.5))  # fmt: skip

    def show_rows(self, rows: Sequence[VariantRow], max_drop: float) -> None:
        plot = self.plot_item
        plot.clear()
        self.legend.clear()
        self.error_bars = None
        measured = [r for r in rows if r.delta_top1 is not None and getattr(r, self.cost_key) is not None]
        self.front = []
        if not measured:
            plot.addItem(self.empty)
            return
        points = [(float(getattr(r, self.cost_key)), float(r.delta_top1 or 0.0)) for r in measured]
        front = pareto_front(points)
        self.front = [measured[i] for i in front]
        for index, row in enumerate(measured):
            on_front = index in front
            item = plot.plot([points[index][0]], [points[index][1]], pen=None, symbol="o" if on_front else "t",
                             symbolSize=14 if on_front else 9, symbolBrush=_colour(index, row, max_drop))  # fmt: skip
            self.legend.addItem(item, _short(row.name) + (" (collapsed)" if collapsed(row, max_drop) else ""))
        xs = np.array([p[0] for p in points])
        ys = np.array([p[1] for p in points])
        deltas = [r.delta_top1_ci95 or (p[1], p[1]) for r, p in zip(measured, points, strict=True)]
        spans: dict[str, np.ndarray] = {"top": np.array([d[1] for d in deltas]) - ys,
                                        "bottom": ys - np.array([d[0] for d in deltas])}  # fmt: skip
        if self.cost_interval:
            costs = [r.latency_ratio_ci95 or (p[0], p[0]) for r, p in zip(measured, points, strict=True)]
            spans["right"] = np.array([c[1] for c in costs]) - xs
            spans["left"] = xs - np.array([c[0] for c in costs])
        self.error_bars = pg.ErrorBarItem(x=xs, y=ys, beam=0.0, pen=pg.mkPen("#666", width=1), **spans)
        plot.addItem(self.error_bars)
        plot.addLine(y=-max_drop, pen=pg.mkPen(WARNING, width=1, style=pg.QtCore.Qt.PenStyle.DotLine))
        if len(front) > 1:
            plot.plot([points[i][0] for i in front], [points[i][1] for i in front],
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


def recommendation_html(recommendations: Recommendations) -> str:
    """The card: each pick with its evidence (a link to re-measure when it is thin), then what was left out."""
    if recommendations.original is None:
        return "Recommendations appear once variants are measured."
    lines = [f"Among the variants of <b>{escape(recommendations.original.name)}</b> that lose at most "
             f"{recommendations.max_drop:g} points of top-1:"]  # fmt: skip
    for pick in recommendations.picks:
        weak = ' — evidence is thin: <a href="remeasure">Re-measure</a>' if pick.weak else ""
        lines.append(f"<b>{pick.title}:</b> {escape(pick.row.name)} — {escape(pick.why)}{weak}")
    if not recommendations.picks:
        lines.append('None yet: no variant is measured within the target (<a href="remeasure">Re-measure all</a>).')
    for row, why in recommendations.excluded:
        lines.append(f"<span style='color:{WARNING}'>Not recommended:</span> {escape(row.name)} — {escape(why)}")
    return "<br>".join(lines)


class ComparePanel(QWidget):
    remeasure_requested = Signal()
    accepted_drop_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.bars = BarCharts()
        self.pareto_latency = ParetoPlot("latency_ratio", "latency vs original (×, paired)", cost_interval=True)
        self.pareto_size = ParetoPlot("size_mb", "size (MB)")
        self.channels = ChannelsPlot()
        self.channels_note = QLabel()
        self.deployment = DeploymentView()
        self._pending: tuple[Sequence[VariantRow], Recommendations] | None = None
        self.card = QLabel("Recommendations appear once variants are measured.")
        self.card.setWordWrap(True)
        self.card.setObjectName("recommendations")
        self.card.linkActivated.connect(lambda _link: self.remeasure_requested.emit())
        self.accepted_drop = QDoubleSpinBox()
        self.accepted_drop.setRange(0.0, 50.0)
        self.accepted_drop.setSingleStep(0.5)
        self.accepted_drop.setSuffix(" points")
        self.accepted_drop.setToolTip("Recommendations consider only variants that lose at most this much top-1 "
                                      "against their original (paired on the same images); it starts at the "
                                      "recipe's target")  # fmt: skip
        self.accepted_drop.editingFinished.connect(lambda: self.accepted_drop_changed.emit(self.accepted_drop.value()))
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
        box_layout = QVBoxLayout(box)
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("Points of accuracy I can lose"))
        target_row.addWidget(self.accepted_drop)
        target_row.addStretch(1)
        box_layout.addLayout(target_row)
        box_layout.addWidget(self.card)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(self.views, 1)

    def show_rows(self, rows: Sequence[VariantRow], recommendations: Recommendations) -> None:
        """The card now; the charts now if the tab is on screen, else when it is shown: redrawing hidden charts
        after every job took the GUI thread ~40 ms."""
        self._pending = (rows, recommendations)
        self.accepted_drop.setValue(recommendations.max_drop)
        self.card.setText(recommendation_html(recommendations))
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
        self.bars.show_rows(rows, recommendations.max_drop)
        self.pareto_latency.show_rows(rows, recommendations.max_drop)
        self.pareto_size.show_rows(rows, recommendations.max_drop)

    def show_selection(self, variant: Variant | None, parent: Variant | None, target_fps: float) -> None:
        self.channels_note.setText(self.channels.show_variant(variant, parent))
        self.deployment.show_variant(variant, target_fps)
