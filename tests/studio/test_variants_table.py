"""The Variants table: the name stays in view while the figures scroll sideways, the paired figures stand next to
it, and top-1 reads as a percentage ± half its interval with the number of images."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QPoint, Qt

from core.compare import variant_rows
from studio.variants_panel import VariantsPanel
from tests.helpers import answers, scored_variant
from tests.studio.shown import shown

NAMES = ["fp32", "int8 after pruning 30 %", "aggressive"]


@pytest.fixture
def panel(qtbot) -> VariantsPanel:
    widget = shown(qtbot, VariantsPanel(), 560, 320)  # narrower than the table's columns
    rows = variant_rows([scored_variant("fp32", None, *answers(set())),
                         scored_variant("int8", "fp32", *answers({0}), ratio=(0.4, 0.38, 0.43)),
                         scored_variant("aggressive", "fp32", *answers({0, 1}))])
    widget.show_rows([replace(row, name=name) for row, name in zip(rows, NAMES, strict=True)], {}, None)
    return widget


def name_cell(panel: VariantsPanel, row: int) -> QPoint:
    """Where a user sees row `row`'s name, in the frozen column."""
    frozen = panel.table.frozen
    return frozen.visualRect(panel.model.index(row, 0)).center()


def test_the_name_stays_in_view_after_scrolling_to_the_last_column(qtbot, panel) -> None:
    table = panel.table
    scroll = table.horizontalScrollBar()
    qtbot.waitUntil(lambda: scroll.maximum() > 0)
    scroll.setValue(scroll.maximum())
    assert table.visualRect(panel.model.index(1, 0)).right() < 0, "the table's own name column scrolled away"
    frozen = table.frozen
    on_screen = frozen.viewport().mapTo(table, name_cell(panel, 1))
    assert table.childAt(on_screen) is frozen.viewport(), "the frozen column lies over the scrolled figures"
    assert frozen.indexAt(name_cell(panel, 1)).data() == NAMES[1]
    assert frozen.width() == table.columnWidth(0) >= frozen.sizeHintForColumn(0)
    assert frozen.geometry().bottom() == table.viewport().geometry().bottom(), "and leaves the scroll bar free"


def test_the_frozen_column_stops_above_a_scroll_bar_that_appears_later(qtbot, panel) -> None:
    table = panel.table
    panel.resize(1900, 320)
    qtbot.waitUntil(lambda: table.horizontalScrollBar().maximum() == 0)
    rows = panel.model.rows
    panel.show_rows([replace(rows[0], memory_mb=1e80), *rows[1:]], {}, None)  # a figure wider than the room left
    qtbot.waitUntil(lambda: table.horizontalScrollBar().isVisible())
    assert table.frozen.geometry().bottom() == table.viewport().geometry().bottom()


def test_moving_between_rows_keeps_the_sideways_scroll(qtbot, panel) -> None:
    """The table's own name column lies under the frozen one: scrolling back to it would only hide the figures."""
    scroll = panel.table.horizontalScrollBar()
    qtbot.waitUntil(lambda: scroll.maximum() > 0)
    scroll.setValue(scroll.maximum())
    panel.table.setCurrentIndex(panel.model.index(2, 0))
    assert scroll.value() == scroll.maximum()


def test_the_frozen_names_scroll_up_and_down_with_their_rows(qtbot, panel) -> None:
    rows = panel.model.rows
    panel.show_rows([replace(rows[i % 3], id=f"v{i}", name=f"variant {i}") for i in range(40)], {}, None)
    table, frozen = panel.table, panel.table.frozen
    qtbot.waitUntil(lambda: table.verticalScrollBar().maximum() > 0)
    table.verticalScrollBar().setValue(table.verticalScrollBar().maximum())
    assert frozen.indexAt(QPoint(5, 5)).row() == table.indexAt(QPoint(5, 5)).row() > 20
    frozen.verticalScrollBar().setValue(0)  # a wheel turned over the names
    assert table.indexAt(QPoint(5, 5)).row() == 0


def test_the_frozen_column_shows_the_name_only_even_after_the_rows_are_replaced(panel) -> None:
    panel.show_rows(panel.model.rows[:2], {}, None)  # a model reset
    frozen = panel.table.frozen
    assert [column for column in range(panel.model.columnCount()) if not frozen.isColumnHidden(column)] == [0]


def test_speed_up_and_delta_top1_stand_right_after_the_name(panel) -> None:
    headers = [panel.model.headerData(column, Qt.Orientation.Horizontal) for column in range(3)]
    assert headers == ["Name", "Δ top-1", "Latency vs original"]
    assert panel.model.index(1, 2).data().startswith("0.40×") and panel.model.index(1, 1).data().endswith("40 images")


def test_top1_reads_as_a_percentage_plus_minus_half_its_interval_and_the_images(panel) -> None:
    top1 = [panel.model.headerData(c, Qt.Orientation.Horizontal) for c in range(panel.model.columnCount())].index(
        "Top-1")
    assert panel.model.index(1, top1).data() == "97.5 % (±5.0, 40 images)"


def test_clicking_a_name_in_the_frozen_column_selects_its_variant(qtbot, panel) -> None:
    with qtbot.waitSignal(panel.selected) as selected:
        qtbot.mouseClick(panel.table.frozen.viewport(), Qt.MouseButton.LeftButton, pos=name_cell(panel, 2))
    assert selected.args == ["aggressive"] and panel.current_id() == "aggressive"
    assert panel.buttons["Delete"].isEnabled()


def test_the_frozen_name_header_sorts_by_name(qtbot, panel) -> None:
    header = panel.table.frozen.horizontalHeader()
    middle = QPoint(header.sectionViewportPosition(0) + header.sectionSize(0) // 2, header.height() // 2)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=middle)
    assert [row.name for row in panel.model.rows] == sorted(NAMES)
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (0, Qt.SortOrder.AscendingOrder)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=middle)
    assert [row.name for row in panel.model.rows] == sorted(NAMES, reverse=True)
    panel.table.sortByColumn(4, Qt.SortOrder.AscendingOrder)  # by size, from the table's own header
    assert header.sortIndicatorSection() == 4, "the name's header no longer shows an arrow"
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=middle)
    assert [row.name for row in panel.model.rows] == sorted(NAMES)
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (0, Qt.SortOrder.AscendingOrder)
