"""The Start tab: the four steps from a loaded model to an app bundle, each with its state and the one button
that moves it on (studio.guide computes them; this view only draws them)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.guide import GuideStep, StepState

BADGE_WORDS = {StepState.DONE: "Done", StepState.READY: "Ready", StepState.RUNNING: "Working…",
               StepState.NEEDS_DATA: "Needs images", StepState.ATTENTION: "Check this",
               StepState.WAITING: "Not yet"}


class StepCard(QFrame):
    clicked = Signal()

    def __init__(self, number: int) -> None:
        super().__init__()
        self.setObjectName("stepCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.number = QLabel(f"{number}")
        self.number.setObjectName("stepNumber")
        self.title = QLabel()
        self.title.setObjectName("stepTitle")
        self.badge = QLabel()
        self.badge.setObjectName("badge")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton()
        self.button.clicked.connect(self.clicked)
        layout = QGridLayout(self)
        layout.addWidget(self.number, 0, 0, 2, 1, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.title, 0, 1)
        layout.addWidget(self.badge, 0, 2, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.detail, 1, 1, 1, 2)
        layout.addWidget(self.button, 2, 1, 1, 2, Qt.AlignmentFlag.AlignLeft)
        layout.setColumnStretch(1, 1)

    def show_step(self, step: GuideStep) -> None:
        self.title.setText(step.title)
        self.badge.setText(BADGE_WORDS[step.state])
        self.badge.setProperty("kind", step.state.name.lower())
        self.badge.style().unpolish(self.badge)  # a changed property restyles only when the style is re-applied
        self.badge.style().polish(self.badge)
        self.detail.setText(step.detail)
        self.button.setText(step.action)
        self.button.setVisible(bool(step.action))
        self.button.setDefault(step.state in (StepState.READY, StepState.NEEDS_DATA, StepState.ATTENTION))
        tip = f"{step.title}: {BADGE_WORDS[step.state].lower()}. {step.detail}"
        for widget in (self, self.button):
            widget.setToolTip(tip)
            widget.setWhatsThis(tip)


class StartView(QWidget):
    step_clicked = Signal(int)  # the index of the step whose button was pressed

    def __init__(self) -> None:
        super().__init__()
        heading = QLabel("Make a MobileNet smaller and faster, then put it in your app")
        heading.setObjectName("modelTitle")
        intro = QLabel("Four steps; each says what it needs. Every figure is measured on this computer, "
                       "on your images.")
        intro.setWordWrap(True)
        self.cards = [StepCard(number) for number in range(1, 5)]
        self.layers_link = QLabel('<a href="#">Show the model\'s layers</a> (Model tab)')
        self.layers_link.setToolTip("The per-layer table: every layer's shape, parameters and multiply-adds")
        self.layers_link.setWhatsThis(self.layers_link.toolTip())
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        for index, card in enumerate(self.cards):
            layout.addWidget(card)
            card.clicked.connect(lambda i=index: self.step_clicked.emit(i))
        layout.addWidget(self.layers_link)
        layout.addStretch(1)

    def show_steps(self, steps: tuple[GuideStep, ...]) -> None:
        for card, step in zip(self.cards, steps, strict=True):
            card.show_step(step)
