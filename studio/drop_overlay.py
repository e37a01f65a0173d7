"""What a file dragged over the window would do, said over the whole window while it is dragged: "Drop to open
model.pth", or why it cannot be opened (a text file, a folder, several files) before the user lets go."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QUrl
from PySide6.QtWidgets import QLabel, QWidget

MODEL_SUFFIXES = (".pth", ".pt", ".pt2", ".onnx")
MODEL_FILE_FILTER = f"Models ({' '.join('*' + suffix for suffix in MODEL_SUFFIXES)});;All files (*)"
DROP_HINT = "Drop a .pth, .pt, .pt2 or .onnx file, or choose a model from the zoo."


def not_a_model(urls: list[QUrl]) -> str:
    """Why dropped `urls` cannot be opened as a model, in plain words; '' when they are one model file.

    Checked before a load job starts: the loader's errors for a text file or a folder are not for people.
    """
    if len(urls) != 1 or not urls[0].isLocalFile():
        return f"Drop one model file from this computer. {DROP_HINT}"
    path = Path(urls[0].toLocalFile())
    if path.is_dir():
        return f"{path.name} is a folder, not a model file. {DROP_HINT}"
    if path.suffix.lower() not in MODEL_SUFFIXES:
        return f"{path.name} is not a model file. {DROP_HINT}"
    return ""


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
            self._cover()
        return False

    def say(self, problem: str, name: str) -> None:
        """`problem`: why the dragged file cannot be opened ('' when it can); `name`: the file's name."""
        self.setProperty("kind", "refused" if problem else "accepted")
        self.style().unpolish(self)  # a changed property restyles only when the style is re-applied
        self.style().polish(self)
        self.setText(problem or f"Drop to open {name}")
        self._cover()
        self.raise_()
        self.show()

    def _cover(self) -> None:
        """Over the whole window it belongs to."""
        window = self.parentWidget()
        if window is not None:
            self.setGeometry(window.rect())
