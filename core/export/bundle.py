"""App bundles: the model plus labels, preprocessing metadata, the export report and a code snippet, zipped."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.labels import placeholder_names
from core.errors import ExportError
from core.export.snippets import kotlin, swift
from core.jobs import Progress
from core.storage import atomic_write

if TYPE_CHECKING:
    from core.export.report import ExportReport, ExportResult
    from core.export.source import ExportSource

BUNDLE_FORMATS = {"android": "tflite", "ios": "coreml"}  # the artifact each app bundle holds


def write_bundle(kind: str, report: ExportReport, source: ExportSource, out_dir: Path, progress: Progress) -> Path:
    fmt = BUNDLE_FORMATS[kind]
    result = next((r for r in report.results if r.format == fmt), None)
    if result is None or not result.path:
        error = (result.verification.get("error") if result else None) or "no artifact"
        raise ExportError(f"the {kind} bundle needs the {fmt} export, which failed: {error}")
    model_path = Path(result.path)
    metadata = bundle_metadata(result, source)
    snippet_name, snippet = ("Classifier.kt", kotlin(metadata)) if fmt == "tflite" else ("Classifier.swift",
                                                                                        swift(metadata))
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


def bundle_metadata(result: ExportResult, source: ExportSource) -> dict[str, Any]:
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
    if result.format == "tflite":
        metadata["input"], metadata["output"] = result.details["input"], result.details["output"]
    else:
        metadata["input"], metadata["output"] = result.details["inputs"][0], result.details["outputs"][0]
    return metadata


def bundle_kind(path: str) -> str:
    """Which app a bundle `write_bundle` wrote is for: its name ends in -android.zip or -ios.zip."""
    return next(kind for kind in BUNDLE_FORMATS if path.endswith(f"-{kind}.zip"))
