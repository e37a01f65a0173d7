"""Child process of `measure_peak_memory`: prints one JSON line of RSS figures (MiB)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def main(text: str, weights: str, runtime: str, threads: int, runs: int) -> None:
    import numpy as np
    import torch

    from core.runtimes import Runtime

    if Runtime.named(runtime) is Runtime.ONNXRUNTIME:
        import onnxruntime  # noqa: F401 - counted in the baseline like torch

    from core.references import resolve_reference
    from core.runtime import predictor_for

    baseline = _status_mb("VmRSS")
    model = resolve_reference(text, weights)  # a zoo spec, a model file or PROJECT_DIR:VARIANT
    size = model.card.input_size
    batch = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
    with predictor_for(model, runtime, threads) as predict:
        loaded = _status_mb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        for _ in range(runs):
            predict(batch)
        peak = _status_mb("VmHWM")
    del torch
    print(json.dumps({
        "runtime": runtime, "baseline_mb": baseline, "loaded_mb": loaded,
        "peak_mb": peak, "inference_mb": peak - loaded,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
