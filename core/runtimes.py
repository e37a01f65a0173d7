"""The runtimes the studio runs models in, declared once: how each is named, what it runs, what it records."""

from __future__ import annotations

from enum import StrEnum

from core.errors import StudioError


class Runtime(StrEnum):
    """Where a model runs to be timed or scored: in this process (PyTorch, ONNX Runtime), or as an exported file
    (LiteRT runs a .tflite, ExecuTorch a .pte, both on XNNPACK). The value is how recipes, metrics and the command
    line spell it."""

    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"
    LITERT = "litert"
    EXECUTORCH = "executorch"

    @property
    def label(self) -> str:
        return {Runtime.TORCH: "PyTorch", Runtime.ONNXRUNTIME: "ONNX Runtime", Runtime.LITERT: "LiteRT",
                Runtime.EXECUTORCH: "ExecuTorch"}[self]

    @property
    def full_label(self) -> str:
        """The label, with the file a runtime of exported files times."""
        files = {Runtime.LITERT: " (.tflite, XNNPACK)", Runtime.EXECUTORCH: " (.pte, XNNPACK)"}
        return self.label + files.get(self, "")

    @property
    def in_process(self) -> bool:
        """Runs a loaded model (`predictor_for`); the others time the files the exporter writes."""
        return self in (Runtime.TORCH, Runtime.ONNXRUNTIME)

    @property
    def package(self) -> str:
        """The distribution whose version a timing's context records."""
        return {Runtime.LITERT: "ai-edge-litert"}.get(self, self.value)

    @property
    def proxy(self) -> Runtime:
        """What a target search times every candidate in while it walks (LiteRT only times the finalists)."""
        return Runtime.ONNXRUNTIME if self is Runtime.LITERT else self

    @classmethod
    def named(cls, text: str) -> Runtime:
        """The runtime spelled `text`, or a one-line error naming the choices."""
        try:
            return cls(text)
        except ValueError:
            raise StudioError(f"unknown runtime {text!r}; choose one of {', '.join(cls)}") from None


IN_PROCESS = tuple(runtime for runtime in Runtime if runtime.in_process)
