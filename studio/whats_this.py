"""Help on every control: Help › What's this? (Shift+F1), then a click on a control, explains it.

Each control's tooltip already says what it does in plain words, the technical term included; its What's-this
text is that tooltip unless it was given a longer one.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QMenuBar,
    QSlider,
    QTabBar,
    QWidget,
)

CONTROL_TYPES = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QSlider, QAbstractItemView)


def _qt_internal(widget: QWidget) -> bool:
    """Parts Qt builds inside its own widgets (a spin box's editor, a combo box's list, a table's corner button,
    a tab bar's scroll arrows): their owner is the control a user points at."""
    if widget.objectName().startswith("qt_") or isinstance(widget, QHeaderView):
        return True
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QComboBox | QAbstractSpinBox | QTabBar | QMenuBar):
            return True
        parent = parent.parentWidget()
    return False


def controls(root: QWidget) -> Iterator[QWidget]:
    """Every control under `root` a user operates."""
    for widget in root.findChildren(QWidget):
        if isinstance(widget, CONTROL_TYPES) and not _qt_internal(widget):
            yield widget


def explain_controls(root: QWidget) -> None:
    """Give every control under `root` without a What's-this text its tooltip as one."""
    for widget in controls(root):
        if not widget.whatsThis():
            widget.setWhatsThis(widget.toolTip())
