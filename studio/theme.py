"""Fusion style with an explicit palette (colour-scheme hints do nothing offscreen)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_COLORS = {
    "light": {
        QPalette.ColorRole.Window: "#f4f5f7", QPalette.ColorRole.WindowText: "#1d1f23",
        QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#eef1f5",
        QPalette.ColorRole.Text: "#1d1f23", QPalette.ColorRole.Button: "#e9ebef",
        QPalette.ColorRole.ButtonText: "#1d1f23", QPalette.ColorRole.Highlight: "#1f6feb",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#ffffe1",
        QPalette.ColorRole.ToolTipText: "#1d1f23",
    },
    "dark": {
        QPalette.ColorRole.Window: "#1e2024", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#15171a", QPalette.ColorRole.AlternateBase: "#23262b",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2b2e34",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#3b82f6",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b2e34",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
    },
}  # fmt: skip

THEMES = tuple(_COLORS)

_STYLE = """
QLabel#modelTitle { font-size: 18pt; font-weight: 600; }
QLabel#banner { padding: 8px; border-radius: 4px; }
QLabel#banner[kind="warning"] { background: #fff4ce; color: #5c4400; border: 1px solid #e0c060; }
QLabel#banner[kind="error"] { background: #fde7e9; color: #8a1020; border: 1px solid #e08090; }
"""


def apply_theme(app: QApplication, name: str = "light") -> None:
    """Palette and style sheet for widgets; background and axes for charts, existing ones included."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in _COLORS[name].items():
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)
    background = _COLORS[name][QPalette.ColorRole.Base]
    foreground = _COLORS[name][QPalette.ColorRole.Text]
    pg.setConfigOptions(background=background, foreground=foreground, antialias=True)
    for widget in app.allWidgets():
        if isinstance(widget, pg.GraphicsView):
            widget.setBackground(background)
            for item in widget.items():
                if isinstance(item, pg.AxisItem):
                    item.setPen(foreground)
                    item.setTextPen(foreground)
