"""Core ML (.mlpackage, ML program) through coremltools.

float: fp32 or fp16 compute (iOS 16); int8 weights: linear weight quantization of a float source;
int8 sources: the float parent re-quantized with PT2E and converted as W8A8 (iOS 17). Core ML
predicts only on macOS, so here the package is reloaded without compiling it and its spec is
checked: input and output shapes, operation types, weight data types. The package names the classes in its
metadata (`class_names`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.labels import placeholder_names
from core.export.job import Artifact
from core.export.registry import ExportFormat
from core.jobs import Progress
from core.precision import FLOAT, FP16, INT8, INT8_WEIGHTS, Fp16, Int8, Int8Weights, Precision

if TYPE_CHECKING:
    from core.export.job import ExportJob

# Operations that carry compressed (int8) weights in an ML program.
INT8_WEIGHT_OPS = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")


def convert(job: ExportJob, fmt: ExportFormat, target: Path, progress: Progress) -> Artifact:
    import coremltools as ct
    import torch

    size = job.input_size
    notes: list[str] = []
    if isinstance(job.source.precision, Int8):
        from core.export.pt2e import requantization_notes, xnnpack_int8

        module = xnnpack_int8(job, progress.span(0.0, 0.6))
        progress(0.6, "converting to Core ML W8A8")
        program = torch.export.export(module, (job.example(),)).run_decompositions({})
        model = ct.convert(program, minimum_deployment_target=ct.target.iOS17)
        precision: Precision = INT8
        notes = requantization_notes(job)
    else:
        # torch.export, not jit.trace: traced TF-SAME padding reaches coremltools as tensors it cannot convert.
        progress(0.1, "torch.export")
        program = torch.export.export(job.float_module(), (job.example(),)).run_decompositions({})
        half = job.options.fp16 or isinstance(job.source.precision, Fp16)
        progress(0.3, "converting to Core ML")
        model = ct.convert(
            program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.precision.FLOAT16 if half else ct.precision.FLOAT32,
        )
        precision = FP16 if half else FLOAT
        if job.options.int8_weights:
            progress(0.8, "quantizing weights to int8")
            config = ct.optimize.coreml.OptimizationConfig(
                global_config=ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric")
            )
            model = ct.optimize.coreml.linear_quantize_weights(model, config)
            precision = INT8_WEIGHTS
    _describe(model, job)
    model.save(str(target))
    details = inspect_package(target)
    problems = structure_problems(details, precision, size, job.model.card.num_classes)
    details["structure_ok"] = not problems
    notes += problems
    notes.append("Core ML predicts only on macOS: on this machine the spec is checked, outputs are not compared")
    return Artifact(precision, None, notes, details)


def _describe(model: Any, job: ExportJob) -> None:
    """What Xcode shows and an app reads: the class names in output order, as the package's `class_names`
    metadata (a JSON list), and the output described as logits in that order. The output stays the logits array the
    spec check and the bundle's Swift code expect, rather than a Core ML classifier's label dictionary."""
    card = job.model.card
    names = list(card.class_names or placeholder_names(card.num_classes))
    model.user_defined_metadata["class_names"] = json.dumps(names, ensure_ascii=False)
    model.short_description = f"{job.source.name}: an image classifier of {len(names)} classes, first {names[0]}"
    for feature in model.get_spec().description.output:
        model.output_description[feature.name] = ("One score per class, in the order of the class_names metadata; "
                                                  "softmax gives probabilities")


def inspect_package(path: Path) -> dict[str, Any]:
    """Inputs, outputs, operation counts and weight data types of a saved package, without loading it."""
    import coremltools as ct
    from coremltools.proto import MIL_pb2

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()

    def tensors(features: Any) -> list[dict[str, Any]]:
        return [{"name": f.name, "shape": [int(d) for d in f.type.multiArrayType.shape],
                 "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(f.type.multiArrayType.dataType)}
                for f in features]

    ops: Counter[str] = Counter()
    weight_dtypes: Counter[str] = Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                if op.type == "const" or op.type.startswith("constexpr"):
                    for output in op.outputs:
                        weight_dtypes[MIL_pb2.DataType.Name(output.type.tensorType.dataType)] += 1
    return {
        "inputs": tensors(spec.description.input), "outputs": tensors(spec.description.output),
        "spec_version": spec.specificationVersion, "ops": dict(ops.most_common()),
        "weight_dtypes": dict(weight_dtypes),
    }


def structure_problems(details: dict[str, Any], precision: Precision, size: int, num_classes: int) -> list[str]:
    """What in the spec contradicts the requested model (empty when it is what was asked for)."""
    problems = []
    if [i["shape"] for i in details["inputs"]] != [[1, 3, size, size]]:
        problems.append(f"input is {details['inputs']}, expected one 1×3×{size}×{size} tensor")
    if [o["shape"][-1:] for o in details["outputs"]] != [[num_classes]]:
        problems.append(f"output is {details['outputs']}, expected {num_classes} logits")
    ops = details["ops"]
    if isinstance(precision, Int8 | Int8Weights) and not any(op in ops for op in INT8_WEIGHT_OPS):
        problems.append("no int8 weight operations in the program")
    if isinstance(precision, Int8) and "quantize" not in ops:
        problems.append("no activation quantize operations (expected W8A8)")
    if isinstance(precision, Fp16) and "FLOAT16" not in details["weight_dtypes"]:
        problems.append("no fp16 weights")
    return problems
