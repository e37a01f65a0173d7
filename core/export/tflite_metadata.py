"""TFLite model metadata, as LiteRT's metadata writers make it for an image classifier: what Android Studio's ML
model binding and the Task Library read to name the model's input and output, normalize a bitmap and map the
output's rows to class names.

The metadata is a `ModelMetadata` flatbuffer (file identifier "M001", tflite-support's metadata_schema.fbs) kept
in one of the model's buffers and named by a `TFLITE_METADATA` entry; `labels.txt`, one class name a line in
output order, is packed into a zip archive appended to the model (the interpreter ignores it; the metadata names
it as the output's TENSOR_AXIS_LABELS file). Written with the flatbuffers builder from the schema's field order,
since tflite-support's generated code does not install beside this LiteRT.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flatbuffers
from flatbuffers import table as fb_table
from flatbuffers.util import GetBufferIdentifier

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
PARSER_VERSION = "1.0.0"  # every field written here is in metadata schema 1.0.0
# Union and enum values from metadata_schema.fbs.
IMAGE_PROPERTIES, FEATURE_PROPERTIES, NORMALIZATION_OPTIONS, RGB, TENSOR_AXIS_LABELS = 2, 1, 1, 1, 2


@dataclass(frozen=True)
class ClassifierMetadata:
    name: str
    description: str
    class_names: Sequence[str]
    mean: Sequence[float]  # per channel, on [0, 1] pixels (the studio's convention)
    std: Sequence[float]
    input_size: int
    nhwc: bool  # channels-last input, as Android bitmaps are laid out: the only layout readers take as an image
    version: str = ""


def with_metadata(model: bytes, metadata: ClassifierMetadata) -> bytes:
    """`model` with image-classifier metadata and its labels file; a model's earlier metadata is replaced."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    tflite = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    for stored in tflite.buffers:  # data kept after the flatbuffer (ai-edge-quantizer writes so) moves inline
        if (stored.offset or 0) > 1:
            inline = np.frombuffer(model, dtype=np.uint8, count=stored.size, offset=stored.offset)
            stored.data, stored.offset, stored.size = inline, 0, 0
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(_metadata_flatbuffer(metadata), dtype=np.uint8)
    entries = [entry for entry in tflite.metadata or [] if _name(entry) != METADATA_NAME]
    tflite.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(tflite.buffers) - 1
    tflite.metadata = [*entries, entry]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tflite.Pack(builder), file_identifier=b"TFL3")
    archive = io.BytesIO(bytes(builder.Output()))
    archive.seek(0, io.SEEK_END)
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as files:
        files.writestr(LABELS_FILE, "\n".join(metadata.class_names) + "\n")
    return archive.getvalue()


def add_metadata(path: Path, metadata: ClassifierMetadata) -> None:
    path.write_bytes(with_metadata(path.read_bytes(), metadata))


def _name(entry: Any) -> str:
    name = entry.name
    return name.decode() if isinstance(name, bytes) else str(name or "")


def read_metadata(model: bytes) -> dict[str, Any]:
    """What a reader finds: the metadata's names, normalization, labels file name and the labels in it."""
    from ai_edge_litert import schema_py_generated as schema

    tflite = schema.Model.GetRootAs(model, 0)
    for index in range(tflite.MetadataLength()):
        entry = tflite.Metadata(index)
        if entry.Name().decode() == METADATA_NAME:
            data = bytes(tflite.Buffers(entry.Buffer()).DataAsNumpy())
            break
    else:
        return {}
    found = _read_model_metadata(data)
    with zipfile.ZipFile(io.BytesIO(model)) as files:
        found["labels"] = files.read(found["labels_file"]).decode().splitlines()
    return found


