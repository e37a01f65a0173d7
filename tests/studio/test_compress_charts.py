"""The Compress tab's charts: a sentence instead of empty axes until there is something to draw, and colours that
say how much a layer or a candidate costs, from the theme."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from core.compress.sensitivity import Probe, SensitivityReport
from studio.compress_charts import NO_CANDIDATES, NO_PROBES, NO_REPORT, SearchChart, SensitivityChart
from studio.theme import CHOSEN, COSTLY, GOOD, NEUTRAL, WARNING


def _report(*agreements: float) -> SensitivityReport:
    probes = [Probe(f"features.{i}", "prune", 0.5, 1000, agreement, None) for i, agreement in enumerate(agreements)]
    return SensitivityReport(parent_macs=2000, parent_top1=None, images=8, probes=probes)


def _covers_the_chart(qtbot, chart: pg.PlotWidget) -> bool:
    """Shown, over the whole chart: the axes too."""
    qtbot.addWidget(chart)
    chart.resize(400, 220)
    chart.show()
    qtbot.waitExposed(chart)
    return chart.message.isVisible() and chart.message.geometry() == chart.rect()


def test_the_sensitivity_chart_says_what_to_do_until_it_has_a_report(qtbot) -> None:
    chart = SensitivityChart()
    assert _covers_the_chart(qtbot, chart) and chart.message.text() == NO_REPORT
    assert chart.show_report(_report(85.0, 95.0, 99.0)) == ["features.0", "features.1", "features.2"]
    assert not chart.message.isVisible()


def test_a_report_without_probes_says_so(qtbot) -> None:
    chart = SensitivityChart()
    assert chart.show_report(_report()) == []
    assert _covers_the_chart(qtbot, chart) and chart.message.text() == NO_PROBES


def test_sensitivity_bars_are_coloured_by_their_cost_in_theme_colours(qtbot) -> None:
    chart = SensitivityChart()
    qtbot.addWidget(chart)
    chart.show_report(_report(85.0, 95.0, 99.0))
    (bars,) = [item for item in chart.getPlotItem().items if isinstance(item, pg.BarGraphItem)]
    assert [brush.color() for brush in bars.opts["brushes"]] == [QColor(WARNING), QColor(COSTLY), QColor(GOOD)]


def test_the_search_chart_says_what_to_do_until_a_candidate_is_measured(qtbot) -> None:
    chart = SearchChart()
    assert _covers_the_chart(qtbot, chart) and chart.message.text() == NO_CANDIDATES
    chart.add_candidate({"label": "not measured yet", "stage": "scan"})  # no ratio, no agreement: nothing to draw
    assert chart.message.isVisible()
    chart.add_candidate({"latency_ratio": 0.6, "agreement": 98.0, "stage": "scan", "label": "x"})
    assert not chart.message.isVisible()
    chart.clear_candidates()  # a new search
    assert chart.message.isVisible() and not chart.rows


def test_search_candidates_are_coloured_by_their_verdict_in_theme_colours(qtbot) -> None:
    chart = SearchChart()
    qtbot.addWidget(chart)
    verdicts = {("scan", None): NEUTRAL, ("verify", "met"): GOOD, ("verify", "rejected"): WARNING,
                ("verify", "chosen"): CHOSEN}
    for stage, verdict in verdicts:
        chart.add_candidate({"latency_ratio": 0.6, "agreement": 98.0, "stage": stage, "verdict": verdict, "label": "x"})
    points = [item for item in chart.getPlotItem().items if isinstance(item, pg.ScatterPlotItem)]
    assert [point.opts["brush"].color() for point in points] == [QColor(colour) for colour in verdicts.values()]
