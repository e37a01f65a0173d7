"""Menu actions: one helper, so every menu item gets its shortcut, status tip and slot the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu


def add_action(owner: QObject, menu: QMenu, text: str, slot: Callable[[], Any], shortcut: Any = None,
               tip: str = "") -> QAction:  # fmt: skip
    action = QAction(text, owner)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(lambda _=False: slot())
    menu.addAction(action)
    return action
