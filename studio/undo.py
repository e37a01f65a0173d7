"""Undoable edits: every change a user makes to the recipe, the data folders or a variant's name."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand


class Edit(QUndoCommand):
    """An edit given as what to do and how to take it back.

    Consecutive edits with the same `merge_key` (a slider being dragged) merge into one step that
    undoes back to the value before the drag.
    """

    def __init__(self, text: str, do: Callable[[], None], undo: Callable[[], None], merge_key: str = "") -> None:
        super().__init__(text)
        self._do, self._undo, self.merge_key = do, undo, merge_key

    def redo(self) -> None:
        self._do()

    def undo(self) -> None:
        self._undo()

    def id(self) -> int:
        return 1 if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, Edit) or other.merge_key != self.merge_key:
            return False
        self._do = other._do
        return True
