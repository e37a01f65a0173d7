"""The studio's start-up and smoothness, on this machine.

    python -m bench.gui [--launches 3]

1. Launch to interactive: starts `mnstudio-gui` (the real window under Xvfb when `xvfb-run` exists, else
   offscreen) and reads its `ready in N.N s` line: seconds from the process start until the default model is
   loaded and the event loop answers. Goal ≤ 5 s.
2. The worst event-loop stall over a compress job: the window (offscreen, one torch thread) loads pretrained
   MobileNetV2 and compresses it to static int8 by hand on 64 calibration images, while a 2 ms GUI timer
   records the gaps between its ticks, the moment the job starts included; then the same over an ONNX export
   of the variant (the exporters' first use). Goal ≤ 16 ms.
3. Cancel: a static int8 compression, a target search (Near-lossless) and a TFLite export (in its child process)
   are each cancelled 3 s after they start; printed are the job's state in the same event-loop turn as the press
   (goal: cancelling) and the seconds until it has ended (goal ≤ 2 s).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from bench.common import save_results

LAUNCH_GOAL_S = 5.0
STALL_GOAL_MS = 16.0
TICK_MS = 2
CANCEL_GOAL_S = 2.0
CANCEL_AFTER_S = 3.0


def launch_seconds() -> float:
    env = {**os.environ}
    command = [sys.executable, "-m", "studio.app", "--quit-when-ready"]
    if shutil.which("xvfb-run"):
        env["QT_QPA_PLATFORM"] = "xcb"
        command = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", *command]
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    found = re.search(r"ready in ([0-9.]+) s", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"bench.gui: the studio did not say it was ready:\n{done.stderr[-2000:]}")
    return float(found.group(1))


def job_stalls() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, object]]]:
    """The window's event-loop gaps over a static int8 compression of V2, then over an ONNX export of the variant
    (the first export imports the exporters' libraries in its worker); then how soon Cancel answers and lands in
    a compression, a search and an export."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from studio.graph_panel import prepare_web_engine

    prepare_web_engine()
    import torchvision  # noqa: F401  (imported before the window, as studio.app does)
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from core.data.roles import DataRole
    from core.export.bundle import AppBundle
    from core.paths import shared_dir
    from core.recipe import QuantizeStep, Recipe, load_recipe
    from studio.main_window import MainWindow
    from studio.state import ZooChoice
    from studio.workers import JobState

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("mnstudio-bench")
    QSettings().clear()
    window = MainWindow(threads=1)
    window.show()

    def wait_until(condition) -> None:  # type: ignore[no-untyped-def]
        loop, timer = QEventLoop(), QTimer()
        timer.timeout.connect(lambda: condition() and loop.quit())
        timer.start(20)
        if not condition():
            loop.exec()
        timer.stop()

    def stalls_over(start_job) -> dict[str, float]:  # type: ignore[no-untyped-def]
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        started = time.perf_counter()
        job = start_job()
        wait_until(lambda: not window.runner.jobs)
        timer.stop()
        if job is None or job.state is not JobState.DONE:
            raise SystemExit(f"bench.gui: the job did not finish: {job and job.message}")
        gaps = [(1000 * (b - a) - TICK_MS, a - started) for a, b in itertools.pairwise(ticks)]
        worst, at = max(gaps)
        ordered = sorted(g for g, _ in gaps)
        return {"worst_ms": worst, "worst_at_s": at, "first_second_worst_ms": max(g for g, t in gaps if t < 1.0),
                "p99_ms": ordered[int(0.99 * (len(ordered) - 1))], "median_ms": statistics.median(ordered),
                "ticks": len(gaps), "job_s": ticks[-1] - started}

    def cancelled_after(start_job) -> dict[str, object]:  # type: ignore[no-untyped-def]
        job = start_job()
        started = time.perf_counter()
        wait_until(lambda: time.perf_counter() - started >= CANCEL_AFTER_S or not job.running)
        if not job.running:
            raise SystemExit(f"bench.gui: {job.title} ended before it could be cancelled")
        pressed = time.perf_counter()
        window.cancel_all()
        at_once = str(job.state)  # in the same event-loop turn as the press
        wait_until(lambda: not job.running)
        return {"state_at_once": at_once, "ended_s": time.perf_counter() - pressed, "ended_as": str(job.state)}

    datasets = shared_dir() / "datasets"
    window.set_data_folder(DataRole.CALIB, str(datasets / "imagenet_calib1000"))
    for role in (DataRole.EVALUATION, DataRole.TRAIN):
        window.set_data_folder(role, "")
    loaded: list[object] = []
    window.model_loaded.connect(loaded.append)
    window.load_zoo(ZooChoice("mobilenet_v2", pretrained=True))
    wait_until(lambda: bool(loaded) and DataRole.CALIB in window.state.datasets and not window.runner.jobs)
    window.assign_recipe(Recipe("bench int8", (QuantizeStep(mode="static", calibration_images=64),)))
    stalls = {"compress": stalls_over(lambda: window.compress_current("bench"))}
    folder = window.ensure_project().root / "bench-exports"
    stalls["export"] = stalls_over(lambda: window.exports.export(["onnx"], None, str(folder), {}))
    android = AppBundle.ANDROID
    cancels = {"a compression": cancelled_after(lambda: window.compress_current("bench-cancel")),
               "a TFLite export": cancelled_after(lambda: window.exports.export([], android, str(folder), {}))}
    window.set_data_folder(DataRole.EVALUATION, str(datasets / "imagenet_val1300"))
    wait_until(lambda: DataRole.EVALUATION in window.state.datasets and not window.runner.jobs)
    window.assign_recipe(load_recipe("near-lossless-int8"))
    cancels["a target search"] = cancelled_after(lambda: window.compress_current("bench-search"))
    window.close()
    return stalls, cancels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=3)
    args = parser.parse_args()
    launches = [launch_seconds() for _ in range(args.launches)]
    shown = ", ".join(f"{s:.1f}" for s in launches)
    print(f"launch to interactive: {shown} s; median {statistics.median(launches):.1f} s (goal ≤ {LAUNCH_GOAL_S:g} s)")
    stalls, cancels = job_stalls()
    for what, figures in (("a static int8 compression of V2 (64 images)", stalls["compress"]),
                          ("an ONNX export of that variant", stalls["export"])):
        print(f"worst event-loop stall over {what}, {figures['job_s']:.0f} s, {figures['ticks']} ticks of {TICK_MS} "
              f"ms: {figures['worst_ms']:.1f} ms at {figures['worst_at_s']:.2f} s after the start (first second: "
              f"{figures['first_second_worst_ms']:.1f} ms); p99 {figures['p99_ms']:.1f} ms, median "
              f"{figures['median_ms']:.1f} ms (goal ≤ {STALL_GOAL_MS:g} ms)")
    for what, cancel in cancels.items():
        print(f"cancel, {CANCEL_AFTER_S:g} s into {what}: {cancel['state_at_once']} at once (goal: cancelling), "
              f"{cancel['ended_as']} after {cancel['ended_s']:.2f} s (goal ≤ {CANCEL_GOAL_S:g} s)")
    path = save_results("gui", [{"launch_s": launches, **stalls, "cancel": cancels}])
    print(f"saved {path}")


if __name__ == "__main__":
    main()
