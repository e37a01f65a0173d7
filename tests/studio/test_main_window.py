"""The first window: pick a zoo model or open a file, see its card and layer table; bad files explained."""

from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from core.zoo.registry import ModelSpec
from studio.state import ZooChoice

LOAD_TIMEOUT_MS = 60_000


def test_pretrained_model_loads_off_the_gui_thread_and_shows_its_card(qtbot, window, shared) -> None:
    choice = ZooChoice("mobilenet_v3_small", pretrained=True)
    window.picker.set_choice(choice)
    with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        window.picker.load_button.click()
        assert window.progress.isVisible() and window.cancel_button.isVisible()
    report = loaded.args[0]
    assert report.model.card.spec.padding == "tf_same"
    assert window.view.title.text() == "MobileNetV3-Small"
    assert "TF-slim" in window.view.card.text()
    assert "56.5 M</b> MACs" in window.view.totals.text()
    assert window.view.layers.rowCount() == len(report.complexity.layers) > 50
    assert not window.view.banner.isVisible()
    qtbot.waitUntil(lambda: not window.progress.isVisible())
    assert window.status_text.text().endswith("done")


def test_untrained_models_carry_a_visible_warning(qtbot, window) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.load_zoo(ZooChoice("mobilenet_v1", width=0.5, resolution=160, pretrained=False))
    assert not window.view.banner.isHidden() and "Untrained" in window.view.banner.text()
    assert "Untrained" in window.start_view.cards[0].detail.text(), "the Start tab says so too"
    assert "76.5 M</b> MACs" in window.view.totals.text()
    depthwise_rows = [
        window.view.layers.index(r, 10).data()
        for r in range(window.view.layers.rowCount())
        if window.view.layers.index(r, 1).data() == "depthwise"
    ]
    assert len(depthwise_rows) == 13 and all("×)" in text for text in depthwise_rows)


def test_picker_says_where_weights_come_from(window, shared) -> None:
    picker = window.picker
    picker.arch.setCurrentIndex(picker.arch.findData("mobilenet_v1"))
    assert picker.alpha.value() == 1.0
    assert "No pretrained weights for this width (pretrained at width 0.75)" in picker.availability.text()
    picker.alpha.setValue(0.75)
    assert "mobilenet_v1_0.75_keras.pth" in picker.availability.text()
    picker.arch.setCurrentIndex(picker.arch.findData("mobilenet_v3_large"))
    assert "downloaded from torchvision" in picker.availability.text()


def test_bad_files_are_explained_and_the_previous_model_stays(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=128, pretrained=False))
    garbage = tmp_path / "broken.pth"
    garbage.write_bytes(b"\x00garbage" * 100)
    with qtbot.waitSignal(window.load_failed, timeout=LOAD_TIMEOUT_MS) as failed:
        window.load_file(garbage)
    assert "not a readable PyTorch checkpoint" in failed.args[0]
    assert not window.view.banner.isHidden() and "broken.pth" in window.view.banner.text()
    pickled = tmp_path / "whole.pt"
    torch.save(ModelSpec("mobilenet_v3_small").build(), pickled)
    asked: list[str] = []
    monkeypatch.setattr(window.loading, "confirm_trust", lambda name, reason: asked.append(reason) or False)
    with qtbot.waitSignal(window.load_failed, timeout=LOAD_TIMEOUT_MS) as refused:
        window.load_file(pickled)
    assert "pickled Python objects" in asked[0] and "was not trusted" in refused.args[0]
    assert window.state.report is not None and window.view.layers.rowCount() > 0


def test_dropping_a_checkpoint_opens_it(qtbot, window, tmp_path: Path) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(ModelSpec("mobilenet_v3_small", num_classes=10).build().state_dict(), path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.dragEnterEvent(QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                          Qt.KeyboardModifier.NoModifier))
    assert window.drop_overlay.isVisible() and window.drop_overlay.text() == "Drop to open tiny.pth"
    assert window.drop_overlay.property("kind") == "accepted"
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        window.dropEvent(drop)
    assert not window.drop_overlay.isVisible()
    assert loaded.args[0].model.card.num_classes == 10
    assert "Classes:</b> 10" in window.view.card.text()


def test_cancel_button_stops_loading(qtbot, window) -> None:
    job = window.load_zoo(ZooChoice("mobilenet_v2", pretrained=False))
    job.cancel()
    with qtbot.waitSignal(job.finished, timeout=LOAD_TIMEOUT_MS):
        pass
    # The cancel may land after the job's last checkpoint; either way the window is consistent.
    assert window.status_text.text().endswith(("cancelled", "done"))
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible())


def test_weights_folder_setting_is_saved_and_used(window, tmp_path: Path) -> None:
    from core.paths import weights_dirs
    from core.settings import load_settings, save_settings

    original = load_settings()
    try:
        window.set_weights_folder(str(tmp_path))
        assert load_settings().weights_dir == str(tmp_path)
        assert tmp_path in weights_dirs()
        assert str(tmp_path) in window.status_text.text()
    finally:
        save_settings(original)


def test_a_model_file_opened_is_in_recent_models_and_reopened_at_the_next_launch_unless_gone(
    qtbot, window, tmp_path
) -> None:
    import torch

    from core.zoo.registry import ModelSpec

    checkpoint = tmp_path / "my_model.pth"
    torch.save(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=2).build().state_dict(), checkpoint)
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_file(checkpoint)
    recent = window.recent_models
    assert recent.recent()[0] == str(checkpoint.resolve()) and recent.last() == str(checkpoint.resolve())
    assert [action.text() for action in recent.menu.actions()] == [str(checkpoint.resolve())]
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        recent.reopen_last()  # what the next launch does
    assert window.state.report.model.card.title == "my_model"
    checkpoint.unlink()
    assert recent.last() is None and recent.reopen_last() is None, "gone: the launch opens the stock model"
