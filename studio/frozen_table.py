"""A table whose first column stays in view while the others scroll sideways (Qt's "frozen column" example)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QFrame, QHeaderView, QTableView, QWidget


class FrozenColumnTable(QTableView):
    """`frozen`, a second view of the same model showing column 0 only, lies over this view's own column 0. The two
    share the selection and the vertical scrolling; the first column's width follows this
    view's. Clicking the frozen header sorts by the first column as this view's header would. Settings such as
    the selection behaviour are the caller's to give both views."""

    def __init__(self, model: QAbstractItemModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frozen = QTableView(self)  # made after the viewport, so it lies over it
        self.setModel(model)
        self.frozen.setModel(model)
        self.frozen.setSelectionModel(self.selectionModel())
        self.frozen.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.frozen.setFrameShape(QFrame.Shape.NoFrame)
        self.frozen.verticalHeader().hide()
        self.frozen.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.frozen.horizontalHeader().setSortIndicatorShown(True)
        self.frozen.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Per pixel, or the two views would scroll by different rows' worth.
        for view in (self, self.frozen):
            view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
            view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        for column in range(1, model.columnCount()):
            self.frozen.setColumnHidden(column, True)
        self.horizontalHeader().sectionResized.connect(self._on_section_resized)
        self.frozen.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        self.verticalScrollBar().valueChanged.connect(self.frozen.verticalScrollBar().setValue)
        self.horizontalHeader().sortIndicatorChanged.connect(
            lambda section, order: self.frozen.horizontalHeader().setSortIndicator(section, order))
        self.frozen.horizontalHeader().sectionClicked.connect(self._sort_by_first_column)
        self.frozen.show()
        self._place_frozen()

    def scrollTo(self, index: QModelIndex | QPersistentModelIndex,
                 hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        """Vertically as usual; not sideways to the first column, which is always in view over the others."""
        keep = self.horizontalScrollBar().value() if index.column() == 0 else None
        super().scrollTo(index, hint)
        if keep is not None:
            self.horizontalScrollBar().setValue(keep)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._place_frozen()

    def _on_section_resized(self, column: int, _old: int, size: int) -> None:
        if column == 0:
            self.frozen.setColumnWidth(0, size)
            self._place_frozen()

    def _place_frozen(self) -> None:
        """Over this view's header and rows, as wide as the first column."""
        self.frozen.setGeometry(self.viewport().x(), self.frameWidth(), self.columnWidth(0),
                                self.viewport().height() + self.horizontalHeader().height())

    def _sort_by_first_column(self) -> None:
        header = self.horizontalHeader()
        ascending = header.sortIndicatorSection() != 0 or header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder)
