"""The Compress tab's pruning knobs: what to remove, how much, spread, ranked by, residual streams, and per-layer
ratios (set by hand or by the sensitivity analysis's suggestion)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
)

from core.recipe import PruneStep, RecipeError
from studio.compress_words import TIPS, WORDS


def word_combo(words: dict[str, str], keys: tuple[str, ...], tip: str) -> QComboBox:
    """A combo box of a recipe field's choices in plain words, each with the recipe's own word as its data."""
    combo = QComboBox()
    for key in keys:
        combo.addItem(words.get(key, key), key)
    combo.setToolTip(tip)
    return combo


def choose(combo: QComboBox, key: str) -> None:
    combo.setCurrentIndex(max(0, combo.findData(key)))


class PruneBox(QGroupBox):
    overrides_cleared = Signal()

    def __init__(self) -> None:
        super().__init__("Remove parts of the network (pruning)")
        self.setCheckable(True)
        self.setToolTip(TIPS["prune"])
        self.kind = word_combo(WORDS["kind"], PruneStep.KINDS, TIPS["kind"])
        self.ratio = QSlider(Qt.Orientation.Horizontal)
        self.ratio.setRange(0, 90)
        self.ratio.setSingleStep(5)
        self.ratio.setPageStep(10)
        self.ratio.setToolTip(TIPS["ratio"])
        self.ratio_label = QLabel()
        self.scope = word_combo(WORDS["scope"], PruneStep.SCOPES, TIPS["scope"])
        self.importance = word_combo(WORDS["importance"], PruneStep.IMPORTANCES, TIPS["importance"])
        self.bottlenecks = QCheckBox("Narrow residual streams too")
        self.bottlenecks.setToolTip(TIPS["bottlenecks"])
        self.overrides = QTableWidget(0, 2)
        self.overrides.setHorizontalHeaderLabels(["Layer", "Ratio %"])
        self.overrides.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.overrides.verticalHeader().hide()
        self.overrides.setToolTip(TIPS["overrides"])
        self.overrides.setMaximumHeight(150)
        self.overrides.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.clear_overrides = QPushButton("Clear overrides")
        self.clear_overrides.setToolTip("Forget the per-layer ratios: every layer takes the ratio above")
        ratio_row = QHBoxLayout()
        ratio_row.addWidget(self.ratio, 1)
        ratio_row.addWidget(self.ratio_label)
        form = QFormLayout(self)
        form.addRow("What to remove", self.kind)
        form.addRow("How much", ratio_row)
        form.addRow("Spread", self.scope)
        form.addRow("Ranked by", self.importance)
        form.addRow("", self.bottlenecks)
        form.addRow("Per layer", self.overrides)
        form.addRow("", self.clear_overrides)
        self.clear_overrides.clicked.connect(self._clear_overrides)

    def edits(self) -> list[tuple[Any, str]]:
        """Each control's change signal, with the words its undo step is named by."""
        return [(self.toggled, "Toggle pruning"), (self.kind.currentIndexChanged, "Pruning kind"),
                (self.ratio.valueChanged, "Pruning ratio"), (self.scope.currentIndexChanged, "Pruning scope"),
                (self.importance.currentIndexChanged, "Importance"), (self.bottlenecks.toggled, "Residual streams"),
                (self.overrides.itemChanged, "Per-layer ratio")]

    def _clear_overrides(self) -> None:
        self.overrides.setRowCount(0)
        self.overrides_cleared.emit()

    def step(self, base: PruneStep | None) -> PruneStep:
        """`base` with the controls' values (fields without a control keep theirs)."""
        return replace(base or PruneStep(), kind=self.kind.currentData(), ratio=self.ratio.value() / 100,
                       scope=self.scope.currentData(), importance=self.importance.currentData(),
                       bottlenecks=self.bottlenecks.isChecked(), layer_ratios=self._layer_ratios())

    def _layer_ratios(self) -> dict[str, float]:
        ratios = {}
        for row in range(self.overrides.rowCount()):
            layer, value = self.overrides.item(row, 0), self.overrides.item(row, 1)
            try:
                if layer is None or value is None:
                    raise ValueError("an empty cell")
                ratios[layer.text()] = float(value.text().rstrip("% ")) / 100
            except ValueError:
                raise RecipeError(f"per-layer ratio on row {row + 1} is not a number") from None
        return ratios

    def show_step(self, step: PruneStep | None) -> None:
        """Draw `step` (None: pruning off, the controls at their defaults)."""
        self.setChecked(step is not None)
        step = step or PruneStep()
        choose(self.kind, step.kind)
        self.ratio.setValue(round(step.ratio * 100))
        self.ratio_label.setText(f"{step.ratio:.0%}")
        choose(self.scope, step.scope)
        choose(self.importance, step.importance)
        self.bottlenecks.setChecked(step.bottlenecks)
        self.overrides.setRowCount(0)
        for layer, ratio in step.layer_ratios.items():
            row = self.overrides.rowCount()
            self.overrides.insertRow(row)
            name = QTableWidgetItem(layer)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.overrides.setItem(row, 0, name)
            self.overrides.setItem(row, 1, QTableWidgetItem(f"{100 * ratio:.0f}"))
