"""Compress tab: say what you need (a target the search meets), or set every knob by hand under Advanced.

The target form asks in plain words: what matters (speed, size, compute), the points of accuracy one can
lose, the minutes one can wait, where speed is measured and whether 8-bit numbers are allowed. While the
search runs, its candidates appear on the chart. The knobs (pruning, fine-tuning, quantization, sensitivity
analysis) are one click away under "Set the knobs by hand".

The controls are a view of `StudioState.recipe`. Any edit builds a new `Recipe` (validated on
construction) and hands it to the window as one undoable assignment; a change of the state from
elsewhere (a preset, undo, a suggestion) is drawn back into the controls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.export.bundle import AppBundle
from core.metrics.accuracy_text import resolution_text
from core.recipe import (
    DropBlocksStep,
    FinetuneStep,
    PruneStep,
    QuantizeStep,
    Recipe,
    RecipeError,
    ResolutionStep,
    Runtime,
    TargetStep,
    load_recipe,
    preset_names,
)
from studio.compress_charts import SearchChart
from studio.compress_words import GOALS, RUNTIME_NAMES, TIPS
from studio.prune_box import PruneBox
from studio.sensitivity_box import SensitivityBox
from studio.state import StudioState
from studio.step_boxes import FinetuneBox, QuantizeBox

CUSTOM = "Custom"
EDITED = " (edited)"


class CompressPanel(QWidget):
    recipe_edited = Signal(object, str)  # Recipe, description for undo
    run_requested = Signal(str)  # variant name ("" for the default)

    def __init__(self) -> None:
        super().__init__()
        self._drawing = False
        self._shown: Recipe | None = None  # the recipe the controls draw; edits start from it
        self._shipped_in: Runtime | None = None  # where the next step's app runs the model: presets time there

        self.preset = QComboBox()
        self.preset.addItem(CUSTOM, "")
        self.presets = {name: load_recipe(name) for name in preset_names()}
        for name, recipe in self.presets.items():
            self.preset.addItem(recipe.name, name)
            self.preset.setItemData(self.preset.count() - 1, recipe.description, Qt.ItemDataRole.ToolTipRole)
        self.preset.setToolTip(TIPS["preset"])

        self.goal = QComboBox()
        for text, key in GOALS:
            self.goal.addItem(text, key)
        self.goal.setToolTip(TIPS["goal"])
        self.max_drop = QDoubleSpinBox()
        self.max_drop.setRange(0.0, 50.0)
        self.max_drop.setSingleStep(0.5)
        self.max_drop.setSuffix(" points")
        self.max_drop.setToolTip(TIPS["max_drop"])
        self.budget = QSpinBox()
        self.budget.setRange(1, 24 * 60)
        self.budget.setSuffix(" min")
        self.budget.setToolTip(TIPS["budget"])
        self.runtime = QComboBox()
        for text, key in RUNTIME_NAMES:
            self.runtime.addItem(text, key)
        self.runtime.setToolTip(TIPS["runtime"])
        self.allow_int8 = QCheckBox("Allow 8-bit numbers (int8)")
        self.allow_int8.setToolTip(TIPS["int8"])
        self.eta = QLabel()
        self.eta.setWordWrap(True)
        self._shown_budget, self._evaluation_images, self._first_answer = TargetStep().budget_minutes, 0, 0.0
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setVisible(False)
        self.target_form = QGroupBox("What do you need?")
        target_layout = QFormLayout(self.target_form)
        target_layout.addRow("What matters most", self.goal)
        target_layout.addRow("Points of accuracy I can lose", self.max_drop)
        target_layout.addRow("Minutes I can wait", self.budget)
        target_layout.addRow("Speed measured in", self.runtime)
        target_layout.addRow("", self.allow_int8)
        target_layout.addRow("", self.eta)
        target_layout.addRow("", self.outcome)
        for widget in (self.goal, self.max_drop, self.budget, self.runtime, self.allow_int8):
            widget.setWhatsThis(widget.toolTip())
        self.advanced = QCheckBox("Set the knobs by hand (advanced)")
        self.advanced.setToolTip(TIPS["advanced"])
        self.search_chart = SearchChart()
        self.search_box = QGroupBox("Candidates the search tried")
        QVBoxLayout(self.search_box).addWidget(self.search_chart)

        self.shrink = QGroupBox("Shrink the input image")
        self.shrink.setCheckable(True)
        self.shrink.setToolTip(TIPS["resolution"])
        self.input_size = QSpinBox()
        self.input_size.setRange(64, 224)
        self.input_size.setSingleStep(16)
        self.input_size.setSuffix(" px")
        self.input_size.setToolTip(TIPS["resolution"])
        QFormLayout(self.shrink).addRow("Image side", self.input_size)
        self.drop = QGroupBox("Remove whole blocks")
        self.drop.setCheckable(True)
        self.drop.setToolTip(TIPS["blocks"])
        self.block_list = QLineEdit()
        self.block_list.setPlaceholderText("block numbers, e.g. 5, 12")
        self.block_list.setToolTip(TIPS["blocks"])
        QFormLayout(self.drop).addRow("Blocks", self.block_list)

        self.prune = PruneBox()

        self.quantize = QuantizeBox()
        self.finetune = FinetuneBox()

        self.sensitivity = SensitivityBox()

        self.error = QLabel()
        self.error.setObjectName("banner")
        self.error.setProperty("kind", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.variant_name = QLineEdit()
        self.variant_name.setToolTip("The name of the new model in the Variants tab; empty: the model's and the "
                                     "recipe's names")
        self.variant_name.setPlaceholderText("variant name (default: model · recipe)")
        self.run_button = QPushButton("Compress")
        self.run_button.setToolTip("Run the recipe on the current model as a job; the result becomes a variant")
        self.run_button.setDefault(True)
        self.needs = QLabel()
        self.needs.setWordWrap(True)

        knobs = QWidget()
        knob_layout = QVBoxLayout(knobs)
        top = QFormLayout()
        top.addRow("Start from", self.preset)
        knob_layout.addLayout(top)
        knob_layout.addWidget(self.target_form)
        knob_layout.addWidget(self.advanced)
        self.knob_groups = (self.shrink, self.drop, self.prune, self.finetune, self.quantize)
        for group in self.knob_groups:
            knob_layout.addWidget(group)
        knob_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(knobs)
        scroll.setWidgetResizable(True)
        right = QVBoxLayout()
        right.addWidget(self.search_box, 1)
        right.addWidget(self.sensitivity, 1)
        right.addWidget(self.error)
        right.addWidget(self.needs)
        run_row = QHBoxLayout()
        run_row.addWidget(self.variant_name, 1)
        run_row.addWidget(self.run_button)
        right.addLayout(run_row)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(right, 1)

        self._connect()

    def _connect(self) -> None:
        self.preset.activated.connect(self._on_preset)
        edited: list[tuple[Any, str]] = [
            *self.prune.edits(), *self.quantize.edits(), *self.finetune.edits(),
            (self.goal.currentIndexChanged, "What matters most"), (self.max_drop.valueChanged, "Points I can lose"),
            (self.budget.valueChanged, "Minutes I can wait"), (self.runtime.currentIndexChanged, "Speed measured in"),
            (self.allow_int8.toggled, "Allow int8"), (self.advanced.toggled, "Knobs by hand"),
            (self.shrink.toggled, "Shrink the input"), (self.input_size.valueChanged, "Image side"),
            (self.drop.toggled, "Remove blocks"), (self.block_list.editingFinished, "Blocks to remove"),
        ]
        for signal, text in edited:
            signal.connect(self._edited(text))
        self.prune.overrides_cleared.connect(self._edited("Clear per-layer ratios"))
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.variant_name.text().strip()))

    def _edited(self, text: str) -> Callable[..., None]:
        def handler(*_: object) -> None:
            if self._drawing:
                return
            try:
                recipe = self.recipe_from_controls()
            except RecipeError as exc:
                self.error.setText(str(exc))
                self.error.show()
                return
            self.error.hide()
            self.recipe_edited.emit(recipe, text)

        return handler

    def _on_preset(self) -> None:
        name = self.preset.currentData()
        if name:
            preset = self.presets[name]
            self.recipe_edited.emit(preset.timed_in(self._shipped_in) if self._shipped_in else preset,
                                    f"Preset {preset.name}")

    def follow_destination(self, bundle: AppBundle | None) -> None:
        """An app bundle whose runtime the studio can time (Android's LiteRT) is the next step: presets time speed
        there, as the app runs the model, and so does the target search on the form now (an edit, undoable; the
        user may choose another runtime after)."""
        self._shipped_in = bundle.runtime if bundle is not None else None
        target = self._shown.step(TargetStep) if self._shown else None
        if self._shown and self._shipped_in and target and target.runtime is not self._shipped_in:
            self.recipe_edited.emit(self._shown.timed_in(self._shipped_in), "Time speed in LiteRT (Android bundle)")

    def _blocks(self) -> tuple[int, ...]:
        try:
            blocks = tuple(int(part) for part in self.block_list.text().replace(" ", ",").split(",") if part)
        except ValueError:
            raise RecipeError("the blocks to remove are whole numbers separated by commas, e.g. 5, 12") from None
        if not blocks:
            raise RecipeError("name the blocks to remove, e.g. 5, 12 (the Model tab lists them)")
        return blocks

    def _target_from_controls(self, base: Recipe) -> Recipe:
        step = replace(
            base.step(TargetStep) or TargetStep(), objective=self.goal.currentData(), max_drop=self.max_drop.value(),
            budget_minutes=float(self.budget.value()), runtime=self.runtime.currentData(),
            precisions=tuple(TargetStep.PRECISIONS) if self.allow_int8.isChecked() else ("float",),
        )
        if base.step(TargetStep) == step:
            return base
        name = base.name if base.step(TargetStep) and (base.name == CUSTOM or base.name.endswith(EDITED)) else (
            base.name + EDITED if base.step(TargetStep) else CUSTOM)
        return Recipe(name, (step,), step.describe())

    def recipe_from_controls(self) -> Recipe:
        """The shown recipe with the controls' values; fields without a control keep their values."""
        base = self._shown or Recipe(CUSTOM, (QuantizeStep(),))
        if not self.advanced.isChecked():
            return self._target_from_controls(base)
        if base.step(TargetStep) is not None:  # switching to the knobs starts from plain static int8
            return Recipe(CUSTOM, (QuantizeStep(),))
        steps: list[Any] = []
        if self.shrink.isChecked():
            steps.append(replace(base.step(ResolutionStep) or ResolutionStep(), input_size=self.input_size.value()))
        if self.drop.isChecked():
            steps.append(replace(base.step(DropBlocksStep) or DropBlocksStep((1,)), blocks=self._blocks()))
        if self.prune.isChecked():
            steps.append(self.prune.step(base.step(PruneStep)))
        if self.finetune.isChecked():
            steps.append(self.finetune.step(base.step(FinetuneStep)))
        if self.quantize.isChecked():
            steps.append(self.quantize.step(base.step(QuantizeStep)))
        if not steps:
            raise RecipeError("turn on pruning, fine-tuning or quantization: a recipe needs at least one step")
        if tuple(steps) == base.steps:
            return base
        if base.name == CUSTOM or base.name.endswith(EDITED):
            return Recipe(base.name, tuple(steps), base.description)
        return Recipe(base.name + EDITED, tuple(steps), f"Edited from the {base.name} preset")

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the recipe, the data or the model change; another model's search
        result and layer analysis are forgotten."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._state_changed(frozenset({"recipe", "datasets", "first_answer_s"}))

    def _state_changed(self, names: frozenset[str]) -> None:
        state = self._state
        if "recipe" in names:
            self.show_recipe(state.recipe)
        if names & {"recipe", "datasets", "folders"}:
            self.show_needs(state.missing_data())
            evaluation = state.evaluation()
            self.show_evaluation_size(len(evaluation) if evaluation is not None else 0)
        if "first_answer_s" in names:
            self.show_first_answer(state.first_answer_s)
        if "model" in names:
            self.forget_model()

    def show_target_form(self) -> None:
        """The target form rather than the knobs: what a newcomer should fill in."""
        self.advanced.setChecked(False)

    def show_recipe(self, recipe: Recipe) -> None:
        """Draw `recipe` into the controls without emitting edits."""
        self._drawing = True
        try:
            self._shown = recipe
            target = recipe.step(TargetStep)
            runtime = target.runtime if target else Runtime.ONNXRUNTIME  # a preset whatever runtime it times in
            index = next((i for i in range(1, self.preset.count())
                          if self.presets[self.preset.itemData(i)].timed_in(runtime) == recipe), 0)
            self.preset.setCurrentIndex(index)
            self._show_mode(target is None)
            shown = target or TargetStep()
            self.goal.setCurrentIndex(max(0, self.goal.findData(shown.objective)))
            self.max_drop.setValue(shown.max_drop)
            self.budget.setValue(max(1, round(shown.budget_minutes)))
            self.runtime.setCurrentIndex(max(0, self.runtime.findData(shown.runtime)))
            self.allow_int8.setChecked(shown.allows_int8)
            self._shown_budget = shown.budget_minutes
            self._show_eta()
            prune, tune, quant = recipe.step(PruneStep), recipe.step(FinetuneStep), recipe.step(QuantizeStep)
            shrink, drop = recipe.step(ResolutionStep), recipe.step(DropBlocksStep)
            self.shrink.setChecked(shrink is not None)
            self.input_size.setValue((shrink or ResolutionStep()).input_size)
            self.drop.setChecked(drop is not None)
            self.block_list.setText(", ".join(str(block) for block in drop.blocks) if drop else "")
            self.prune.show_step(prune)
            self.finetune.show_step(tune)
            self.quantize.show_step(quant)
        finally:
            self._drawing = False

    def _show_mode(self, by_hand: bool) -> None:
        """The target form, or the knobs (with sensitivity analysis) when setting them by hand."""
        self.advanced.setChecked(by_hand)
        self.target_form.setVisible(not by_hand)
        self.search_box.setVisible(not by_hand)
        for group in (*self.knob_groups, self.sensitivity):
            group.setVisible(by_hand)
        self.run_button.setText("Compress" if by_hand else "Find the best model")

    def _show_eta(self) -> None:
        resolution = f" {resolution_text(self._evaluation_images).capitalize()}." if self._evaluation_images else ""
        first = (f" On this computer the first verified answer for this model took {self._first_answer / 60:.1f} "
                 "min (measured by its last search): less time cannot be asked for." if self._first_answer else
                 " The first search of this model measures how soon it gives a verified answer here.")
        self.eta.setText(
            f"Verifies what is nearly free first (int8, smaller inputs), then trains candidates until "
            f"{self._shown_budget:g} min. The best verified model is kept, also if you cancel; if nothing meets "
            f"the target, the closest is kept, marked missed.{first}{resolution}"
        )

    def show_first_answer(self, seconds: float | None) -> None:
        """The least useful budget on this computer for the current model (None: not measured yet): the form
        refuses less, before anything starts."""
        self._first_answer = seconds or 0.0
        self.budget.setMinimum(self._state.least_budget())
        self._show_eta()

    def show_evaluation_size(self, images: int) -> None:
        """Say what the evaluation images can resolve (0: none chosen yet)."""
        self._evaluation_images = images
        self._show_eta()

    def show_outcome(self, text: str, missed: bool) -> None:
        """What the last search found, in words: a missed target is a result with a warning, not a failure."""
        self.outcome.setText(("⚠ " if missed else "") + text)
        self.outcome.setVisible(bool(text))

    def forget_model(self) -> None:
        """Another model is current: the last one's candidates, outcome and layer analysis go."""
        self.search_chart.clear_candidates()
        self.show_outcome("", missed=False)
        self.sensitivity.forget()

    def show_needs(self, missing: list[str]) -> None:
        """What the recipe still needs from the Data tab, from the folders chosen now (empty: nothing)."""
        self.needs.setText(f"Choose {' and '.join(missing)} in the Data tab first." if missing else "")
