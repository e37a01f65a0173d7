"""Continuity between runs for model files: File › Recent models, and the last model file opened, which the studio
reopens at launch (the stock model when it is gone or fails to open: the way out).

Only files are remembered (a zoo model is one click in the Model tab); a file is remembered once it opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QMenu

from core.inspect import ModelReport
from studio.actions import add_action

MAX_RECENT = 8
RECENT_KEY, LAST_KEY = "model/recent", "model/last"


class RecentModels(QObject):
    def __init__(self, parent: QObject, settings: QSettings, open_file: Callable[[str], object]) -> None:
        """`open_file`: opens a model file (a weak call into the window: studio.actions.weakly)."""
        super().__init__(parent)
        self.settings, self.open_file = settings, open_file
        self.menu = QMenu("Recent models")
        self.menu.setToolTip("Model files opened before, newest first")
        self._refresh()

    def opened(self, path: str, result: object) -> None:
        """A load of `path` ended with `result`: a model is remembered; a file still waiting for trust is not."""
        if isinstance(result, ModelReport):
            self.remember(path)

    def remember(self, path: str) -> None:
        """`path` opened: first in Recent models, and reopened at the next launch."""
        resolved = str(Path(path).resolve())
        recent = [resolved] + [p for p in self.recent() if p != resolved]
        self.settings.setValue(RECENT_KEY, json.dumps(recent[:MAX_RECENT]))
        self.settings.setValue(LAST_KEY, resolved)
        self._refresh()

    def recent(self) -> list[str]:
        try:
            paths = json.loads(str(self.settings.value(RECENT_KEY, "[]")))
        except json.JSONDecodeError:
            return []
        return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []

    def last(self) -> str | None:
        """The model file to reopen at launch, if it is still there."""
        last = self.settings.value(LAST_KEY, None)
        return str(last) if last and Path(str(last)).is_file() else None

    def reopen_last(self) -> object | None:
        """Open the last model file (its job), or None when there is none to reopen."""
        last = self.last()
        return None if last is None else self.open_file(last)

    def forget_last(self) -> None:
        """It failed to open at launch: the next launch starts with the stock model."""
        self.settings.remove(LAST_KEY)

    def _refresh(self) -> None:
        self.menu.clear()
        for path in self.recent():
            add_action(self, self.menu, path, partial(self.open_file, path))
        self.menu.setEnabled(bool(self.recent()))
