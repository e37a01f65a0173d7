"""The window never freezes: the GUI event loop's longest stall while a calibration job runs."""

from __future__ import annotations

import itertools
import statistics
import time

from PySide6.QtCore import QTimer

from studio.state import ZooChoice

TICK_MS = 5
STALL_GOAL_MS = 16  # one frame at 60 Hz: printed, measured by bench.gui
STUTTER_MS = 50  # a p99 above this is a window that stutters, whatever the machine's load


def test_event_loop_stall_while_calibrating(qtbot, ready_data, capsys) -> None:
    window = ready_data
    window.set_data_folder("evaluation", "")  # calibration and timing only
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v2", pretrained=True))
    window.compress_panel.advanced.setChecked(True)  # static int8 by hand
    window.compress_panel.quantize.calibration.setValue(64)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    job = window.compress_current()
    assert job is not None
    with qtbot.waitSignal(job.finished, timeout=600_000):
        pass
    timer.stop()
    assert job.state == "done", job.message
    gaps = sorted(1000 * (b - a) - TICK_MS for a, b in itertools.pairwise(ticks))
    worst, p99 = gaps[-1], gaps[int(0.99 * (len(gaps) - 1))]
    with capsys.disabled():  # shown in every run's log, not only when the test fails
        print(f"\nGUI event-loop stall while calibrating V2 (64 images) and timing it: max {worst:.1f} ms, "
              f"p99 {p99:.1f} ms, median {statistics.median(gaps):.1f} ms over {len(gaps)} ticks "
              f"({ticks[-1] - ticks[0]:.0f} s); goal max ≤ {STALL_GOAL_MS} ms")
    assert len(gaps) > 100
    # The goal is printed, not asserted (timings belong in benchmarks): these bounds catch a window
    # that stutters or freezes, not one that misses the goal by a few milliseconds on a loaded CI box.
    assert p99 <= STUTTER_MS, "the window stutters during calibration"
    assert worst <= 10 * STUTTER_MS, "the window froze during calibration"
