"""The code an app bundle carries: a complete Kotlin (LiteRT) or Swift (Core ML) classifier, written from the
bundle's metadata.json so that every number in it is the one the model was exported and verified with.

Each snippet does the studio's evaluation preprocessing (resize the short side, centre-crop, scale to [0, 1],
per-channel mean/std) and fills the model's input in its real layout and data type: NHWC or NCHW, float32 or
int8 (q = round(x / scale) + zero point, written out in plain arithmetic).
"""

from __future__ import annotations

import json
from string import Template
from typing import Any

KOTLIN = Template("""\
// Classifier.kt: $name ($precision) on Android with LiteRT (TensorFlow Lite). Written by MobileNet
// Compression Studio from metadata.json; add your package line above the imports.
//
// Gradle: implementation("com.google.ai.edge.litert:litert:1.+")
// Copy $model and labels.txt into app/src/main/assets/, uncompressed so that the model can be
// memory-mapped: android { androidResources { noCompress += "tflite" } }
//
// Preprocessing, as the model was verified: resize the short side to $resize px, crop the centre
// $size×$size, scale R, G and B to [0, 1], then per channel x = (value - mean) / std.
// Input: $input_shape $input_dtype ($layout)$input_rule
// Output: $output_shape $output_dtype$output_rule

import android.content.Context
import android.graphics.Bitmap
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import kotlin.math.roundToInt
import org.tensorflow.lite.Interpreter

class Classifier(context: Context) : AutoCloseable {
    /** The most likely class: its name (labels.txt), index, and probability (softmax of the logits, 0 to 1). */
    data class Prediction(val label: String, val index: Int, val probability: Float)

    private val interpreter = Interpreter(loadModelFile(context, MODEL_FILE))
    private val labels: List<String> = context.assets.open(LABELS_FILE).bufferedReader().use { it.readLines() }
    private val input: ByteBuffer =
        ByteBuffer.allocateDirect(INPUT_SHAPE.reduce(Int::times) * INPUT_BYTES).order(ByteOrder.nativeOrder())
    private val output: ByteBuffer =
        ByteBuffer.allocateDirect(OUTPUT_SHAPE.reduce(Int::times) * OUTPUT_BYTES).order(ByteOrder.nativeOrder())

    /** The most likely class of [bitmap], of any size. */
    fun classify(bitmap: Bitmap): Prediction {
        fillInput(centreCrop(bitmap))
        output.rewind()
        interpreter.run(input, output)
        val logits = readLogits()
        val best = logits.indices.maxByOrNull { logits[it] } ?: 0
        val peak = logits[best]
        val total = logits.fold(0.0) { sum, logit -> sum + Math.exp((logit - peak).toDouble()) }
        return Prediction(labels[best], best, (1.0 / total).toFloat())
    }

    override fun close() = interpreter.close()

    /** Resize the short side to RESIZE_SIZE, then take the centre INPUT_SIZE × INPUT_SIZE pixels (ARGB). */
    private fun centreCrop(bitmap: Bitmap): IntArray {
        val scale = RESIZE_SIZE.toFloat() / minOf(bitmap.width, bitmap.height)
        val width = maxOf(INPUT_SIZE, (bitmap.width * scale).roundToInt())
        val height = maxOf(INPUT_SIZE, (bitmap.height * scale).roundToInt())
        val resized = Bitmap.createScaledBitmap(bitmap, width, height, true)
        val pixels = IntArray(INPUT_SIZE * INPUT_SIZE)
        val left = (width - INPUT_SIZE) / 2
        val top = (height - INPUT_SIZE) / 2
        resized.getPixels(pixels, 0, INPUT_SIZE, left, top, INPUT_SIZE, INPUT_SIZE)
        return pixels
    }

$fill_input

    /** Channel 0, 1, 2 (R, G, B) of an ARGB pixel, scaled to [0, 1] and normalized. */
    private fun normalized(pixel: Int, channel: Int): Float {
        val value = ((pixel shr (16 - 8 * channel)) and 0xFF) / 255f
        return (value - MEAN[channel]) / STD[channel]
    }

$put_value

$read_logits

    companion object {
        const val MODEL_FILE = "$model"
        const val LABELS_FILE = "labels.txt"
        const val INPUT_SIZE = $size
        const val RESIZE_SIZE = $resize
        val INPUT_SHAPE = intArrayOf($input_dims) // $layout
        val OUTPUT_SHAPE = intArrayOf($output_dims)
        const val INPUT_BYTES = $input_bytes // $input_dtype
        const val OUTPUT_BYTES = $output_bytes // $output_dtype
        val MEAN = floatArrayOf($mean)
        val STD = floatArrayOf($std)
$quantization
        private fun loadModelFile(context: Context, name: String): MappedByteBuffer =
            context.assets.openFd(name).use { descriptor ->
                FileInputStream(descriptor.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, descriptor.startOffset, descriptor.declaredLength)
                }
            }
    }
}
""")

FILL_NHWC = """\
    /** NHWC: pixel by pixel, each pixel's R, G and B side by side. */
    private fun fillInput(pixels: IntArray) {
        input.rewind()
        for (pixel in pixels) {
            for (channel in 0 until 3) putValue(normalized(pixel, channel))
        }
        input.rewind()
    }"""

