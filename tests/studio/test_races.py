"""Jobs run on a worker thread while the GUI thread edits the project: edits to variants in use are refused,
a result from a project closed meanwhile stays in that project, and what is not a model is never loaded."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent

from core.metrics.stored import VariantMetrics
from core.project import Project
from core.recipe import PruneStep, Recipe
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from studio.main_window import MainWindow

TINY = ModelSpec("mobilenet_v3_small", resolution=64)
JOB_TIMEOUT_MS = 120_000


def _project(root: Path, *names: str) -> Project:
    """A project of untrained 64 px V3-Smalls, each child of the one before, built without the GUI."""
    project = Project.create(root)
    model, parent = create_model(TINY, "none"), None
    for name in names:
        parent = project.add_variant(model, name, parent=parent, metrics=VariantMetrics(size_bytes=10_000_000)).id
    return project


def _files(root: Path) -> dict[str, int]:
    """Every file under `root` (but the lock) with its size: what a job must not change."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.fixture
def hold(window) -> Iterator[Callable[[], threading.Event]]:
    """`hold()` queues a job that waits until the event it returns is set: the jobs after it stay queued."""
    gates: list[threading.Event] = []

    def start() -> threading.Event:
        gates.append(threading.Event())
        window.runner.start("hold the queue", lambda progress, gate=gates[-1]: gate.wait(60))
        return gates[-1]

    yield start
    for gate in gates:  # also when the test failed, so the worker thread ends
        gate.set()


def test_a_variant_being_rebenchmarked_cannot_be_deleted_or_renamed(qtbot, window, hold, tmp_path: Path) -> None:
    project = _project(tmp_path / "project", "tiny", "tiny copy")
    window.set_project(project)
    child = project.variant("tiny copy").id
    gate = hold()
    job = window.measures.rebenchmark(child)
    assert job.state == "queued"
    with qtbot.waitSignal(window.problem_shown) as queued:
        window.projects.delete_variant(child)
    assert queued.args[0] == ("tiny copy is being used by the job 'Benchmarking tiny copy'; wait for it to finish "
                              "or cancel it, then delete it")
    with qtbot.waitSignal(job.started, timeout=JOB_TIMEOUT_MS):
        gate.set()
    with qtbot.waitSignal(window.problem_shown) as running:
        window.projects.delete_variant(child)
    assert "being used by the job 'Benchmarking tiny copy'" in running.args[0]
    with qtbot.waitSignal(window.problem_shown) as renamed:
        window.variants_panel.model.setData(window.variants_panel.model.index(1, 0), "phone build")
    assert renamed.args[0].endswith("then rename it") and window.undo_stack.count() == 0
    with qtbot.waitSignal(job.finished, timeout=JOB_TIMEOUT_MS):
        pass
    assert job.state == "done"
    stored = Project.open(project.root)
    assert [v.name for v in stored.variants] == ["tiny", "tiny copy"]
    assert (stored.variant(child).metrics.latency_ms or 0) > 0  # the result landed in the intact variant
    assert {p.name for p in (project.root / "variants").iterdir()} == {v.id for v in stored.variants}  # no orphan
    assert all((project.root / "variants" / v.id / "model.pt").is_file() for v in stored.variants)
    window.projects.delete_variant(child)  # free again once the job ended
    assert [row.name for row in window.variants_panel.model.rows] == ["tiny"]
    assert not (project.root / "variants" / child).exists()


def test_the_parent_of_a_queued_compression_cannot_be_deleted(qtbot, window, hold, tmp_path: Path) -> None:
    project = _project(tmp_path / "project", "tiny")
    window.set_project(project)
    parent = project.variant("tiny").id
    with qtbot.waitSignal(window.model_loaded, timeout=JOB_TIMEOUT_MS):
        window.use_variant_as_model(parent)
    assert window.state.model_variant == parent
    gate = hold()
    window.assign_recipe(Recipe("zeros", (PruneStep(kind="unstructured", ratio=0.3),)))  # needs no images
    job = window.compress_current("pruned")
    assert job is not None and job.state == "queued"
    with qtbot.waitSignal(window.problem_shown) as refused:
        window.projects.delete_variant(parent)
    assert refused.args[0].startswith("tiny is being used by the job 'Compressing")
    with qtbot.waitSignal(job.finished, timeout=JOB_TIMEOUT_MS):
        gate.set()
    assert job.state == "done", job.message
    stored = Project.open(project.root)
    assert [(v.name, v.parent) for v in stored.variants] == [("tiny", None), ("pruned", parent)]
    assert [row.name for row in window.variants_panel.model.rows] == ["tiny", "pruned"]


