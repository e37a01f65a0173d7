"""App bundles: the model plus labels, preprocessing metadata, the export report and a code snippet, zipped."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ExportError
from core.jobs import Progress
from core.storage import atomic_write

if TYPE_CHECKING:
    from core.export.report import ExportReport
    from core.export.source import ExportSource

KOTLIN = """// LiteRT (TensorFlow Lite) on Android: classify one {size}×{size} RGB bitmap.
// Dependency: implementation("com.google.ai.edge.litert:litert:1.+")
val interpreter = org.tensorflow.lite.Interpreter(loadModelFile(context, "{model}"))
val labels = context.assets.open("labels.txt").bufferedReader().readLines()
// Resize the short side to {resize}, centre-crop {size}, then per channel: (rgb / 255 - mean) / std
// mean = {mean}, std = {std}; layout {layout}.{quant_note}
interpreter.run(input, output)   // input: {input_shape} {input_dtype}; output: {output_shape} {output_dtype}
val best = output[0].indices.maxBy {{ output[0][it] }}
Log.i("mnstudio", "${{labels[best]}}")
"""

SWIFT = """// Core ML on iOS: classify one {size}×{size} RGB image.
import CoreML
let model = try MLModel(contentsOf: Bundle.main.url(forResource: "{name}", withExtension: "mlmodelc")!)
let labelsURL = Bundle.main.url(forResource: "labels", withExtension: "txt")!
let labels = try String(contentsOf: labelsURL).split(separator: "\\n")
// Resize the short side to {resize}, centre-crop {size}, then per channel: (rgb / 255 - mean) / std
// mean = {mean}, std = {std}; input "{input}" is a 1×3×{size}×{size} MLMultiArray (NCHW).
let out = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: ["{input}": input]))
let logits = out.featureValue(for: "{output}")!.multiArrayValue!
let best = (0..<logits.count).max {{ logits[$0].floatValue < logits[$1].floatValue }}!
print(labels[best])
"""

BUNDLE_FORMATS = {"android": "tflite", "ios": "coreml"}  # the artifact each app bundle holds


def write_bundle(kind: str, report: ExportReport, source: ExportSource, out_dir: Path, progress: Progress) -> Path:
    fmt = BUNDLE_FORMATS[kind]
    result = next((r for r in report.results if r.format == fmt), None)
    if result is None or not result.path:
        error = (result.verification.get("error") if result else None) or "no artifact"
        raise ExportError(f"the {kind} bundle needs the {fmt} export, which failed: {error}")
    model_path = Path(result.path)
    card = source.model.card
    metadata: dict[str, Any] = {
        "model": model_path.name, "name": source.name, "precision": result.precision,
        "input_size": card.input_size, "resize_size": card.resize_size, "num_classes": card.num_classes,
        "mean": list(card.mean), "std": list(card.std), "color": "RGB, values scaled to [0, 1] before mean/std",
        "layout": result.details.get("layout", "NCHW"), "verified": result.verified,
    }  # fmt: skip
    if not result.verified:
        why = result.verification.get("reason") or result.verification.get("error") or "it failed its check"
        metadata["warning"] = f"this {fmt} model was NOT verified against its source: {why}"
    if fmt == "tflite":
        metadata["input"], metadata["output"] = result.details["input"], result.details["output"]
        snippet_name, snippet = "Classifier.kt", _kotlin(metadata)
    else:
        metadata["input"], metadata["output"] = result.details["inputs"][0], result.details["outputs"][0]
        snippet_name, snippet = "Classifier.swift", _swift(metadata, model_path.stem)
    labels = "\n".join(card.class_names or [f"class {i}" for i in range(card.num_classes)]) + "\n"
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


def _kotlin(metadata: dict[str, Any]) -> str:
    tensor_in, tensor_out = metadata["input"], metadata["output"]
    quant_note = ""
    if "scale" in tensor_in:
        quant_note = (f"\n// int8 input: q = round(x / {tensor_in['scale']:.8g}) + {tensor_in['zero_point']}; "
                      f"int8 output: logit = (q - {tensor_out['zero_point']}) * {tensor_out['scale']:.8g}")  # fmt: skip
    return KOTLIN.format(
        size=metadata["input_size"], resize=metadata["resize_size"], model=metadata["model"], mean=metadata["mean"],
        std=metadata["std"], layout=metadata["layout"], quant_note=quant_note, input_shape=tensor_in["shape"],
        input_dtype=tensor_in["dtype"], output_shape=tensor_out["shape"], output_dtype=tensor_out["dtype"],
    )  # fmt: skip


def _swift(metadata: dict[str, Any], name: str) -> str:
    return SWIFT.format(
        size=metadata["input_size"], resize=metadata["resize_size"], name=name, mean=metadata["mean"],
        std=metadata["std"], input=metadata["input"]["name"], output=metadata["output"]["name"],
    )  # fmt: skip