FILL_NCHW = """\
    /** NCHW: channel by channel, all the R values, then all the G values, then all the B values. */
    private fun fillInput(pixels: IntArray) {
        input.rewind()
        for (channel in 0 until 3) {
            for (pixel in pixels) putValue(normalized(pixel, channel))
        }
        input.rewind()
    }"""

PUT_FLOAT = """\
    private fun putValue(x: Float) {
        input.putFloat(x)
    }"""

PUT_INT8 = """\
    /** int8 input: $rule, clamped to -128..127. */
    private fun putValue(x: Float) {
        val q = (x / INPUT_SCALE).roundToInt() + INPUT_ZERO_POINT
        input.put(q.coerceIn(-128, 127).toByte())
    }"""

READ_FLOAT = """\
    private fun readLogits(): FloatArray {
        output.rewind()
        return FloatArray(OUTPUT_SHAPE.last()) { output.float }
    }"""

READ_INT8 = """\
    /** int8 output: $rule. */
    private fun readLogits(): FloatArray {
        output.rewind()
        return FloatArray(OUTPUT_SHAPE.last()) { (output.get() - OUTPUT_ZERO_POINT) * OUTPUT_SCALE }
    }"""

SWIFT = Template("""\
// Classifier.swift: $name ($precision) on iOS with Core ML. Written by MobileNet Compression Studio
// from metadata.json.
//
// Add $package and labels.txt to the app target; Xcode compiles the package to $stem.mlmodelc.
//
// Preprocessing, as the model was verified: resize the short side to $resize px, crop the centre
// $size×$size, scale R, G and B to [0, 1], then per channel x = (value - mean) / std.
// Input "$input": $input_shape $input_dtype (NCHW); output "$output": $output_shape $output_dtype

import CoreImage
import CoreML
import CoreVideo
import Foundation

final class Classifier {
    /// The most likely class: its name (labels.txt), index, and probability (softmax of the logits, 0 to 1).
    struct Prediction {
        let label: String
        let index: Int
        let probability: Float
    }

    static let modelName = "$stem"
    static let inputName = "$input"
    static let outputName = "$output"
    static let inputSize = $size
    static let resizeSize = $resize
    static let inputShape: [NSNumber] = [$input_dims]
    static let mean: [Float] = [$mean]
    static let std: [Float] = [$std]

    private let model: MLModel
    private let labels: [String]
    private let context = CIContext()

    init() throws {
        guard let modelURL = Bundle.main.url(forResource: Classifier.modelName, withExtension: "mlmodelc"),
              let labelsURL = Bundle.main.url(forResource: "labels", withExtension: "txt") else {
            throw CocoaError(.fileNoSuchFile)
        }
        model = try MLModel(contentsOf: modelURL)
        labels = try String(contentsOf: labelsURL, encoding: .utf8).split(separator: "\\n").map(String.init)
    }

    /// The most likely class of a camera frame or any other image in a pixel buffer.
    func classify(_ pixelBuffer: CVPixelBuffer) throws -> Prediction {
        let input = try inputArray(from: centreCrop(pixelBuffer))
        let features = try MLDictionaryFeatureProvider(
            dictionary: [Classifier.inputName: MLFeatureValue(multiArray: input)])
        let result = try model.prediction(from: features)
        guard let logits = result.featureValue(for: Classifier.outputName)?.multiArrayValue else {
            throw CocoaError(.coderValueNotFound)
        }
        var best = 0
        for index in 1..<logits.count where logits[index].floatValue > logits[best].floatValue {
            best = index
        }
        let peak = logits[best].floatValue
        var total: Float = 0
        for index in 0..<logits.count {
            total += expf(logits[index].floatValue - peak)
        }
        return Prediction(label: labels[best], index: best, probability: 1 / total)
    }

    /// Resize the short side to resizeSize, then take the centre inputSize × inputSize pixels as RGBA bytes.
    private func centreCrop(_ pixelBuffer: CVPixelBuffer) -> [UInt8] {
        let image = CIImage(cvPixelBuffer: pixelBuffer)
        let scale = CGFloat(Classifier.resizeSize) / min(image.extent.width, image.extent.height)
        let scaled = image.transformed(by: CGAffineTransform(scaleX: scale, y: scale))
        let side = CGFloat(Classifier.inputSize)
        let crop = CGRect(x: (scaled.extent.midX - side / 2).rounded(), y: (scaled.extent.midY - side / 2).rounded(),
                          width: side, height: side)
        var rgba = [UInt8](repeating: 0, count: Classifier.inputSize * Classifier.inputSize * 4)
        context.render(scaled, toBitmap: &rgba, rowBytes: Classifier.inputSize * 4, bounds: crop, format: .RGBA8,
                       colorSpace: CGColorSpaceCreateDeviceRGB())
        return rgba
    }

    /// (value / 255 - mean) / std per channel, channel by channel (NCHW) as the model takes it.
    private func inputArray(from rgba: [UInt8]) throws -> MLMultiArray {
        let array = try MLMultiArray(shape: Classifier.inputShape, dataType: $array_type)
        let plane = Classifier.inputSize * Classifier.inputSize
        for pixel in 0..<plane {
            for channel in 0..<3 {
                let value = Float(rgba[pixel * 4 + channel]) / 255
                let normalized = (value - Classifier.mean[channel]) / Classifier.std[channel]
                array[channel * plane + pixel] = NSNumber(value: normalized)
            }
        }
        return array
    }
}
""")

