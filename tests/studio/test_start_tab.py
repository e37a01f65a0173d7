"""The Start tab's buttons lead where their words say, and its steps are redrawn as the state changes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from core.data.datasets import ImageDataset, Sample
from studio.state import ZooChoice


def test_each_step_button_leads_to_its_place(qtbot, window) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    start, cards = window.start_view, window.start_view.cards
    assert cards[0].badge.text() == "Check this" and cards[0].button.text() == "Choose a model", "untrained"
    qtbot.mouseClick(cards[0].button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.model_tab

    window.tabs.setCurrentWidget(start)
    window.compress_panel.advanced.setChecked(True)  # left on the knobs: the Start tab brings back the target form
    images = ImageDataset(Path("images"), "labels_csv", [Sample(Path("a.png"), 0)])  # chosen, never read here
    window.state.datasets = {"calib": images, "evaluation": images}  # the Start tab follows the state
    assert cards[1].button.text() == "Make it smaller or faster"
    qtbot.mouseClick(cards[1].button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.compress_panel and not window.compress_panel.target_form.isHidden()

    window.tabs.setCurrentWidget(start)
    qtbot.mouseClick(cards[3].button, Qt.MouseButton.LeftButton)
    export = window.export_panel
    assert window.tabs.currentWidget() is export
    assert export.bundle.checkedButton().property("bundle") == "android"
    assert not any(box.isChecked() for box in export.formats.values()), "the bundle adds the one format it holds"

    window.tabs.setCurrentWidget(start)
    start.layers_link.linkActivated.emit("#")
    assert window.tabs.currentWidget() is window.model_tab


def test_missing_images_lead_to_the_data_tab(qtbot, window) -> None:
    window.set_data_folder("calib", "")
    window.set_data_folder("evaluation", "")
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v2", pretrained=True))
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=60_000)
    card = window.start_view.cards[1]
    assert card.badge.text() == "Needs images" and "example images and labelled images" in card.detail.text()
    qtbot.mouseClick(card.button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.data_panel
