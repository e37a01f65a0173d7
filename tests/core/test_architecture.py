"""Architecture contracts: core is GUI-free and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import core

CORE_MODULES = [
    "core.cli", "core.data", "core.jobs", "core.metrics.accuracy", "core.metrics.complexity",
    "core.metrics.latency", "core.metrics.memory", "core.project", "core.runtime", "core.zoo.loading",
    "core.export.run", "core.export.source",
]


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_import_core_is_light() -> None:
    loaded = _imported_after("import core")
    assert not {"torch", "onnxruntime", "PySide6", "onnx"} & loaded


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_never_imports_qt_or_heavy_runtimes(module: str) -> None:
    loaded = _imported_after(f"import {module}")
    assert not {m for m in loaded if m.split(".")[0] in {"PySide6", "shiboken6", "pyqtgraph", "studio"}}
    assert "onnxruntime" not in loaded, "onnxruntime is imported lazily inside the functions that run it"
    export_back_ends = {"litert_torch", "ai_edge_litert", "coremltools", "executorch", "torchao"}
    assert not {m.split(".")[0] for m in loaded} & export_back_ends, "export back ends load inside the exporters"


def test_core_version_is_exposed() -> None:
    assert core.__version__
