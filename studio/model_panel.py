"""Model tab: zoo picker (or open a file) on the left, the model card and layer table on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.inspect import ModelReport
from core.model import Normalization
from core.zoo.registry import ARCHITECTURES, STANDARD_RESOLUTIONS
from core.zoo.weights import pretrained_source
from studio.layer_table import LayerTableModel
from studio.state import StudioState, ZooChoice


class ZooPicker(QGroupBox):
    """Architecture, width α, resolution and weights; emits the choice when the user asks to load."""

    load_requested = Signal(object)  # ZooChoice
    open_file_requested = Signal()

    def __init__(self, choice: ZooChoice) -> None:
        super().__init__("Choose a model")
        self.arch = QComboBox()
        for card in ARCHITECTURES.values():
            self.arch.addItem(card.title, card.name)
            self.arch.setItemData(self.arch.count() - 1, card.summary, Qt.ItemDataRole.ToolTipRole)
        self.arch.setToolTip("Which MobileNet family to start from")
        self.alpha = QDoubleSpinBox()
        self.alpha.setRange(0.1, 4.0)
        self.alpha.setSingleStep(0.05)
        self.alpha.setDecimals(2)
        self.alpha.setToolTip("Width multiplier α: scales every layer's channels; smaller is faster and less accurate")
        self.resolution = QComboBox()
        for value in STANDARD_RESOLUTIONS:
            self.resolution.addItem(f"{value} px", value)
        self.resolution.setToolTip("Input resolution ρ·224: smaller images cost quadratically fewer MACs")
        self.weights = QComboBox()
        self.weights.addItem("Pretrained (ImageNet)", True)
        self.weights.addItem("Untrained (random init)", False)
        self.weights.setToolTip("Pretrained weights where they exist; untrained models predict nothing useful")
        self.availability = QLabel()
        self.availability.setWordWrap(True)
        self.load_button = QPushButton("Load model")
        self.load_button.setToolTip("Build the chosen MobileNet, with its pretrained weights where they exist")
        self.load_button.setDefault(True)
        self.open_button = QPushButton("Open file…")
        self.open_button.setToolTip("Open a checkpoint: state_dict .pth/.pt, TorchScript, .pt2 or ONNX")

        form = QFormLayout()
        form.addRow("Architecture", self.arch)
        form.addRow("Width α", self.alpha)
        form.addRow("Resolution", self.resolution)
        form.addRow("Weights", self.weights)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.availability)
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.open_button)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.set_choice(choice)
        self.arch.currentIndexChanged.connect(self._on_arch_changed)
        self.alpha.valueChanged.connect(self._update_availability)
        self.weights.currentIndexChanged.connect(self._update_availability)
        self.load_button.clicked.connect(lambda: self.load_requested.emit(self.choice()))
        self.open_button.clicked.connect(self.open_file_requested)

    def set_choice(self, choice: ZooChoice) -> None:
        self.arch.setCurrentIndex(self.arch.findData(choice.arch))
        self.alpha.setValue(choice.width)
        self.resolution.setCurrentIndex(max(self.resolution.findData(choice.resolution), 0))
        self.weights.setCurrentIndex(0 if choice.pretrained else 1)
        self._update_availability()

    def choice(self) -> ZooChoice:
        return ZooChoice(
            arch=self.arch.currentData(),
            width=round(self.alpha.value(), 2),
            resolution=self.resolution.currentData(),
            pretrained=bool(self.weights.currentData()),
        )

    def _on_arch_changed(self) -> None:
        card = ARCHITECTURES[self.arch.currentData()]
        self.alpha.setValue(1.0 if 1.0 in card.widths else card.widths[-1])
        self._update_availability()

    def _update_availability(self) -> None:
        choice = self.choice()
        if not choice.pretrained:
            self.availability.setText("Random weights: use for size and speed only.")
            return
        source = pretrained_source(choice.arch, choice.width)
        if source is None:
            widths = [f"{w:g}" for w in ARCHITECTURES[choice.arch].widths if pretrained_source(choice.arch, w)]
            hint = f" (pretrained at width {', '.join(widths)})" if widths else ""
            self.availability.setText(f"No pretrained weights for this width{hint}: it will load untrained.")
        elif source.startswith(("http://", "https://")):
            self.availability.setText("Weights will be downloaded from torchvision (then cached).")
        else:
            self.availability.setText(f"Weights from {source}")


def _scaling(report: ModelReport) -> str:
    card = report.model.card
    named = Normalization.of(card.mean, card.std)
    return f"pixels scaled as {named.label}" if named else f"mean {list(card.mean)}, std {list(card.std)}"


class ModelView(QWidget):
    """The loaded model's card, totals and per-layer table."""

    def __init__(self) -> None:
        super().__init__()
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.title = QLabel("No model loaded")
        self.title.setObjectName("modelTitle")
        self.card = QLabel()
        self.card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.card.setWordWrap(True)
        self.totals = QLabel()
        self.totals.setObjectName("totals")
        self.layers = LayerTableModel()
        self.table = QTableView()
        self.table.setToolTip("Every layer: its kind, output shape, parameters and multiply-adds (MACs), and what a "
                              "standard convolution would cost instead of the depthwise-separable pair")
        self.table.setModel(self.layers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.title)
        layout.addWidget(self.card)
        layout.addWidget(self.totals)
        layout.addWidget(self.table, 1)

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the model, or why it could not be opened, changes."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._state_changed(frozenset({"report", "error"}))

    def _state_changed(self, names: frozenset[str]) -> None:
        report, error = self._state.report, self._state.error
        if "report" in names and report is not None:
            self.show_report(report)
        if "error" in names and error:  # a new problem; a later edit of the open model does not repeat an old one
            self.show_error(error)

    def show_error(self, message: str) -> None:
        self.banner.setProperty("kind", "error")
        self.banner.setText(f"Could not load the model: {message}")
        self._restyle_banner()

    def _restyle_banner(self) -> None:
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.show()

    def show_report(self, report: ModelReport) -> None:
        card = report.model.card
        complexity = report.complexity
        self.title.setText(card.title)
        if card.weights.trained:
            self.banner.hide()
        else:
            self.banner.setProperty("kind", "warning")
            self.banner.setText("Untrained (random init): accuracy will be at chance. Load pretrained weights or a "
                                "checkpoint before compressing.")
            self._restyle_banner()
        rows = [
            ("Model", str(card.spec) if card.spec else card.format),
            ("Weights", card.weights.label),
            ("Input", f"{card.input_size}×{card.input_size} RGB, resize {card.resize_size}, {_scaling(report)}"),
            *([("Blocks removed", ", ".join(map(str, card.spec.dropped)))] if card.spec and card.spec.dropped else []),
            ("Classes", f"{card.num_classes}"),
            ("Licence", card.to_dict()["license"] or "unknown"),
        ]
        self.card.setText("<br>".join(f"<b>{k}:</b> {v}" for k, v in rows))
        savings = complexity.separable_savings
        self.totals.setText(
            f"<b>{complexity.params / 1e6:.2f} M</b> parameters · <b>{complexity.macs / 1e6:.1f} M</b> MACs · "
            f"<b>{report.size_bytes / 1e6:.1f} MB</b> fp32 file"
            + (f" · depthwise-separable convs cost 1/{savings:.1f} of standard ones" if savings else "")
        )
        self.layers.set_report(complexity)
