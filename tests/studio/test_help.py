"""Help for a newcomer: a user guide in the app, and a What's-this text on every control."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from studio.help_dialog import GuideDialog
from studio.whats_this import controls


def test_every_control_explains_itself_with_whats_this(window) -> None:
    found = list(controls(window))
    assert len(found) > 60, "the walk reaches every tab's controls"
    unexplained = [f"{type(c).__name__} {getattr(c, 'text', lambda: '')()!r} in {type(c.parentWidget()).__name__}"
                   for c in found if not c.whatsThis().strip()]
    assert not unexplained, unexplained


def test_the_whats_this_walk_skips_what_qt_builds_inside_controls(window) -> None:
    found = set(map(id, controls(window)))
    spin = window.compress_panel.budget
    assert id(spin) in found and id(spin.lineEdit()) not in found, "a spin box, not its inner editor"
    assert all(id(button) not in found for button in window.tabs.tabBar().findChildren(QPushButton))


def test_help_opens_the_user_guide_with_the_four_steps(qtbot, window) -> None:
    (guide_action,) = [a for a in window.menuBar().actions()[-1].menu().actions() if a.text() == "User &guide"]
    assert guide_action.shortcut().toString() == "F1"
    guide_action.trigger()
    guide = window.findChild(GuideDialog)
    assert guide is not None and guide.isVisible()
    text = guide.browser.toPlainText()
    assert "The four steps" in text and "Export for Android / iOS" in text and "±3.5, 500 images" in text
