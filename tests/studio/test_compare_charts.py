"""The Compare tab draws what the paired figures say: intervals as error bars, bars from zero, collapsed variants
in red and never recommended, full names, legends beside the plot, a sentence instead of empty axes; its deployment
view picks its own variant; "Re-measure all" pairs every variant in the chosen runtime."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from core.compare import recommend, variant_rows
from core.runtimes import Runtime
from studio.charts import NO_VARIANTS
from studio.compare_panel import NOT_PAIRED, ComparePanel
from studio.state import ZooChoice
from studio.theme import WARNING
from tests.helpers import answers, latency, scored_variant, timing
from tests.studio.shown import shown


@pytest.fixture
def panel(qtbot) -> ComparePanel:
    return shown(qtbot, ComparePanel(), 1280, 700)


def three_variants(collapsed_name: str = "collapsed") -> list:
    return [
        scored_variant("fp32", None, *answers(set()), size=14.0),
        scored_variant("int8", "fp32", *answers({0}), ratio=(0.40, 0.38, 0.43)),
        scored_variant(collapsed_name, "fp32", *answers(set(range(30))), ratio=(0.20, 0.19, 0.22), size=1.5),
    ]


def test_charts_draw_intervals_as_error_bars_from_zero_and_collapsed_variants_in_red(panel) -> None:
    rows = variant_rows(three_variants())
    panel.show_rows(rows, recommend(rows, max_drop=1.0))
    top1 = panel.bars.error_bars["top1"]
    assert np.allclose(top1.opts["right"], 5.0) and np.allclose(top1.opts["left"], 5.0), "top-1 ± its interval"
    ratio = panel.bars.error_bars["latency_ratio"]
    assert np.allclose(ratio.opts["right"], [0.0, 0.03, 0.02]) and np.allclose(ratio.opts["left"], [0.0, 0.02, 0.01])
    for plot in panel.bars.plots.values():
        assert plot.viewRange()[0][0] == 0.0, "bars start at zero"
    (bars,) = [item for item in panel.bars.plots["size_mb"].items if isinstance(item, pg.BarGraphItem)]
    colours = [brush.color().name() for brush in bars.opts["brushes"]]
    assert colours[2] == WARNING and WARNING not in colours[:2]
    pareto = panel.pareto_latency
    assert pareto.error_bars is not None and np.allclose(pareto.error_bars.opts["right"], [0.0, 0.03, 0.02])
    assert "collapsed" not in {row.id for row in pareto.front} or WARNING in colours
    card = panel.card.text()
    assert "Not recommended:</b> collapsed" in card and 'href="remeasure"' in card


def test_bar_labels_are_whole_names_with_room_for_them(qtbot, panel) -> None:
    long_name = "MobileNetV2 α1.0 · pruned 30 % globally · int8 static, per-channel, bias corrected"
    rows = variant_rows(three_variants(long_name))
    panel.show_rows(rows, recommend(rows))
    names = panel.bars.names
    assert [label for _, label in names._tickLevels[0]] == ["fp32", "int8", long_name]
    needed = QFontMetrics(QApplication.font()).horizontalAdvance(long_name) + names.style["tickTextOffset"][0]
    qtbot.waitUntil(lambda: names.width() >= needed)
    assert names.mapRectToScene(names.boundingRect()).left() >= 0, "the axis, names and all, starts inside the view"


def test_legends_sit_beside_the_data_not_over_it(qtbot, panel) -> None:
    variants = three_variants()
    variants[2].metrics = variants[2].metrics.updated(channels={"features.0": 16, "features.1": 8})
    variants[0].metrics = variants[0].metrics.updated(channels={"features.0": 32, "features.1": 16})
    rows = variant_rows(variants)
    panel.show_rows(rows, recommend(rows))
    panel.show_selection(variants[2], variants[0], 30.0)
    for chart, tab in ((panel.pareto_latency, 1), (panel.pareto_size, 2), (panel.channels, 3)):
        panel.views.setCurrentIndex(tab)
        data = chart.plot_item.vb
        qtbot.waitUntil(lambda c=chart, d=data: c.legend.sceneBoundingRect().width() > 0
                        and not d.sceneBoundingRect().intersects(c.legend.sceneBoundingRect()))
        assert chart.legend.items, f"{type(chart).__name__} has a legend to place"
        for sample, label in chart.legend.items:  # each entry's name level with its symbol
            text = label.item.sceneBoundingRect()  # the text itself, not the cell the layout gave it
            assert abs(sample.sceneBoundingRect().center().y() - text.center().y()) < text.height() / 2, label.text


def test_empty_charts_say_what_to_do_instead_of_drawing_axes(panel) -> None:
    panel.show_rows([], recommend([]))
    panel.show_selection(None, None, 30.0)
    for chart in (panel.bars, panel.pareto_latency, panel.pareto_size, panel.channels):
        frame = panel.frames[chart]
        assert frame.currentWidget() is frame.message and frame.message.text(), type(chart).__name__
    assert panel.frames[panel.bars].message.text() == NO_VARIANTS and "Compress tab" in NO_VARIANTS
    assert "Variants tab" in panel.frames[panel.channels].message.text()
    deployment = panel.deployment
    assert deployment.chart.currentWidget() is deployment.chart.message and not deployment.measure.isEnabled()
    unevaluated = three_variants()
    for variant in unevaluated:
        variant.metrics = variant.metrics.updated(accuracy=None)
    rows = variant_rows(unevaluated)
    panel.show_rows(rows, recommend(rows))
    assert panel.frames[panel.bars].currentWidget() is panel.bars, "variants with sizes: bars to draw"
    (note,) = [item for item in panel.bars.plots["top1"].items if isinstance(item, pg.TextItem)]
    assert "Re-evaluate" in note.toPlainText(), "a metric nobody measured says how to measure it"
    assert panel.frames[panel.pareto_size].message.text() == NOT_PAIRED, "nothing paired: the Pareto plots explain"
    assert panel.frames[panel.pareto_size].currentWidget() is panel.frames[panel.pareto_size].message


def test_the_deployment_view_picks_its_own_variant_and_keeps_it_through_refreshes(qtbot, panel) -> None:
    variants = three_variants()
    variants[1].metrics = variants[1].metrics.updated(latency_by_resolution={224: latency(40.0, input_size=224),
                                                                             128: latency(12.5, input_size=128)})
    rows = variant_rows(variants)
    deployment = panel.deployment
    panel.show_rows(rows, recommend(rows))
    assert [deployment.variant.itemText(i) for i in range(deployment.variant.count())] == ["fp32", "int8", "collapsed"]
    panel.show_selection(variants[0], None, 30.0)  # the Variants tab selects fp32: followed
    assert deployment.current_id() == "fp32" and "Not measured yet" in deployment.chart.message.text()
    deployment.variant.setCurrentIndex(deployment.variant.findData("int8"))  # the user picks int8 here
    assert deployment.chart.currentWidget() is deployment.plot
    assert deployment.verdict.text() == "int8: 128 px 80 FPS (meets); 224 px 25 FPS (misses by 5 FPS)"
    with qtbot.waitSignal(deployment.measure_requested) as requested:
        deployment.measure.click()
    assert requested.args == ["int8"]
    panel.show_rows(rows, recommend(rows))  # a job ended: everything is redrawn
    panel.show_selection(variants[0], None, 20.0)  # with the same selection in the Variants tab
    assert deployment.current_id() == "int8", "a refresh keeps the variant picked here"
    assert deployment.verdict.text().endswith("224 px 25 FPS (meets)"), "the target moved to 20 FPS"
    panel.show_selection(variants[2], variants[0], 20.0)
    assert deployment.current_id() == "collapsed", "a new selection in the Variants tab is followed"
    with qtbot.waitSignal(deployment.target_changed) as changed:
        deployment.target.setValue(60)
        deployment.target.editingFinished.emit()
    assert changed.args == [60.0]


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


def test_the_recommendation_card_says_what_its_images_can_resolve(panel) -> None:
    rows = variant_rows(three_variants())
    panel.show_rows(rows, recommend(rows, max_drop=3.0))
    card = panel.card.text()
    assert "With 40 images, differences smaller than about ±5.4 points cannot be told apart" in card
    assert "not confirmed" in card and "no measurable loss" not in card


def test_compare_follows_the_current_model_and_never_shows_another_models_lineage(qtbot, window,
                                                                                  tiny_project) -> None:
    window.set_project(tiny_project)
    tiny = tiny_project.variants[0]
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.use_variant_as_model(tiny.id)
    assert f"Among the variants of <b>{tiny.name}</b>" in window.compare_panel.card.text()
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=128, pretrained=False))  # another model
    assert tiny.name not in window.compare_panel.card.text()
    assert window.compare_panel.card.text() == "Recommendations appear once variants are measured."
    panel = window.variants_panel
    assert panel.model.rows == [], "another model's variants are not listed as this one's"
    panel.lineages.setCurrentIndex(panel.lineages.findData(""))
    panel.lineages.activated.emit(panel.lineages.currentIndex())
    assert len(panel.model.rows) == 2, "the selector lists every model's"


def test_compare_and_export_headline_the_speed_in_litert_on_this_computer_whatever_runtime_the_table_shows(
    qtbot, window, tiny_project
) -> None:
    window.set_project(tiny_project)
    parent, child = tiny_project.variants
    litert = timing(0.39, 0.37, 0.41, against=parent.id, runtime="litert")
    tiny_project.update_metrics(child.id, paired_latency={Runtime.LITERT: litert})
    window.state.variants_changed()
    assert window.variants_panel.runtime.currentData() == "torch", "the table shows torch; the headline stays LiteRT"
    window.select_variant(child.id)
    for label in (window.compare_panel.headline, window.export_panel.source):
        assert "Speed in LiteRT, measured on this computer: 2.6× as fast as the original" in label.text()
        assert child.name in label.text()
    window.select_variant(None)
    assert "LiteRT" in window.compare_panel.headline.text() and child.name not in window.compare_panel.headline.text()


def test_variants_and_compare_show_the_current_models_lineage_with_a_selector_for_the_others(
    qtbot, window, tiny_project
) -> None:
    from core.zoo.loading import create_model
    from tests.helpers import TINY

    other = tiny_project.add_variant(create_model(TINY, "none"), "another model")
    window.set_project(tiny_project)
    tiny = tiny_project.variants[0]
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.use_variant_as_model(tiny.id)
    panel = window.variants_panel
    assert [row.name for row in panel.model.rows] == ["tiny", "tiny copy"], "the current model's lineage only"
    assert [panel.lineages.itemText(i) for i in range(panel.lineages.count())] == [
        "tiny and its variants", "another model and its variants", "Every model in the project"]
    panel.lineages.setCurrentIndex(1)
    panel.lineages.activated.emit(1)
    assert [row.name for row in panel.model.rows] == [other.name]
    assert f"Among the variants of <b>{other.name}</b>" in window.compare_panel.card.text(), "Compare follows"
    panel.lineages.setCurrentIndex(2)
    panel.lineages.activated.emit(2)
    assert len(panel.model.rows) == 3
