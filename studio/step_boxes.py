"""The Compress tab's fine-tuning and quantization knobs, each a checkable group that draws its recipe step and
makes one from its controls (fields without a control keep the shown step's values)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox

from core.recipe import FinetuneStep, QuantizeStep
from studio.compress_words import TIPS, WORDS
from studio.prune_box import choose, word_combo


class FinetuneBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Retrain to recover accuracy (fine-tuning)")
        self.setCheckable(True)
        self.setToolTip(TIPS["finetune"])
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.05, 100)
        self.epochs.setSingleStep(0.5)
        self.epochs.setToolTip(TIPS["epochs"])
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(6)
        self.learning_rate.setRange(1e-6, 0.1)
        self.learning_rate.setSingleStep(1e-5)
        self.learning_rate.setToolTip(TIPS["lr"])
        self.distill = QCheckBox("Learn from the original's answers (distillation)")
        self.distill.setToolTip(TIPS["distill"])
        self.labels = QCheckBox("Also learn from the labels")
        self.labels.setToolTip(TIPS["labels"])
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0, 10_000)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip(TIPS["minutes"])
        form = QFormLayout(self)
        form.addRow("Passes over the images", self.epochs)
        form.addRow("Step size", self.learning_rate)
        form.addRow("", self.distill)
        form.addRow("", self.labels)
        form.addRow("Time limit", self.minutes)

    def edits(self) -> list[tuple[Any, str]]:
        """(signal, undo text) of each control."""
        return [(self.toggled, "Toggle fine-tuning"), (self.epochs.valueChanged, "Epochs"),
                (self.learning_rate.valueChanged, "Learning rate"), (self.distill.toggled, "Distillation"),
                (self.labels.toggled, "Labels"), (self.minutes.valueChanged, "Time limit")]

    def step(self, base: FinetuneStep | None) -> FinetuneStep:
        return replace(base or FinetuneStep(), epochs=self.epochs.value(), learning_rate=self.learning_rate.value(),
                       distill=self.distill.isChecked(), labels=self.labels.isChecked(),
                       max_minutes=self.minutes.value() or None)

    def show_step(self, step: FinetuneStep | None) -> None:
        self.setChecked(step is not None)
        step = step or FinetuneStep()
        self.epochs.setValue(step.epochs)
        self.learning_rate.setValue(step.learning_rate)
        self.distill.setChecked(step.distill)
        self.labels.setChecked(step.labels)
        self.minutes.setValue(step.max_minutes or 0)


class QuantizeBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Use smaller numbers (quantization)")
        self.setCheckable(True)
        self.setToolTip(TIPS["quantize"])
        self.mode = word_combo(WORDS["mode"], QuantizeStep.MODES, TIPS["mode"])
        self.observer = word_combo(WORDS["observer"], QuantizeStep.OBSERVERS, TIPS["observer"])
        self.calibration = QSpinBox()
        self.calibration.setRange(1, 100_000)
        self.calibration.setToolTip(TIPS["calibration"])
        self.keep_float = QLineEdit()
        self.keep_float.setPlaceholderText("none")
        self.keep_float.setToolTip(TIPS["keep_float"])
        form = QFormLayout(self)
        form.addRow("Numbers", self.mode)
        form.addRow("Ranges measured by", self.observer)
        form.addRow("Example images used", self.calibration)
        form.addRow("Layers kept at full precision", self.keep_float)

    def edits(self) -> list[tuple[Any, str]]:
        """(signal, undo text) of each control."""
        return [(self.toggled, "Toggle quantization"), (self.mode.currentIndexChanged, "Quantization mode"),
                (self.observer.currentIndexChanged, "Observer"), (self.calibration.valueChanged, "Calibration images"),
                (self.keep_float.editingFinished, "Keep in float")]

    def step(self, base: QuantizeStep | None) -> QuantizeStep:
        keep = tuple(name.strip() for name in self.keep_float.text().split(",") if name.strip())
        return replace(base or QuantizeStep(), mode=self.mode.currentData(), observer=self.observer.currentData(),
                       calibration_images=self.calibration.value(), keep_float=keep)

    def show_step(self, step: QuantizeStep | None) -> None:
        self.setChecked(step is not None)
        step = step or QuantizeStep()
        choose(self.mode, step.mode)
        choose(self.observer, step.observer)
        self.calibration.setValue(step.calibration_images)
        self.keep_float.setText(", ".join(step.keep_float))
