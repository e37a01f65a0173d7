"""Menu actions: one helper, so every menu item gets its shortcut, status tip and slot the same way; and weak calls
to the window for collaborators that keep them."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu


def add_action(owner: QObject, menu: QMenu, text: str, slot: Callable[[], Any], shortcut: Any = None,
               tip: str = "") -> QAction:
    action = QAction(text, owner)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(lambda _=False: slot())
    menu.addAction(action)
    return action


def weakly(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` (bound to the window) called through a weak reference: a collaborator that keeps it closes no
    reference cycle through the window, which must be freed by reference counting alone (studio.workers)."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = ref()
        return None if bound is None else bound(*args, **kwargs)

    return call
