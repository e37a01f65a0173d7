"""App bundles: the model plus labels, preprocessing metadata, the export report and a code snippet, zipped."""

from __future__ import annotations

import json
import zipfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.labels import placeholder_names
from core.errors import ExportError
from core.export.snippets import kotlin, swift
from core.jobs import Progress
from core.runtimes import Runtime
from core.storage import atomic_write

if TYPE_CHECKING:
    from core.export.report import ExportReport, ExportResult
    from core.export.source import ExportSource

class AppBundle(StrEnum):
    """The apps a bundle drops into, each holding one export format's artifact."""

    ANDROID = "android"
    IOS = "ios"

    @property
    def label(self) -> str:
        return {AppBundle.ANDROID: "Android", AppBundle.IOS: "iOS"}[self]

    @property
    def format_name(self) -> str:
        """The export format (core.export.registry) of the model it holds."""
        return {AppBundle.ANDROID: "tflite", AppBundle.IOS: "coreml"}[self]

    @property
    def runtime(self) -> Runtime | None:
        """Where the app runs the model, when the studio can time it on this computer (LiteRT for Android)."""
        return Runtime.LITERT if self is AppBundle.ANDROID else None

    @property
    def channels_last(self) -> bool:
        """The app hands the model NHWC images (Android bitmaps are HWC)."""
        return self is AppBundle.ANDROID

    def snippet(self, metadata: dict[str, Any]) -> tuple[str, str]:
        """The code file that loads the model in the app: its name and text."""
        if self is AppBundle.ANDROID:
            return "Classifier.kt", kotlin(metadata)
        return "Classifier.swift", swift(metadata)

    def result_in(self, report: ExportReport) -> ExportResult | None:
        """The export result whose artifact this bundle holds."""
        return next((r for r in report.results if r.format == self.format_name), None)

    @classmethod
    def named(cls, text: str | None) -> AppBundle | None:
        """The bundle spelled `text` (None or "": none), or a one-line error naming the choices."""
        if not text:
            return None
        try:
            return cls(text)
        except ValueError:
            raise ExportError(f"unknown bundle {text!r}; choose {' or '.join(cls)}") from None

    @classmethod
    def of_path(cls, path: str) -> AppBundle:
        """Which app a bundle `write_bundle` wrote is for: its name ends in -android.zip or -ios.zip."""
        return next(kind for kind in cls if path.endswith(f"-{kind}.zip"))


def write_bundle(kind: AppBundle, report: ExportReport, source: ExportSource, out_dir: Path, progress: Progress
                 ) -> Path:
    result = kind.result_in(report)
    if result is None or not result.path:
        error = (result.verification.get("error") if result else None) or "no artifact"
        raise ExportError(f"the {kind} bundle needs the {kind.format_name} export, which failed: {error}")
    model_path = Path(result.path)
    metadata = bundle_metadata(kind, result, source)
    snippet_name, snippet = kind.snippet(metadata)
    labels = "\n".join(metadata["class_names"]) + "\n"
    target = out_dir / f"{source.stem}-{kind}.zip"
    progress.check()

    def write(temp: Path) -> None:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in [model_path] if model_path.is_file() else sorted(model_path.rglob("*")):
                archive.write(file, file.relative_to(model_path.parent))
            archive.writestr("labels.txt", labels)
            archive.writestr("metadata.json", json.dumps(metadata, indent=2))
            archive.writestr("export-report.json", json.dumps(report.to_dict(), indent=2))
            archive.writestr("export-report.txt", report.to_text())
            archive.writestr(snippet_name, snippet)

    atomic_write(target, write)
    return target


def bundle_metadata(kind: AppBundle, result: ExportResult, source: ExportSource) -> dict[str, Any]:
    """What an app needs to feed the model: sizes, preprocessing, the input and output tensors, the verdict."""
    card = source.model.card
    metadata: dict[str, Any] = {
        "model": Path(result.path).name, "name": source.name, "precision": result.precision,
        "input_size": card.input_size, "resize_size": card.resize_size, "num_classes": card.num_classes,
        "mean": list(card.mean), "std": list(card.std), "color": "RGB, values scaled to [0, 1] before mean/std",
        "layout": result.details.get("layout", "NCHW"), "verified": result.verified,
        # The output's rows in order: labels.txt holds the same names, one a line.
        "labels": "labels.txt", "class_names": list(card.class_names or placeholder_names(card.num_classes)),
    }
    if not result.verified:
        why = result.verification.get("reason") or result.verification.get("error") or "it failed its check"
        metadata["warning"] = f"this {result.format} model was NOT verified against its source: {why}"
    if kind is AppBundle.ANDROID:  # the TFLite exporter describes its one input and output
        metadata["input"], metadata["output"] = result.details["input"], result.details["output"]
    else:
        metadata["input"], metadata["output"] = result.details["inputs"][0], result.details["outputs"][0]
    return metadata

