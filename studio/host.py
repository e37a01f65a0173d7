"""What the window's collaborators (the `*_actions` modules) may ask of it: the `Host` protocol. They are given
it and the panels they drive, never the main window itself.

A collaborator is a QObject parented to the window and reaches it through that Qt parent link: a Python
reference back to the window would close a reference cycle that the garbage collector may free on a job's
thread, destroying the window's widgets there (a deadlock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, cast

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QWidget

from core.model import LoadedModel
from core.project import Project
from studio.state import StudioState
from studio.workers import Job


class Tab(Enum):
    """The window's tabs, in order, by their titles."""

    START = "Start"
    MODEL = "Model"
    DATA = "Data"
    COMPRESS = "Compress"
    JOBS = "Jobs"
    VARIANTS = "Variants"
    COMPARE = "Compare"
    GRAPH = "Graph"
    EXPORT = "Export"

    @property
    def title(self) -> str:
        return self.value


@dataclass(frozen=True)
class ProjectUse:
    """What a job reads or writes in `project`: `variants` by id; `stores_parent` for a compression of a
    model the project does not hold yet, which stores it as the parent of its result while it runs."""

    project: Project
    variants: frozenset[str] = frozenset()
    stores_parent: bool = False


class Host(Protocol):
    """The window, as its collaborators see it."""

    @property
    def state(self) -> StudioState: ...

    @property
    def settings(self) -> QSettings: ...

    @property
    def undo_stack(self) -> QUndoStack: ...

    @property
    def threads(self) -> int:
        """Torch threads a job may use."""
        ...

    def start_job(self, title: str, fn: Callable[..., Any], *args: Any, on_success: Callable[[Any], None],
                  use: ProjectUse | None = None, budget_s: float | None = None, partial_keyword: str | None = None,
                  on_failure: Callable[[str, str], None] | None = None, **kwargs: Any) -> Job:
        """Run `fn` as a job; one that reads or writes a project says what in `use`. A failure is shown as a
        problem, or handed to `on_failure(message, details)`."""
        ...

    def show_problem(self, message: str, details: str = "", title: str = "Something went wrong") -> None: ...

    def say(self, text: str) -> None:
        """A note in the status bar."""
        ...

    def show_tab(self, tab: Tab) -> None: ...

    def assign(self, field: str, value: Any, text: str) -> None:
        """Set a field of the state as one undoable edit named `text`."""
        ...

    def current_model(self) -> LoadedModel | None:
        """The current model, or None after saying that one must be loaded first."""
        ...

    def ensure_project(self) -> Project: ...


class Collaborator(QObject):
    """A part of the window's behaviour, parented to it and seeing it as a `Host`."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)

    @property
    def host(self) -> Host:
        return cast(Host, self.parent())

    @property
    def dialog_parent(self) -> QWidget:
        """The window, as the parent of the dialogs a collaborator opens."""
        return cast(QWidget, self.parent())
