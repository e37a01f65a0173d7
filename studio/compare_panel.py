"""Compare tab: the recommendation card above bar charts per metric, Pareto scatters with the front, per-layer
channels of a pruned variant against its parent, and the deployment view (FPS per resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from core.compare import Recommendations, VariantRow, collapsed, pareto_front, recommend
from core.metrics.accuracy_text import resolution_text
from core.project import Variant
from studio.bar_charts import BarCharts
from studio.charts import NO_VARIANTS, ChartOrMessage, PlotWithLegend, variant_colour
from studio.deployment_view import DeploymentView
from studio.state import StudioState
from studio.theme import NEUTRAL, SERIES, WARNING

NOT_PAIRED = ("No variant is paired with its original yet: press Re-measure all in the Variants tab (with labelled "
              "evaluation images open in the Data tab).")


class ParetoPlot(PlotWithLegend):
    """Δtop-1 against the original (paired, with its interval) over a cost; the non-dominated variants, by the
    paired figures, are joined and drawn larger."""

    def __init__(self, cost_key: str, cost_label: str, cost_interval: bool = False) -> None:
        super().__init__()
        self.cost_key = cost_key
        self.cost_interval = cost_interval
        self.plot_item.setLabel("bottom", cost_label)
        self.plot_item.setLabel("left", "Δ top-1 vs original (points, paired)")
        self.plot_item.showGrid(x=True, y=True, alpha=0.3)
        self.front: list[VariantRow] = []
        self.error_bars: pg.ErrorBarItem | None = None

    def show_rows(self, rows: Sequence[VariantRow], max_drop: float) -> str:
        """Draws the rows; returns what to show instead when there is nothing to draw."""
        plot = self.plot_item
        plot.clear()
        self.legend.clear()
        self.error_bars = None
        measured = [r for r in rows if r.delta_top1 is not None and getattr(r, self.cost_key) is not None]
        self.front = []
        if not measured:
            return NOT_PAIRED if rows else NO_VARIANTS
        points = [(float(getattr(r, self.cost_key)), float(r.delta_top1 or 0.0)) for r in measured]
        front = pareto_front(points)
        self.front = [measured[i] for i in front]
        for index, row in enumerate(measured):
            on_front = index in front
            item = plot.plot([points[index][0]], [points[index][1]], pen=None, symbol="o" if on_front else "t",
                             symbolSize=14 if on_front else 9, symbolBrush=variant_colour(index, row, max_drop))
            self.legend.addItem(item, row.name + (" (collapsed)" if collapsed(row, max_drop) else ""))
        xs = np.array([p[0] for p in points])
        ys = np.array([p[1] for p in points])
        deltas = [r.delta_top1_ci95 or (p[1], p[1]) for r, p in zip(measured, points, strict=True)]
        spans: dict[str, np.ndarray] = {"top": np.array([d[1] for d in deltas]) - ys,
                                        "bottom": ys - np.array([d[0] for d in deltas])}
        if self.cost_interval:
            costs = [r.latency_ratio_ci95 or (p[0], p[0]) for r, p in zip(measured, points, strict=True)]
            spans["right"] = np.array([c[1] for c in costs]) - xs
            spans["left"] = xs - np.array([c[0] for c in costs])
        self.error_bars = pg.ErrorBarItem(x=xs, y=ys, beam=0.0, pen=pg.mkPen(NEUTRAL, width=1), **spans)
        plot.addItem(self.error_bars)
        plot.addLine(y=-max_drop, pen=pg.mkPen(WARNING, width=1, style=pg.QtCore.Qt.PenStyle.DotLine))
        if len(front) > 1:
            plot.plot([points[i][0] for i in front], [points[i][1] for i in front],
                      pen=pg.mkPen(NEUTRAL, width=2, style=pg.QtCore.Qt.PenStyle.DashLine))
        return ""


class ChannelsPlot(PlotWithLegend):
    """Output channels per layer of the selected variant against its parent (measured when stored); the title says
    how many layers are narrower."""

    def __init__(self) -> None:
        super().__init__()
        self.plot_item.setLabel("left", "output channels")
        self.plot_item.setLabel("bottom", "layer (network order)")
        self.plot_item.showGrid(y=True, alpha=0.3)

    def show_variant(self, variant: Variant | None, parent: Variant | None) -> str:
        """Draws the two; returns what to show instead when there is nothing to draw."""
        plot = self.plot_item
        plot.clear()
        self.legend.clear()
        plot.setTitle(None)
        if variant is None or parent is None:
            return "Select a variant with a parent in the Variants tab to compare its channels with its parent's."
        mine, theirs = variant.metrics.channels, parent.metrics.channels
        if not mine or not theirs:
            return "Channel counts were not recorded for this variant (stored by an older studio)."
        layers = list(theirs)
        xs = list(range(len(layers)))
        for name, counts, colour in ((parent.name, theirs, NEUTRAL), (variant.name, mine, SERIES[0])):
            line = plot.plot(xs, [counts.get(layer, 0) for layer in layers], pen=pg.mkPen(colour, width=2))
            self.legend.addItem(line, name)
        narrower = sum(mine.get(name, 0) < theirs[name] for name in layers)
        plot.setTitle(f"{narrower} of {len(layers)} layers are narrower than in {escape(parent.name)}")
        return ""


PICK_FOR_SPEED = "Select a variant in the Variants tab to see its speed in LiteRT, measured on this computer."


def recommendation_html(recommendations: Recommendations) -> str:
    """The card: each pick with its evidence (a link to re-measure when it is thin), then what was left out."""
    if recommendations.original is None:
        return "Recommendations appear once variants are measured."
    lines = [f"Among the variants of <b>{escape(recommendations.original.name)}</b> whose estimated loss is at "
             f"most {recommendations.max_drop:g} points of top-1 (paired, on the same images):"]
    images = max((pick.row.paired_n or 0 for pick in recommendations.picks), default=0)
    if images:
        lines.append(f"<i>{escape(resolution_text(images).capitalize())}.</i>")
    for pick in recommendations.picks:
        weak = ' — evidence is thin: <a href="remeasure">Re-measure</a>' if pick.weak else ""
        lines.append(f"<b>{pick.title}:</b> {escape(pick.row.name)} — {escape(pick.why)}{weak}")
    if not recommendations.picks:
        lines.append('None yet: no variant is measured to meet the target (<a href="remeasure">Re-measure all</a>).')
    for row, why in recommendations.excluded:
        lines.append(f"<b>Not recommended:</b> {escape(row.name)} — {escape(why)}")
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
        self.deployment = DeploymentView()
        self.frames = {chart: ChartOrMessage(chart) for chart in (self.bars, self.pareto_latency, self.pareto_size,
                                                                  self.channels)}
        self._pending: tuple[Sequence[VariantRow], Recommendations] | None = None
        self._pending_selection: tuple[Variant | None, Variant | None] | None = None
        self.card = QLabel("Recommendations appear once variants are measured.")
        self.card.setWordWrap(True)
        self.card.setObjectName("recommendations")
        self.card.linkActivated.connect(lambda _link: self.remeasure_requested.emit())
        self.headline = QLabel(PICK_FOR_SPEED)
        self.headline.setWordWrap(True)
        self.headline.setObjectName("speed-headline")
        self.accepted_drop = QDoubleSpinBox()
        self.accepted_drop.setRange(0.0, 50.0)
        self.accepted_drop.setSingleStep(0.5)
        self.accepted_drop.setSuffix(" points")
        self.accepted_drop.setToolTip("Recommendations consider only variants that lose at most this much top-1 "
                                      "against their original (paired on the same images); it starts at the "
                                      "recipe's target")
        self.accepted_drop.editingFinished.connect(lambda: self.accepted_drop_changed.emit(self.accepted_drop.value()))
        self.views = QTabWidget()
        self.views.addTab(self.frames[self.bars], "Bars")
        self.views.addTab(self.frames[self.pareto_latency], "Accuracy vs latency")
        self.views.addTab(self.frames[self.pareto_size], "Accuracy vs size")
        self.views.addTab(self.frames[self.channels], "Channels per layer")
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
        layout.addWidget(self.headline)
        layout.addWidget(self.views, 1)

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the lineage compared, the recommendation's drop or the selection
        change."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._redraw_rows()
        self._redraw_selection()

    def _state_changed(self, names: frozenset[str]) -> None:
        lineage = {"project", "revision", "latency_runtime", "shown_lineage", "model_variant", "report",
                   "accepted_drop", "recipe"}
        # With no stored current model, the variant picked in Variants chooses the lineage compared.
        if names & lineage or ("selected_variant" in names and self._state.model_variant is None):
            self._redraw_rows()
        if names & {"project", "revision", "latency_runtime", "selected_variant", "target_fps"}:
            self._redraw_selection()

    def _redraw_rows(self) -> None:
        state = self._state
        root, lineage = state.compared_lineage()
        self.show_rows(lineage, recommend(lineage, state.recommendation_drop(), original=root))

    def _redraw_selection(self) -> None:
        variant, parent, row = self._state.selection()
        self.show_selection(variant, parent, self._state.target_fps, row.speed_headline() if row is not None else "")

    def show_rows(self, rows: Sequence[VariantRow], recommendations: Recommendations) -> None:
        """The card now; the charts now if the tab is on screen, else when it is shown: redrawing hidden charts
        after every job took the GUI thread ~40 ms."""
        self._pending = (rows, recommendations)
        self.accepted_drop.setValue(recommendations.max_drop)
        self.card.setText(recommendation_html(recommendations))
        self.deployment.show_rows(rows)  # its selector must list the variants even while the tab is hidden
        if self.isVisible():
            self._draw()

    def showEvent(self, event: Any) -> None:
        self._draw()
        super().showEvent(event)

    def _draw(self) -> None:
        if self._pending_selection is not None:
            variant, parent = self._pending_selection
            self._pending_selection = None
            self.frames[self.channels].show_chart_or(self.channels.show_variant(variant, parent))
        if self._pending is None:
            return
        rows, recommendations = self._pending
        self._pending = None
        for chart in (self.bars, self.pareto_latency, self.pareto_size):
            self.frames[chart].show_chart_or(chart.show_rows(rows, recommendations.max_drop))

    def show_selection(self, variant: Variant | None, parent: Variant | None, target_fps: float, speed: str = ""
                       ) -> None:
        """The variant selected in the Variants tab: its speed in LiteRT (the headline figure) and the deployment
        view's pick now, its channels chart now if the tab is on screen, else when it is shown (as the other charts)."""
        self._pending_selection = (variant, parent)
        named = f"<b>{escape(variant.name)}</b> — {escape(speed)}" if variant and speed else PICK_FOR_SPEED
        self.headline.setText(named)
        self.deployment.follow(variant.id if variant else None, target_fps)
        if self.isVisible():
            self._draw()
