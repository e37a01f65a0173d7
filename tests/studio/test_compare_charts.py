"""The Compare tab draws what the paired figures say: intervals as error bars, bars from zero, collapsed variants
in red and never recommended, legends beside the plot; "Re-measure all" pairs every variant in the chosen runtime."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from core.compare import recommend, variant_rows
from studio.compare_panel import WARNING, ComparePanel
from tests.helpers import answers, scored_variant


@pytest.fixture
def panel(qtbot) -> ComparePanel:
    widget = ComparePanel()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_charts_draw_intervals_as_error_bars_from_zero_and_collapsed_variants_in_red(panel) -> None:
    rows = variant_rows([
        scored_variant("fp32", None, *answers(set()), size=14.0),
        scored_variant("int8", "fp32", *answers({0}), ratio=(0.40, 0.38, 0.43)),
        scored_variant("collapsed", "fp32", *answers(set(range(30))), ratio=(0.20, 0.19, 0.22), size=1.5),
    ])  # fmt: skip
    panel.show_rows(rows, recommend(rows, max_drop=1.0))
    top1 = panel.bars.error_bars["top1"]
    assert np.allclose(top1.opts["top"], 5.0) and np.allclose(top1.opts["bottom"], 5.0), "top-1 ± its interval"
    ratio = panel.bars.error_bars["latency_ratio"]
    assert np.allclose(ratio.opts["top"], [0.0, 0.03, 0.02]) and np.allclose(ratio.opts["bottom"], [0.0, 0.02, 0.01])
    for plot in panel.bars.plots.values():
        assert plot.viewRange()[1][0] == 0.0, "bars start at zero"
    (bars,) = [item for item in panel.bars.plots["size_mb"].items if isinstance(item, pg.BarGraphItem)]
    colours = [brush.color().name() for brush in bars.opts["brushes"]]
    assert colours[2] == WARNING and WARNING not in colours[:2]
    pareto = panel.pareto_latency
    assert pareto.error_bars is not None and np.allclose(pareto.error_bars.opts["right"], [0.0, 0.03, 0.02])
    assert "collapsed" not in {row.id for row in pareto.front} or WARNING in colours
    assert pareto.legend.parentItem() is not pareto.plot_item.vb, "the legend sits beside the data, not over it"
    card = panel.card.text()
    assert "Not recommended:</span> collapsed" in card and 'href="remeasure"' in card


def test_re_measure_all_pairs_every_variant_in_the_runtime_the_table_shows(qtbot, window, tiny_project) -> None:
    window.set_project(tiny_project)
    child = window.variants_panel.model.rows[1]
    assert child.latency_ratio is None and window.variants_panel.remeasure_all.isEnabled()
    with qtbot.waitSignal(window.runner.job_started) as started:
        window.variants_panel.remeasure_all.click()
    with qtbot.waitSignal(started.args[0].finished, timeout=120_000):
        pass
    assert started.args[0].state == "done", started.args[0].message
    timed = window.variants_panel.model.rows[1]
    low, high = timed.latency_ratio_ci95 or (0, 0)
    assert low <= (timed.latency_ratio or 0) <= high and timed.latency_runtime == "torch"
    runtime = window.variants_panel.runtime
    runtime.setCurrentIndex(runtime.findData("onnxruntime"))
    assert window.variants_panel.model.rows[1].latency_ratio is None, "never timed in ONNX Runtime: nothing shown"
    assert window.variants_panel.model.index(1, 2).data() == "–"
