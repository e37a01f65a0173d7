"""Variants tab: a model/view table of every variant's measured numbers, the lineage tree, and actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.compare import VariantRow, in_lineage
from core.recipe import Verdict
from core.runtimes import Runtime
from studio.frozen_table import FrozenColumnTable
from studio.state import StudioState
from studio.table_model import ColumnTableModel, Index


def _number(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _input(row: VariantRow) -> str:
    if row.input_size is None:
        return "–"
    blocks = f", −{len(row.dropped)} block{'s' if len(row.dropped) > 1 else ''}" if row.dropped else ""
    return f"{row.input_size} px{blocks}"


def _delta(row: VariantRow) -> str:
    text = row.delta_text()
    return text if row.delta_top1 is not None or row.top1 is None else "not paired"


def _latency(row: VariantRow) -> str:
    if row.latency_ms is None:
        return "–"
    cv = f" ±{100 * row.latency_cv:.0f}%" if row.latency_cv is not None else ""
    return f"{row.latency_ms:.1f} / {row.latency_p90_ms:.1f}{cv}"


# (header, tooltip, text of a row, value to sort by)
COLUMNS: tuple[tuple[str, str, Callable[[VariantRow], str], Callable[[VariantRow], Any]], ...] = (
    ("Name", "Double-click to rename; ★ marks the variant a target search chose",
     lambda r: ("★ " if r.search is Verdict.CHOSEN else "") + r.name, lambda r: r.name),
    ("Δ top-1", "Top-1 points gained or lost against the original model, on the same images, with the 95 % "
     "interval of the paired difference and the number of images (“not paired”: measured on other images; "
     "Re-measure all)", _delta, lambda r: r.delta_top1),
    ("Latency vs original", "This variant's median time over the original's, the two timed in turn in one "
     "session in the runtime chosen above, with its 95 % interval (“noisy”: a wide interval even after a "
     "retry)", lambda r: r.ratio_text(), lambda r: r.latency_ratio),
    ("Input", "Image size the variant is fed, and the blocks removed from it",
     _input, lambda r: r.input_size),
    ("Size MB", "Weights as stored (state_dict bytes)", lambda r: _number(r.size_mb, ".2f"), lambda r: r.size_mb),
    ("MACs M", "Multiply-accumulates per image, counted on the float graph", lambda r: _number(r.macs_m, ".1f"),
     lambda r: r.macs_m),
    ("Params M", "Parameters", lambda r: _number(r.params_m, ".2f"), lambda r: r.params_m),
    ("Latency ms", "Median / p90 of runs in PyTorch timed when the variant was made, ± spread (CV): an absolute "
     "figure moves with the machine's load; compare with “Latency vs original”", _latency,
     lambda r: r.latency_ms),
    ("Memory MB", "Peak RSS while running inference, measured in a fresh process (Re-benchmark)",
     lambda r: _number(r.memory_mb, ".0f"), lambda r: r.memory_mb),
    ("Top-1", "Top-1 accuracy, ± half the width of its 95 % confidence interval, and the number of images it was "
     "measured on", lambda r: r.top1_text(), lambda r: r.top1),
    ("Top-5", "Top-5 accuracy", lambda r: _number(r.top5, ".1f"), lambda r: r.top5),
)


class VariantTableModel(ColumnTableModel):
    columns = COLUMNS

    rename_requested = Signal(str, str)  # variant id, new name

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[VariantRow] = []

    def set_rows(self, rows: Sequence[VariantRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return COLUMNS[index.column()][2](row)
        if role == Qt.ItemDataRole.UserRole:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsEditable if index.column() == 0 else flags

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != 0 or not str(value).strip():
            return False
        # The project renames (undoably); the table is redrawn from the project afterwards.
        self.rename_requested.emit(self.rows[index.row()].id, str(value).strip())
        return True

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][3]
        missing = [r for r in self.rows if key(r) is None]
        present = sorted((r for r in self.rows if key(r) is not None), key=key,
                         reverse=order == Qt.SortOrder.DescendingOrder)
        self.set_rows(present + missing)  # unmeasured rows last either way


class VariantsPanel(QWidget):
    selected = Signal(object)  # variant id or None
    delete_requested = Signal(str)
    evaluate_requested = Signal(str)
    benchmark_requested = Signal(str)
    export_requested = Signal(str)
    graph_requested = Signal(str)
    open_requested = Signal(str)
    runtime_changed = Signal(str)
    lineage_chosen = Signal(object)  # an original's id, "" for every model, None for the current model's
    remeasure_all_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.model = VariantTableModel()
        self.table = FrozenColumnTable(self.model)  # the name stays in view while the figures scroll sideways
        self.table.setSortingEnabled(True)
        for view in (self.table, self.table.frozen):
            view.setAlternatingRowColors(True)
            view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWhatsThis("Every variant of the project with its measured figures, one row each. The name "
                                "column stays in place while you scroll sideways; the paired figures (Δ top-1 and "
                                "latency against the original) come right after it. Click a header to sort; "
                                "double-click a name to rename.")
        self.table.frozen.setWhatsThis(self.table.whatsThis())
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.runtime = QComboBox()
        for runtime in Runtime:
            self.runtime.addItem(runtime.full_label, str(runtime))
        self.runtime.setToolTip("Which runtime's latency the table and the Compare tab show: each variant timed in "
                                "turn with its original in that runtime (Re-measure all)")
        self.remeasure_all = QPushButton("Re-measure all")
        self.remeasure_all.setToolTip("One job: time every variant in turn with its original in the chosen runtime "
                                      "and, with labelled evaluation images (Data tab), score all of them on the "
                                      "same images, so that every comparison is paired")
        self.remeasure_all.setEnabled(False)
        self.runtime.currentIndexChanged.connect(lambda _: self.runtime_changed.emit(self.runtime.currentData()))
        self.remeasure_all.clicked.connect(self.remeasure_all_requested)
        self.lineages = QComboBox()
        self.lineages.setToolTip("Whose variants the table and the Compare tab show: the current model's by default")
        self.lineages.activated.connect(lambda _: self.lineage_chosen.emit(self.lineages.currentData()))
        self.lineage = QTreeWidget()
        self.lineage.setToolTip("Which variant was made from which: each under the model it started from")
        self.lineage.setHeaderLabels(["Lineage", "Recipe"])
        self.empty = QLabel("No variants yet: load a model, then Compress. Every result is stored in the project.")
        self.empty.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        actions = (
            ("Re-evaluate", "Measure accuracy again on the evaluation images (Data tab)", self.evaluate_requested),
            ("Re-benchmark", "Measure latency again and peak memory in a fresh process", self.benchmark_requested),
            ("Use as model", "Make this variant the current model, to compress it further", self.open_requested),
            ("Graph", "Show this variant's graph (netron)", self.graph_requested),
            ("Export…", "Export this variant for phones and runtimes", self.export_requested),
            ("Delete", "Delete this variant from the project (its derived variants first)", self.delete_requested),
        )
        row = QHBoxLayout()
        for text, tip, signal in actions:
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, s=signal: self._emit_for_selection(s))
            self.buttons[text] = button
            row.addWidget(button)
        row.addStretch(1)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(self.lineage)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        measuring = QHBoxLayout()
        measuring.addWidget(QLabel("Show"))
        measuring.addWidget(self.lineages)
        measuring.addWidget(QLabel("Latency in"))
        measuring.addWidget(self.runtime)
        measuring.addWidget(self.remeasure_all)
        measuring.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(measuring)
        layout.addWidget(self.empty)
        layout.addWidget(splitter, 1)
        layout.addLayout(row)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.lineage.itemClicked.connect(lambda item: self.select(item.data(0, Qt.ItemDataRole.UserRole)))

    def current_id(self) -> str | None:
        indexes = self.table.selectionModel().selectedRows()
        return self.model.rows[indexes[0].row()].id if indexes else None

    def _emit_for_selection(self, signal: Any) -> None:
        variant_id = self.current_id()
        if variant_id:
            signal.emit(variant_id)

    def _on_selection(self) -> None:
        variant_id = self.current_id()
        for button in self.buttons.values():
            button.setEnabled(variant_id is not None)
        self.selected.emit(variant_id)

    def select(self, variant_id: str | None) -> None:
        for index, row in enumerate(self.model.rows):
            if row.id == variant_id:
                self.table.selectRow(index)
                return
        self.table.clearSelection()

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the variants, the runtime, the lineage shown or the model change."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._redraw()

    def _state_changed(self, names: frozenset[str]) -> None:
        if names & {"project", "revision", "latency_runtime", "shown_lineage", "model_variant", "report"}:
            self._redraw()

    def _redraw(self) -> None:
        state = self._state
        shown = state.shown_root()
        recipes = {v.id: v.made_by.name if v.made_by else "" for v in (state.project.variants if state.project else [])}
        self.show_lineages([(v.id, v.name) for v in state.originals()], shown)
        self.show_rows([] if shown is None else in_lineage(state.rows(), shown or None), recipes,
                       state.selected_variant)

    def show_lineages(self, originals: Sequence[tuple[str, str]], shown: str | None) -> None:
        """The selector: each original's lineage (id, name), then every model; `shown` picked ("" for every model;
        None for the current model, not stored yet, which has none)."""
        self.lineages.clear()
        if shown is None:
            self.lineages.addItem("The current model (no variants yet)", None)
        for variant_id, name in originals:
            self.lineages.addItem(f"{name} and its variants", variant_id)
        self.lineages.addItem("Every model in the project", "")
        self.lineages.setCurrentIndex(0 if shown is None else max(0, self.lineages.findData(shown)))

    def show_rows(self, rows: Sequence[VariantRow], recipes: dict[str, str], selected: str | None) -> None:
        self.model.set_rows(rows)
        self.empty.setVisible(not rows)
        self.remeasure_all.setEnabled(any(row.parent for row in rows))
        self.lineage.clear()
        items: dict[str, QTreeWidgetItem] = {}
        for row in rows:  # parents are stored before their children
            parent = items.get(row.parent or "")
            item = QTreeWidgetItem([row.name, recipes.get(row.id, "")])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            (parent.addChild(item) if parent else self.lineage.addTopLevelItem(item))
            items[row.id] = item
        self.lineage.expandAll()
        self.select(selected)