def test_a_result_from_a_project_closed_meanwhile_stays_in_it(qtbot, window, tmp_path: Path) -> None:
    old = _project(tmp_path / "old", "tiny")
    window.set_project(old)
    variant = old.variant("tiny").id
    job = window.measures.measure_deployment(variant)
    new = _project(tmp_path / "new", "other")
    before = _files(new.root)
    window.set_project(new)  # allowed while the job runs on the old project
    with qtbot.assertNotEmitted(window.variants_changed), qtbot.waitSignal(job.finished, timeout=JOB_TIMEOUT_MS):
        pass
    assert job.state == "done"
    assert window.state.project is new and [row.name for row in window.variants_panel.model.rows] == ["other"]
    assert window.variants_panel.model.rows[0].latency_ms is None
    assert _files(new.root) == before  # nothing written into the project now open
    assert Project.open(old.root).variant(variant).metrics.latency_by_resolution  # kept where it belongs
    assert "stored in project old, which is no longer open" in window.status_text.text()


def _drop_event(path: Path) -> tuple[QMimeData, QDropEvent]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    return mime, drop  # the event does not own its mime data: keep both alive


def test_dropping_what_is_not_a_model_is_explained_and_starts_no_job(qtbot, window, tmp_path: Path) -> None:
    notes, folder = tmp_path / "notes.txt", tmp_path / "weights"
    notes.write_text("not a model")
    folder.mkdir()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(notes))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert window.drop_overlay.isVisible() and window.drop_overlay.property("kind") == "refused"
    assert window.drop_overlay.text().startswith("notes.txt is not a model file."), "said while it is dragged"
    move = QDragMoveEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
    move.accept()  # as Qt delivers it after an accepted enter: the window must refuse it itself
    window.dragMoveEvent(move)
    assert not move.isAccepted(), "the cursor shows the refusal before the user lets go"
    window.dragLeaveEvent(QDragLeaveEvent())
    assert not window.drop_overlay.isVisible()
    with qtbot.assertNotEmitted(window.runner.job_started):
        with qtbot.waitSignal(window.problem_shown) as shown:
            _mime, drop = _drop_event(notes)
            window.dropEvent(drop)
        assert shown.args[0] == ("notes.txt is not a model file. Drop a .pth, .pt, .pt2 or .onnx file, "
                                 "or choose a model from the zoo.")
        with qtbot.waitSignal(window.problem_shown) as shown:
            _mime, drop = _drop_event(folder)
            window.dropEvent(drop)
        assert shown.args[0].startswith("weights is a folder, not a model file.")
    assert window.loading.current is None and window.state.report is None


def test_a_load_failure_the_loader_did_not_explain_gets_a_plain_dialog(qtbot, window, tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"  # a model's name, not a model's bytes
    text.write_text("hello, these are notes\n" * 20)
    with qtbot.waitSignal(window.problem_shown, timeout=JOB_TIMEOUT_MS) as shown:
        window.load_file(text)
    assert shown.args[0].startswith("notes.pth ") and "unexpected error" not in shown.args[0]
    assert "KeyError" not in window.view.banner.text()


def test_a_closed_window_is_freed_on_the_gui_thread_not_by_the_garbage_collector(qtbot) -> None:
    """A reference cycle through the window leaves it to the cyclic garbage collector, which runs on whichever
    thread allocates: on a job's thread it destroyed an old window's widgets there and deadlocked the suite. So
    the window holds no cycle (freed by reference counting alone), and the studio turns automatic collection off
    in favour of a GUI-thread timer (studio.workers)."""
    window = MainWindow(threads=1)
    assert not gc.isenabled(), "no automatic collection on whichever thread allocates"
    assert window.runner.shutdown(10_000)
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    freed = weakref.ref(window)
    del window
    assert freed() is None
