"""The Jobs tab: whole job names, a Cancel button only on jobs that can still be cancelled, and the newest job and
log line in view. Jobs are driven through their relay, as a worker would, without running anything."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QPushButton

from studio.jobs_panel import CANCEL_COLUMN, JobsPanel
from studio.workers import Job
from tests.studio.shown import shown

LONG_TITLE = "Compressing MobileNetV2 α1.0 with Near-lossless int8 (per-channel, bias corrected, 512 images)"


@pytest.fixture
def panel(qtbot) -> JobsPanel:
    return shown(qtbot, JobsPanel(), 420, 300)


def add_job(panel: JobsPanel, title: str) -> Job:
    job = Job(title, panel)
    panel.add(job)
    return job


def test_jobs_that_ended_have_no_cancel_button_and_the_others_keep_theirs(panel) -> None:
    done, failed, cancelled, running, _queued = (add_job(panel, name) for name in
                                                 ("done", "failed", "cancelled", "running", "queued"))
    for job in (done, failed, cancelled, running):
        job.relay.started.emit()
    done.relay.succeeded.emit(None)
    failed.relay.failed.emit("out of memory", "")
    cancelled.relay.cancelled.emit()
    table = panel.table
    assert [table.item(row, 1).text() for row in range(5)] == ["done", "failed", "cancelled", "running", "queued"]
    assert [table.cellWidget(row, CANCEL_COLUMN) is None for row in range(3)] == [True, True, True]
    assert all(isinstance(table.cellWidget(row, CANCEL_COLUMN), QPushButton) for row in (3, 4))
    assert table.cellWidget(3, CANCEL_COLUMN).isEnabled() and table.cellWidget(3, CANCEL_COLUMN).toolTip()


def test_a_long_job_name_is_never_cut_short(qtbot, panel) -> None:
    add_job(panel, LONG_TITLE)
    table = panel.table
    needed = QFontMetrics(table.font()).horizontalAdvance(LONG_TITLE)
    qtbot.waitUntil(lambda: table.columnWidth(0) >= needed)
    assert table.columnWidth(0) > table.viewport().width() / 2, "in a narrow window the table scrolls instead"


def test_the_name_column_takes_the_width_the_others_leave(qtbot, panel) -> None:
    job = add_job(panel, "short")
    panel.resize(1200, 300)
    table, header = panel.table, panel.table.horizontalHeader()
    qtbot.waitUntil(lambda: header.length() == table.viewport().width())
    assert table.columnWidth(0) > 2 * QFontMetrics(table.font()).horizontalAdvance("short")
    spare = table.columnWidth(0)
    job.relay.progressed.emit(0.1, "calibrating the activation ranges of every layer on 512 images")
    qtbot.waitUntil(lambda: header.length() == table.viewport().width() and table.columnWidth(0) < spare)
    squeezed = table.columnWidth(0)
    job.relay.progressed.emit(0.2, "saving")  # the message column narrows again: the name takes the room back
    qtbot.waitUntil(lambda: header.length() == table.viewport().width() and table.columnWidth(0) > squeezed)


def test_the_newest_job_and_the_newest_log_line_come_into_view(qtbot, panel) -> None:
    table, log = panel.table, panel.log
    for index in range(30):
        add_job(panel, f"job {index}")
    table.scrollToTop()
    log.verticalScrollBar().setValue(0)  # the user scrolled up to read
    newest = add_job(panel, "newest")
    newest.relay.started.emit()
    newest.relay.progressed.emit(0.5, "calibrating")
    last = table.model().index(table.rowCount() - 1, 0)
    qtbot.waitUntil(lambda: table.viewport().rect().contains(table.visualRect(last)))
    scroll = log.verticalScrollBar()
    qtbot.waitUntil(lambda: 0 < scroll.maximum() == scroll.value())
    assert log.toPlainText().splitlines()[-1].endswith("newest: calibrating")


def test_cancel_says_cancelling_at_once_and_late_reports_do_not_undo_it(panel) -> None:
    job = add_job(panel, "Compressing")
    job.relay.started.emit()
    job.relay.progressed.emit(0.05, "running 500/500")
    assert "estimating…" in panel.table.item(0, 3).text(), "no measured rate yet: no made-up time left"
    job.cancel()  # no event-loop turn in between
    assert (panel.table.item(0, 1).text(), panel.table.item(0, 3).text()) == ("Cancelling…", "Cancelling…")
    assert not panel.table.cellWidget(0, CANCEL_COLUMN).isEnabled() and job.running
    job.relay.progressed.emit(0.06, "running 500/500")  # the worker had not reached its checkpoint yet
    assert panel.table.item(0, 1).text() == "Cancelling…" and job.message == "Cancelling…"
    job.relay.cancelled.emit()
    assert panel.table.item(0, 1).text() == "cancelled" and not job.running


def test_a_job_longer_than_a_minute_announces_its_end_and_a_short_one_does_not(qtbot, window) -> None:
    said: list[str] = []
    window.job_status.announced.connect(said.append)
    for title, seconds in (("Quick look", 5.0), ("Searching", 400.0)):
        job = Job(title, window.runner)
        window.job_status.track(job)
        job.relay.started.emit()
        job._started -= seconds  # as if it had started that long ago
        job.relay.succeeded.emit(None)
    assert said == ["Searching: done after 6.7 min"]
    assert window.job_status.text.text() == "Searching: done after 6.7 min"
