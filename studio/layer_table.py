"""Per-layer table (model/view): MACs, params and the standard-vs-separable cost."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from core.metrics.complexity import ComplexityReport, LayerStats
from studio.table_model import ColumnTableModel, Index


def _millions(value: int) -> str:
    return f"{value / 1e6:,.2f} M"


COLUMNS: tuple[tuple[str, str], ...] = (
    ("Layer", "Module path inside the network"),
    ("Kind", "conv, depthwise (one filter per channel), pointwise (1×1) or linear"),
    ("In", "Input channels"),
    ("Out", "Output channels"),
    ("k", "Kernel size"),
    ("Stride", "Stride"),
    ("Output", "Output height × width"),
    ("Params", "Weights in this layer"),
    ("MACs", "Multiply-accumulates for one image"),
    ("Share", "This layer's share of the model's MACs"),
    ("Standard conv", "What one standard k×k convolution would cost instead of this depthwise + 1×1 pair"),
)


class LayerTableModel(ColumnTableModel):
    columns = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self.report: ComplexityReport | None = None

    def set_report(self, report: ComplexityReport | None) -> None:
        self.beginResetModel()
        self.report = report
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() or self.report is None else len(self.report.layers)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if self.report is None or not index.isValid():
            return None
        layer = self.report.layers[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(layer, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return layer
        return None

    def _display(self, layer: LayerStats, column: int) -> str:
        assert self.report is not None
        if column == 10:
            if not layer.standard_conv_macs or not layer.separable_macs:
                return ""
            ratio = layer.standard_conv_macs / layer.separable_macs
            return f"{_millions(layer.standard_conv_macs)} ({ratio:.1f}×)"
        share = 100 * layer.macs / self.report.macs if self.report.macs else 0.0
        values = (
            layer.name, layer.kind, layer.in_channels, layer.out_channels, layer.kernel, layer.stride,
            f"{layer.output_hw[0]}×{layer.output_hw[1]}", f"{layer.params:,}", _millions(layer.macs), f"{share:.1f}%",
        )
        return str(values[column])