def _metadata_flatbuffer(metadata: ClassifierMetadata) -> bytes:
    b = flatbuffers.Builder(1024)

    def table(fields: list[tuple[str, int, Any]]) -> int:
        """A table from (kind, slot, value): kind is "offset", "byte" or "uint"; built values go in first."""
        b.StartObject(max((slot for _, slot, _ in fields), default=-1) + 1)
        for kind, slot, value in fields:
            {"offset": b.PrependUOffsetTRelativeSlot, "byte": b.PrependUint8Slot,
             "uint": b.PrependUint32Slot}[kind](slot, value, 0)
        return int(b.EndObject())

    def vector(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            b.PrependUOffsetTRelative(offset)
        return int(b.EndVector())

    def floats(values: Sequence[float]) -> int:
        b.StartVector(4, len(values), 4)
        for value in reversed(values):
            b.PrependFloat32(float(value))
        return int(b.EndVector())

    def strings(*texts: str) -> list[int]:
        return [b.CreateString(text) for text in texts]

    # Input: an RGB image; the app scales pixels to [0, 255], then (x − mean) / std, as LiteRT's writers say it.
    side = metadata.input_size
    in_name, in_text = strings("image", f"An RGB image, {side}×{side} pixels" + (
        "." if metadata.nhwc else ", channels first (N×3×H×W): not a bitmap's layout."))
    if metadata.nhwc:
        image = table([("byte", 0, RGB), ("offset", 1, table([("uint", 0, side), ("uint", 1, side)]))])
        content_in = table([("byte", 0, IMAGE_PROPERTIES), ("offset", 1, image)])
    else:
        content_in = table([("byte", 0, FEATURE_PROPERTIES), ("offset", 1, table([]))])
    # One value where the channels share it ([−1, 1] models): the schema propagates it, and readers that take no
    # per-channel normalization (MediaPipe's image classifier) can then run the model.
    same = len(set(metadata.mean)) == 1 and len(set(metadata.std)) == 1
    mean = floats([255 * v for v in (metadata.mean[:1] if same else metadata.mean)])
    std = floats([255 * v for v in (metadata.std[:1] if same else metadata.std)])
    normalization = table([("offset", 0, mean), ("offset", 1, std)])
    unit = table([("byte", 0, NORMALIZATION_OPTIONS), ("offset", 1, normalization)])
    units = vector([unit])
    stats = table([("offset", 0, floats([255.0])), ("offset", 1, floats([0.0]))])
    tensor_in = table([("offset", 0, in_name), ("offset", 1, in_text), ("offset", 3, content_in),
                       ("offset", 4, units), ("offset", 5, stats)])
    # Output: one score a class (logits: softmax gives probabilities), its rows named by labels.txt.
    out_name, out_text, file_name, file_text = strings(
        "logits", "One score per class, in labels.txt's order; softmax turns them into probabilities.",
        LABELS_FILE, "Class names, one a line, in output order.")
    labels = table([("offset", 0, file_name), ("offset", 1, file_text), ("byte", 2, TENSOR_AXIS_LABELS)])
    content_out = table([("byte", 0, FEATURE_PROPERTIES), ("offset", 1, table([]))])
    tensor_out = table([("offset", 0, out_name), ("offset", 1, out_text), ("offset", 3, content_out),
                        ("offset", 6, vector([labels]))])
    subgraph = table([("offset", 2, vector([tensor_in])), ("offset", 3, vector([tensor_out]))])
    name, text, version, parser = strings(metadata.name, metadata.description, metadata.version, PARSER_VERSION)
    subgraphs = vector([subgraph])
    root = table([("offset", 0, name), ("offset", 1, text), ("offset", 2, version), ("offset", 3, subgraphs),
                  ("offset", 7, parser)])
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def _read_model_metadata(data: bytes) -> dict[str, Any]:
    """The few fields `read_metadata` reports, read by slot as the schema orders them (a check of the writer)."""
    if GetBufferIdentifier(data, 0) != b"M001":
        raise ValueError("not TFLite model metadata (file identifier is not M001)")

    def root(buf: bytes) -> fb_table.Table:
        return fb_table.Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))

    def field(t: fb_table.Table, slot: int) -> int:
        return int(t.Offset(4 + 2 * slot))

    def text(t: fb_table.Table, slot: int) -> str:
        offset = field(t, slot)
        return t.String(offset + t.Pos).decode() if offset else ""

    def child(t: fb_table.Table, slot: int) -> fb_table.Table:
        return fb_table.Table(t.Bytes, t.Indirect(field(t, slot) + t.Pos))

    def item(t: fb_table.Table, slot: int, index: int) -> fb_table.Table:
        start = t.Vector(field(t, slot))
        return fb_table.Table(t.Bytes, t.Indirect(start + 4 * index))

    def float_list(t: fb_table.Table, slot: int) -> list[float]:
        offset = field(t, slot)
        start = t.Vector(offset)
        return [t.Get(flatbuffers.number_types.Float32Flags, start + 4 * i) for i in range(t.VectorLen(offset))]

    model = root(data)
    subgraph = item(model, 3, 0)
    tensor_in, tensor_out = item(subgraph, 2, 0), item(subgraph, 3, 0)
    normalization = child(item(tensor_in, 4, 0), 1)
    labels = item(tensor_out, 6, 0)
    return {"name": text(model, 0), "description": text(model, 1), "min_parser_version": text(model, 7),
            "input": text(tensor_in, 0), "output": text(tensor_out, 0),
            "mean": float_list(normalization, 0), "std": float_list(normalization, 1),
            "labels_file": text(labels, 0),
            "labels_type": labels.Get(flatbuffers.number_types.Uint8Flags, field(labels, 2) + labels.Pos)}