# Core ML's array data types (coremltools' names) as Swift's MLMultiArrayDataType cases.
SWIFT_ARRAY_TYPES = {"FLOAT32": ".float32", "FLOAT16": ".float16", "DOUBLE": ".double", "INT32": ".int32"}


def number(value: float | int) -> str:
    """A number exactly as metadata.json writes it, so that the snippet and the metadata agree digit for digit."""
    return json.dumps(value)


def quantize_rule(scale: float, zero_point: int) -> str:
    """`round(x / 0.0187) - 14`: the zero point's sign written as the operation."""
    return f"round(x / {number(scale)}){_offset(zero_point)}"


def dequantize_rule(scale: float, zero_point: int) -> str:
    """`(q + 14) * 0.0187`, or `q * 0.0187` for a zero point of 0."""
    centred = f"(q{_offset(-zero_point)})" if zero_point else "q"
    return f"{centred} * {number(scale)}"


def _offset(value: int) -> str:
    return f" + {value}" if value > 0 else f" - {-value}" if value < 0 else ""


def _one_line(text: str) -> str:
    """A user's variant name, safe inside a // comment."""
    return " ".join(text.split())


def _floats(values: list[float], suffix: str) -> str:
    return ", ".join(number(v) + suffix for v in values)


def _dims(shape: list[int]) -> str:
    return ", ".join(str(d) for d in shape)


def _int8_side(prefix: str, tensor: dict[str, Any], rule: str, function: str) -> tuple[str, str, list[str]]:
    """An int8 tensor's rule for the header comment, the Kotlin function that applies it, and its constants."""
    constants = [f"const val {prefix}_SCALE = {number(tensor['scale'])}f",
                 f"const val {prefix}_ZERO_POINT = {tensor['zero_point']}"]
    return f"; {rule}", Template(function).substitute(rule=rule), constants


def kotlin(metadata: dict[str, Any]) -> str:
    """Classifier.kt for an Android bundle's metadata (a TFLite model's input/output tensors)."""
    tensor_in, tensor_out = metadata["input"], metadata["output"]
    int8_in, int8_out = tensor_in["dtype"] == "int8", tensor_out["dtype"] == "int8"
    input_rule, put_value = "", PUT_FLOAT
    output_rule, read_logits = "", READ_FLOAT
    constants: list[str] = []
    if int8_in:
        rule = quantize_rule(tensor_in["scale"], tensor_in["zero_point"])
        input_rule, put_value, added = _int8_side("INPUT", tensor_in, f"q = {rule}", PUT_INT8)
        constants += added
    if int8_out:
        rule = dequantize_rule(tensor_out["scale"], tensor_out["zero_point"])
        output_rule, read_logits, added = _int8_side("OUTPUT", tensor_out, f"logit = {rule}", READ_INT8)
        constants += added
    return KOTLIN.substitute(
        name=_one_line(metadata["name"]), precision=metadata["precision"], model=metadata["model"],
        size=metadata["input_size"], resize=metadata["resize_size"], layout=metadata["layout"],
        input_shape=tensor_in["shape"], input_dtype=tensor_in["dtype"], input_rule=input_rule,
        output_shape=tensor_out["shape"], output_dtype=tensor_out["dtype"], output_rule=output_rule,
        input_dims=_dims(tensor_in["shape"]), output_dims=_dims(tensor_out["shape"]),
        input_bytes=1 if int8_in else 4, output_bytes=1 if int8_out else 4,
        mean=_floats(metadata["mean"], "f"), std=_floats(metadata["std"], "f"),
        fill_input=FILL_NHWC if metadata["layout"] == "NHWC" else FILL_NCHW, put_value=put_value,
        read_logits=read_logits, quantization="".join(f"        {line}\n" for line in constants),
    )


def swift(metadata: dict[str, Any]) -> str:
    """Classifier.swift for an iOS bundle's metadata (a Core ML package's input/output arrays)."""
    tensor_in, tensor_out = metadata["input"], metadata["output"]
    return SWIFT.substitute(
        name=_one_line(metadata["name"]), precision=metadata["precision"], package=metadata["model"],
        stem=metadata["model"].removesuffix(".mlpackage"),
        size=metadata["input_size"], resize=metadata["resize_size"], input=tensor_in["name"],
        output=tensor_out["name"], input_shape=tensor_in["shape"], input_dtype=tensor_in["dtype"],
        output_shape=tensor_out["shape"], output_dtype=tensor_out["dtype"], input_dims=_dims(tensor_in["shape"]),
        mean=_floats(metadata["mean"], ""), std=_floats(metadata["std"], ""),
        array_type=SWIFT_ARRAY_TYPES[tensor_in["dtype"]],
    )
