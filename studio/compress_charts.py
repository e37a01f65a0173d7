"""The Compress tab's charts: the sensitivity of each layer, and the candidates a target search tried."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg

from core.compress.sensitivity import SensitivityReport


class SensitivityChart(pg.PlotWidget):
    """Agreement with the original per probed layer at the strongest probe: short bars are fragile layers."""

    def __init__(self) -> None:
        super().__init__()
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
        colors = [pg.mkBrush("#d9534f" if h < 90 else "#f0ad4e" if h < 97 else "#5cb85c") for h in heights]
        self.addItem(pg.BarGraphItem(x=list(range(len(layers))), height=heights, width=0.8, brushes=colors))
        self.getAxis("bottom").setTicks([[(i, name.split(".")[-1] if len(layers) > 12 else name)
                                          for i, name in enumerate(layers)]])  # fmt: skip
        self.setYRange(min(heights, default=0) - 5, 100)
        return layers


class SearchChart(pg.PlotWidget):
    """The search's candidates as they are measured: time against the current model (x) and answers that
    agree with it (y). Scanned candidates are grey; verified ones green (met the target) or red; the chosen
    one is a star."""

    def __init__(self) -> None:
        super().__init__()
        self.colors = {"scan": "#9e9e9e", "met": "#5cb85c", "chosen": "#2e7d32", "rejected": "#d9534f"}
        self.setMinimumHeight(200)
        self.setLabel("bottom", "time per image vs the current model (×)")
        self.setLabel("left", "answers agreeing with the current model", units="%")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.rows: list[dict[str, Any]] = []

    def clear_candidates(self) -> None:
        self.rows = []
        self.clear()

    def add_candidate(self, row: dict[str, Any]) -> None:
        ratio, agreement = row.get("latency_ratio"), row.get("agreement")
        if ratio is None or agreement is None:
            return
        self.rows.append(row)
        kind = "scan" if row.get("stage") == "scan" else str(row.get("verdict"))
        item = pg.ScatterPlotItem(
            [ratio], [agreement], size=16 if kind == "chosen" else 9, symbol="star" if kind == "chosen" else "o",
            brush=pg.mkBrush(self.colors.get(kind, "#9e9e9e")), pen=None,
        )  # fmt: skip
        item.setToolTip(f"{row.get('label')} ({row.get('precision', 'float')}): {row.get('reason', 'scanned')}")
        self.addItem(item)
