"""What a file dragged over the window would do, said over the whole window while it is dragged: "Drop to open
model.pth", or why it cannot be opened (a text file, a folder, several files) before the user lets go."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget


class DropOverlay(QLabel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropOverlay")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()
        parent.installEventFilter(self)  # follows the window's size

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def say(self, problem: str, name: str) -> None:
        """`problem`: why the dragged file cannot be opened ('' when it can); `name`: the file's name."""
        self.setProperty("kind", "refused" if problem else "accepted")
        self.style().unpolish(self)  # a changed property restyles only when the style is re-applied
        self.style().polish(self)
        self.setText(problem or f"Drop to open {name}")
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
