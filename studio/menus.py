"""The main window's menu bar: File (projects, models, weights), Edit (undo/redo), Run, View (tabs, themes) and Help
(the user guide, What's this?, About)."""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMenu, QMenuBar, QMessageBox, QWhatsThis

from core import __version__
from studio.actions import add_action
from studio.host import Tab
from studio.theme import THEMES


class MenuHost(Protocol):
    """The window's verbs the menus call, and what they are built into."""

    @property
    def settings(self) -> QSettings: ...

    @property
    def undo_stack(self) -> QUndoStack: ...

    def menuBar(self) -> QMenuBar: ...

    def add_project_actions(self, menu: QMenu) -> None: ...

    def recent_models_menu(self) -> QMenu: ...

    def ask_open_file(self) -> None: ...

    def ask_weights_folder(self) -> None: ...

    def close(self) -> bool: ...

    def compress_current(self, name: str = "") -> Any: ...

    def export_now(self) -> None: ...

    def cancel_all(self) -> None: ...

    def show_tab(self, tab: Tab) -> None: ...

    def set_theme(self, name: str) -> None: ...

    def show_guide(self) -> Any: ...


def build_menus(host: MenuHost) -> dict[str, QAction]:
    """Fill `host`'s menu bar; returns the theme actions, by theme name (checked as the theme changes). Each
    action belongs to its menu."""
    bar = host.menuBar()
    file_menu = bar.addMenu("&File")
    host.add_project_actions(file_menu)
    file_menu.addSeparator()
    add_action(file_menu, file_menu, "&Open model…", host.ask_open_file, QKeySequence.StandardKey.Open)
    file_menu.addMenu(host.recent_models_menu())
    add_action(file_menu, file_menu, "Set &weights folder…", host.ask_weights_folder,
               tip="A folder of pretrained weight files the zoo should use")
    file_menu.addSeparator()
    add_action(file_menu, file_menu, "&Quit", host.close, QKeySequence.StandardKey.Quit)
    edit_menu = bar.addMenu("&Edit")
    undo = host.undo_stack.createUndoAction(edit_menu, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = host.undo_stack.createRedoAction(edit_menu, "&Redo")
    redo.setShortcut(QKeySequence.StandardKey.Redo)
    edit_menu.addActions([undo, redo])
    run_menu = bar.addMenu("&Run")
    add_action(run_menu, run_menu, "&Compress", lambda: host.compress_current(""), "Ctrl+R")
    add_action(run_menu, run_menu, "&Export", host.export_now, "Ctrl+E")
    add_action(run_menu, run_menu, "Cancel &all jobs", host.cancel_all, "Ctrl+.")
    view_menu = bar.addMenu("&View")
    for index, tab in enumerate(Tab):
        add_action(view_menu, view_menu, tab.title, partial(host.show_tab, tab), f"Ctrl+{index + 1}")
    view_menu.addSeparator()
    themes = QActionGroup(view_menu)
    current = str(host.settings.value("theme", "light"))
    theme_actions: dict[str, QAction] = {}
    for name in THEMES:
        action = add_action(view_menu, view_menu, f"{name.title()} theme", partial(host.set_theme, name))
        action.setCheckable(True)
        action.setChecked(name == current)
        themes.addAction(action)
        theme_actions[name] = action
    help_menu = bar.addMenu("&Help")
    add_action(help_menu, help_menu, "User &guide", host.show_guide, QKeySequence.StandardKey.HelpContents)
    whats_this = QWhatsThis.createAction(help_menu)
    whats_this.setText("What's &this?")
    help_menu.addAction(whats_this)
    help_menu.addSeparator()
    add_action(help_menu, help_menu, "&About", lambda: QMessageBox.about(
        bar.window(), "About", f"MobileNet Compression Studio {__version__}\nEvery number shown is measured on this "
        "machine; compression runs in the background."))
    return theme_actions
