"""The start-up splash: the icon, the name and what is loading, in a frameless window.

Not QSplashScreen: its show() waits up to a second for the window manager to report the window exposed, and
without one (Xvfb, some remote desktops) start-up lost that whole second.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget


class Splash(QWidget):
    def __init__(self, icon: QIcon, title: str) -> None:
        super().__init__(None, Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint)
        picture = QLabel()
        picture.setPixmap(icon.pixmap(192, 192))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        name = QLabel(f"<b>{title}</b>")
        name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        for widget in (picture, name, self.message):
            layout.addWidget(widget)
        self.resize(320, 280)
        screen = QApplication.primaryScreen()
        if screen is not None:
            self.move(screen.availableGeometry().center() - self.rect().center())

    def say(self, text: str) -> None:
        """Show `text` now: the caller is about to block the event loop (an import), so paint before it."""
        self.message.setText(text)
        self.show()
        self.repaint()
        QApplication.processEvents()

    def finish(self, window: QWidget) -> None:
        window.raise_()
        self.close()
