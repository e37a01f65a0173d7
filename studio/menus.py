"""The main window's menu bar: File (projects, models, weights), Edit (undo/redo), Run, View (tabs, themes) and Help
(the user guide, What's this?, About)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWhatsThis

from core import __version__
from studio.actions import add_action
from studio.theme import THEMES

if TYPE_CHECKING:
    from studio.main_window import MainWindow


def build_menus(window: MainWindow, tabs: tuple[str, ...]) -> dict[str, QAction]:
    """Fill `window`'s menu bar; returns the theme actions, by theme name (checked as the theme changes)."""
    file_menu = window.menuBar().addMenu("&File")
    window.projects.add_to_menu(file_menu)
    file_menu.addSeparator()
    add_action(window, file_menu, "&Open model…", window.ask_open_file, QKeySequence.StandardKey.Open)
    file_menu.addMenu(window.recent_models.menu)
    add_action(window, file_menu, "Set &weights folder…", window.ask_weights_folder,
               tip="A folder of pretrained weight files the zoo should use")  # fmt: skip
    file_menu.addSeparator()
    add_action(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)
    edit_menu = window.menuBar().addMenu("&Edit")
    undo = window.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = window.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcut(QKeySequence.StandardKey.Redo)
    edit_menu.addActions([undo, redo])
    run_menu = window.menuBar().addMenu("&Run")
    add_action(window, run_menu, "&Compress", lambda: window.compress_current(""), "Ctrl+R")
    add_action(window, run_menu, "&Export", window.export_panel.export_button.click, "Ctrl+E")
    add_action(window, run_menu, "Cancel &all jobs", window.runner.cancel_all, "Ctrl+.")
    view_menu = window.menuBar().addMenu("&View")
    for index, title in enumerate(tabs):
        add_action(window, view_menu, title, partial(window.tabs.setCurrentIndex, index), f"Ctrl+{index + 1}")
    view_menu.addSeparator()
    themes = QActionGroup(window)
    current = str(window.settings.value("theme", "light"))
    theme_actions: dict[str, QAction] = {}
    for name in THEMES:
        action = add_action(window, view_menu, f"{name.title()} theme", partial(window.set_theme, name))
        action.setCheckable(True)
        action.setChecked(name == current)
        themes.addAction(action)
        theme_actions[name] = action
    help_menu = window.menuBar().addMenu("&Help")
    add_action(window, help_menu, "User &guide", window.show_guide, QKeySequence.StandardKey.HelpContents)
    whats_this = QWhatsThis.createAction(window)
    whats_this.setText("What's &this?")
    help_menu.addAction(whats_this)
    help_menu.addSeparator()
    add_action(window, help_menu, "&About", lambda: QMessageBox.about(
        window, "About", f"MobileNet Compression Studio {__version__}\nEvery number shown is measured on this "
        "machine; compression runs in the background."))  # fmt: skip
    return theme_actions
