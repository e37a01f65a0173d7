"""Peak memory of inference, measured in a fresh subprocess.

The child loads the model, then resets the kernel's peak-RSS mark
(/proc/self/clear_refs), runs inference, and reports the new peak, so the number
is the model's own working set, not what the parent process happened to hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import StudioError
from core.metrics.records import read_flat
from core.model import LoadedModel


@dataclass
class MemoryResult:
    runtime: str
    baseline_mb: float  # process after importing the runtime, before loading the model
    loaded_mb: float  # after loading the model
    peak_mb: float  # peak RSS while running inference
    inference_mb: float  # peak during inference minus RSS before it

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def read(cls, stored: Any) -> MemoryResult | None:
        return read_flat(cls, stored)


def _model_argument(model: LoadedModel) -> tuple[str, str]:
    """How the child process re-creates the model: (model text, weights)."""
    if model.card.path and model.card.format.reopens_without_trust:
        return model.card.path, "auto"
    if model.card.spec is not None:
        # Weight values do not change memory; the architecture alone decides it.
        return str(model.card.spec), "none"
    raise StudioError("peak memory needs a model saved as a file or built from the zoo")


def measure_peak_memory(model: LoadedModel, runtime: str = "torch", threads: int = 1, runs: int = 5,
                        stored_as: str | None = None) -> MemoryResult:
    """Peak RSS of inference; `stored_as` ("PROJECT_DIR:VARIANT") re-creates a project variant in the child."""
    text, weights = (stored_as, "auto") if stored_as else _model_argument(model)
    command = [sys.executable, "-m", "core.memory_probe", text, weights, runtime, str(threads), str(runs)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise StudioError(f"memory probe failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return MemoryResult(**json.loads(done.stdout.strip().splitlines()[-1]))
