"""How the current model reads images and names its classes: its preprocessing (a named normalization and the
crop) and a class-names editor (edit in place, import a labels file, or take an open labelled folder's names).

The panel only says what the user asked for; the window applies each change to the current model as one undoable
edit, and draws the model back in with `show_model`. Every figure measured after a change uses it: evaluation,
calibration, distillation, export verification, the bundle's metadata and its code.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from core.model import LoadedModel, Normalization
from studio.state import StudioState


class ModelSettings(QGroupBox):
    normalization_chosen = Signal(str)  # a Normalization's value
    crop_chosen = Signal(float)
    names_edited = Signal(tuple)  # the class names, in class order
    import_names_requested = Signal()  # from a labels file (one name a line)
    folder_names_requested = Signal()  # from the open labelled folder

    def __init__(self) -> None:
        super().__init__("How this model reads images and names its classes")
        self._drawing = False
        self._names: tuple[str, ...] = ()  # as drawn: an emptied name is put back
        self.normalization = QComboBox()
        for choice in Normalization:
            self.normalization.addItem(choice.label, choice)
        self.normalization.setToolTip("How pixels were scaled when the model was trained. A model trained in [−1, 1] "
                                      "and fed ImageNet's mean and std scores far lower than it should.")
        self.normalization.activated.connect(
            lambda _: self.normalization_chosen.emit(self.normalization.currentData()))
        self.crop = QDoubleSpinBox()
        self.crop.setRange(0.5, 1.0)
        self.crop.setSingleStep(0.025)
        self.crop.setDecimals(3)
        self.crop.setToolTip("The share of the resized image kept by the centre crop (1.0: no crop; torchvision's "
                             "ImageNet models: 0.875)")
        self.crop.editingFinished.connect(self._on_crop)
        self.names = QListWidget()
        self.names.setToolTip("The class names in the model's output order: double-click a name to edit it. They "
                              "go into every export: labels.txt, TFLite, ONNX and Core ML metadata.")
        self.names.itemChanged.connect(self._on_name_edited)
        self.names_summary = QLabel()
        self.names_summary.setWordWrap(True)
        import_file = QPushButton("Import names…")
        import_file.setToolTip("Read the names from a text file, one a line, in class order")
        import_file.clicked.connect(self.import_names_requested)
        from_folder = QPushButton("Names from the data folder")
        from_folder.setToolTip("Take the sub-folder names of the open labelled folder, in sorted order")
        from_folder.clicked.connect(self.folder_names_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(import_file)
        buttons.addWidget(from_folder)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("Pixels scaled as", self.normalization)
        form.addRow("Centre crop keeps", self.crop)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.names_summary)
        layout.addWidget(self.names, 1)
        layout.addLayout(buttons)
        self.setEnabled(False)

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the model, or its settings, change."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._state_changed(frozenset({"report"}))

    def _state_changed(self, names: frozenset[str]) -> None:
        if "report" in names:
            self.show_model(self._state.report.model if self._state.report is not None else None)

    def revert(self) -> None:
        """Show the model as it is, dropping an edit that was refused."""
        self._state_changed(frozenset({"report"}))

    def show_model(self, model: LoadedModel | None) -> None:
        """Draw `model`'s settings without emitting edits (None: no model, nothing to set)."""
        self._drawing = True
        try:
            self.setEnabled(model is not None)
            self.names.clear()
            if model is None:
                self.names_summary.setText("No model is loaded.")
                return
            card = model.card
            self._names = card.class_names
            named = Normalization.of(card.mean, card.std)
            index = self.normalization.findData(named) if named is not None else -1
            self.normalization.setCurrentIndex(index)
            self.normalization.setPlaceholderText(f"mean {card.mean}, std {card.std}")
            self.crop.setValue(card.crop_fraction)
            for name in card.class_names:
                item = QListWidgetItem(name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.names.addItem(item)
            first = ", ".join(card.class_names[:3]) + (", …" if len(card.class_names) > 3 else "")
            self.names_summary.setText(f"{card.num_classes} classes: {first}" if card.class_names else
                                       f"{card.num_classes} classes, not named yet")
        finally:
            self._drawing = False

    def _on_crop(self) -> None:
        if not self._drawing:
            self.crop_chosen.emit(self.crop.value())

    def _on_name_edited(self, item: QListWidgetItem) -> None:
        if self._drawing:
            return
        shown = tuple(self.names.item(i).text().strip() for i in range(self.names.count()))
        if not item.text().strip():  # a class needs a name: the one it had comes back
            self._drawing = True
            item.setText(self._names[self.names.row(item)])
            self._drawing = False
            return
        self.names_edited.emit(shown)
