"""The app bundles' Classifier.kt and Classifier.swift: complete files that parse as Kotlin and Swift, with every
number of metadata.json in them and the arithmetic written plainly, for each kind of Android model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import tree_sitter
import tree_sitter_kotlin
import tree_sitter_swift

from core.export.snippets import dequantize_rule, kotlin, quantize_rule, swift

COMMON = {"name": "MobileNet V2 int8", "input_size": 224, "resize_size": 256,
          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
INT8_IN = {"shape": [1, 224, 224, 3], "dtype": "int8", "scale": 0.01865844801068306, "zero_point": -14}
INT8_OUT = {"shape": [1, 1000], "dtype": "int8", "scale": 0.13739480078220367, "zero_point": 55}
FLOAT_OUT = {"shape": [1, 1000], "dtype": "float32"}
ANDROID = {
    "float": {"precision": "float", "layout": "NHWC", "input": {"shape": [1, 224, 224, 3], "dtype": "float32"},
              "output": FLOAT_OUT},
    "int8, float I/O": {"precision": "int8", "layout": "NHWC",
                        "input": {"shape": [1, 224, 224, 3], "dtype": "float32"}, "output": FLOAT_OUT},
    "int8 I/O": {"precision": "int8", "layout": "NHWC", "input": INT8_IN, "output": INT8_OUT},
    "NCHW": {"precision": "float", "layout": "NCHW", "input": {"shape": [1, 3, 224, 224], "dtype": "float32"},
             "output": FLOAT_OUT},
}
IOS = {"precision": "fp16", "model": "v2.mlpackage", "input": {"name": "x", "shape": [1, 3, 224, 224],
       "dtype": "FLOAT32"}, "output": {"name": "linear_1", "shape": [1, 1000], "dtype": "FLOAT32"}}


def syntax_errors(language: Any, code: str) -> list[str]:
    """The ERROR and MISSING nodes tree-sitter finds, with the text they cover."""
    source = code.encode()
    found, pending = [], [tree_sitter.Parser(tree_sitter.Language(language)).parse(source).root_node]
    while pending:
        node = pending.pop()
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{node.type} at line {node.start_point[0] + 1}: {source[node.start_byte : node.end_byte]!r}")
        pending.extend(node.children)
    return found


def numbers(metadata: dict[str, Any]) -> list[str]:
    """Every number metadata.json gives an app, as json writes it (a shape as its comma-separated dimensions)."""
    values = [*metadata["mean"], *metadata["std"]]
    for tensor in (metadata["input"], metadata["output"]):
        values += [tensor[k] for k in ("scale", "zero_point") if k in tensor]
    shapes = [", ".join(map(str, t["shape"])) for t in (metadata["input"], metadata["output"])]
    return [json.dumps(v) for v in values] + shapes


@pytest.mark.parametrize("kind", list(ANDROID))
def test_the_android_classifier_parses_as_kotlin_and_carries_every_number(kind: str) -> None:
    metadata = {**COMMON, **ANDROID[kind], "model": "v2.tflite"}
    code = kotlin(metadata)
    assert syntax_errors(tree_sitter_kotlin.language(), code) == []
    assert "+ -" not in code and "- -" not in code
    missing = [n for n in numbers(metadata) if n not in code]
    assert missing == []
    int8 = metadata["input"]["dtype"] == "int8"
    assert ("input.put(q.coerceIn(-128, 127).toByte())" in code) == int8
    assert ("input.putFloat(x)" in code) != int8
    nhwc = "for (pixel in pixels) {\n            for (channel in 0 until 3)"
    assert (nhwc in code) == (metadata["layout"] == "NHWC")
    for defined in ("fun loadModelFile", "private val input", "private val output", "fun classify(bitmap: Bitmap)"):
        assert defined in code
    assert "Prediction(labels[best], best, (1.0 / total).toFloat())" in code, "a class name and a probability"


def test_the_ios_classifier_parses_as_swift_and_carries_every_number() -> None:
    metadata = {**COMMON, **IOS}
    code = swift(metadata)
    assert syntax_errors(tree_sitter_swift.language(), code) == []
    assert [n for n in numbers(metadata) if n not in code] == []
    assert 'forResource: Classifier.modelName, withExtension: "mlmodelc"' in code and '"v2"' in code
    assert "dataType: .float32" in code and "func classify(_ pixelBuffer: CVPixelBuffer)" in code
    assert "Prediction(label: labels[best], index: best, probability: 1 / total)" in code and "expf(" in code


def test_the_syntax_check_finds_an_unclosed_class() -> None:
    metadata = {**COMMON, **ANDROID["float"], "model": "v2.tflite"}
    assert syntax_errors(tree_sitter_kotlin.language(), kotlin(metadata).rstrip().removesuffix("}"))
    assert syntax_errors(tree_sitter_swift.language(), swift({**COMMON, **IOS}).rstrip().removesuffix("}"))


def test_scales_and_zero_points_are_written_as_plain_arithmetic() -> None:
    assert quantize_rule(0.0187, -14) == "round(x / 0.0187) - 14"
    assert quantize_rule(0.0187, 3) == "round(x / 0.0187) + 3"
    assert quantize_rule(0.0187, 0) == "round(x / 0.0187)"
    assert dequantize_rule(0.5, -14) == "(q + 14) * 0.5"
    assert dequantize_rule(0.5, 55) == "(q - 55) * 0.5"
    assert dequantize_rule(0.5, 0) == "q * 0.5"
