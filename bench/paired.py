"""Paired latency under load: int8 MobileNetV2 against fp32, on a quiet machine and with a CPU hog on its core.

python -m bench.paired [--pairs 40] [--no-litert]

Both models are first timed one after the other (unpaired: what a studio that times each variant when it is
made shows), then in turn (paired: core.metrics.paired_latency), in torch, ONNX Runtime and LiteRT (the TFLite
files the exporter makes). Everything runs pinned to one core; the "loaded" condition starts a busy-looping
process pinned to the same core and stops it afterwards. Goal (issue 14): the paired ratio moves by at most 10 %
between the conditions while the unpaired absolute times move by more than 30 %.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import print_table, save_results
from core.compress.pipeline import compress
from core.data import open_dataset
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import export_model
from core.export.source import from_project
from core.export.tflite_format import predictor as tflite_predictor
from core.metrics.latency import benchmark
from core.metrics.paired_latency import PairedLatency, interleaved, paired_latency
from core.model import LoadedModel
from core.paths import shared_dir
from core.project import Project
from core.recipe import QuantizeStep, Recipe
from core.zoo.loading import resolve_model

CORE = 0


@contextmanager
def hog_on_core(core: int) -> Iterator[None]:
    """A process that spins on `core` until the block ends."""
    hog = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def _timings(fp32: LoadedModel, int8: LoadedModel, files: dict[str, Path] | None, pairs: int
             ) -> dict[str, Any]:
    unpaired = {name: benchmark(model, runtime="torch", threads=1, runs=pairs, warmup=5).median_ms
                for name, model in (("fp32", fp32), ("int8", int8))}
    paired: dict[str, PairedLatency] = {runtime: paired_latency(int8, fp32, runtime=runtime, threads=1, pairs=pairs)
                                        for runtime in ("torch", "onnxruntime")}
    if files is not None:
        image = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
        predictors: list[Callable[[np.ndarray], np.ndarray]] = [tflite_predictor(files["fp32"]),
                                                                 tflite_predictor(files["int8"])]
        (paired["litert"],) = interleaved(predictors, [image, image], runtime="litert", threads=1, rounds=pairs)
    return {"unpaired": unpaired, "paired": paired}


def _tflite_files(project: Project, fp32_id: str, int8_id: str, calib: Any, folder: Path) -> dict[str, Path]:
    options = ExportOptions(latency_runs=0)
    files = {}
    for name, variant in (("fp32", fp32_id), ("int8", int8_id)):
        report = export_model(from_project(project.root, variant), [FORMATS["tflite"]], folder / name,
                              options=options, calib=calib)
        files[name] = Path(report.results[0].path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--no-litert", action="store_true", help="skip the TFLite conversion and LiteRT timing")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CORE})
    calib = open_dataset(shared_dir() / "datasets" / "imagenet_calib1000", limit=256)
    fp32 = resolve_model("mobilenet_v2", "pretrained")
    with tempfile.TemporaryDirectory() as folder:
        project = Project.create(Path(folder) / "project")
        made = compress(fp32, Recipe("int8", (QuantizeStep(calibration_images=256),)), project, calib=calib)
        files = None if args.no_litert else _tflite_files(project, made.parent.id, made.variant.id, calib,
                                                           Path(folder))
        quiet = _timings(fp32, made.model, files, args.pairs)
        with hog_on_core(CORE):
            loaded = _timings(fp32, made.model, files, args.pairs)
    rows = []
    for runtime in quiet["paired"]:
        for condition, measured in (("quiet", quiet), ("CPU hog on the core", loaded)):
            timing: PairedLatency = measured["paired"][runtime]
            rows.append({"runtime": runtime, "condition": condition, "fp32_ms": round(timing.reference_median_ms, 2),
                         "int8_ms": round(timing.median_ms, 2), "paired_ratio": round(timing.ratio, 3),
                         "ratio_ci95": [round(v, 3) for v in timing.ratio_ci95], "noisy": timing.noisy,
                         "load_before": timing.context["load_before"]})
    print_table(rows, ["runtime", "condition", "fp32_ms", "int8_ms", "paired_ratio", "ratio_ci95", "noisy"])
    for runtime in quiet["paired"]:
        before, after = quiet["paired"][runtime].ratio, loaded["paired"][runtime].ratio
        moved = 100 * abs(after / before - 1)
        print(f"{runtime}: paired ratio {before:.3f} quiet, {after:.3f} loaded: moved {moved:.1f} % (goal ≤ 10 %)")
    for name in ("fp32", "int8"):
        before, after = quiet["unpaired"][name], loaded["unpaired"][name]
        print(f"torch {name} timed alone: {before:.2f} ms quiet, {after:.2f} ms loaded: moved "
              f"{100 * abs(after / before - 1):.0f} % (goal > 30 %)")
    misleading = loaded["unpaired"]["int8"] / quiet["unpaired"]["fp32"]
    print(f"unpaired, int8 timed under load against fp32 timed quiet (what timing each when made shows): "
          f"{misleading:.2f}× against {quiet['paired']['torch'].ratio:.2f}× paired")
    print("saved", save_results("paired", rows))


if __name__ == "__main__":
    main()
