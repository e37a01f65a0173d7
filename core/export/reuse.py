"""Reusing a verified artifact: an export that would make a file identical to one an earlier export made, and
verified, in the same folder takes that file and its verification instead of converting again.

Identical means: the same source (the weights as a project stores them, the spec and precision; for an int8
source with its float parent at hand, also the parent, the quantize settings and the calibration images), the same
format, file name and options (all but the thread count), the same verification images and latency runs, and the
same mnstudio and torch versions. The file must still hold the content recorded when it was verified.

The index lives beside the artifacts (INDEX_FILE). It is a cache, not a record: one that cannot be read, or an
entry of the wrong shape, is ignored, and an entry only ever points at the path the export itself computed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import __version__
from core.errors import StudioError
from core.export.job import ExportJob
from core.export.registry import ExportFormat
from core.export.report import ExportResult
from core.precision import Int8Static
from core.storage import atomic_write_text, read_json

if TYPE_CHECKING:
    from core.export.verify import VerificationImages

INDEX_FILE = ".mnstudio-exports.json"
SCHEMA = 1
CHUNK = 1 << 20


class ArtifactIndex:
    """The verified artifacts of one output folder, by what made them."""

    def __init__(self, folder: Path, data: VerificationImages | None, latency_runs: int):
        self.path = folder / INDEX_FILE
        self.verification = _verification_identity(data, latency_runs)
        self.entries = _read_entries(self.path)

    def key(self, job: ExportJob, fmt: ExportFormat, target: Path) -> str:
        import torch

        options = {k: v for k, v in dataclasses.asdict(job.options).items() if k not in ("threads", "latency_runs")}
        options["reduce_range"] = job.options.onnx_reduce_range  # None means the CPU's choice: record the choice
        identity = {
            "schema": SCHEMA, "mnstudio": __version__, "torch": torch.__version__, "format": fmt.name,
            "file": target.name, "options": options, "source": _source_identity(job),
            "verification": self.verification,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def find(self, key: str, target: Path) -> ExportResult | None:
        """The earlier verified result for `key`, when `target` still holds the file it verified."""
        entry = self.entries.get(key)
        if entry is None or entry["file"] != target.name or not target.is_file() or target.is_symlink():
            return None
        if entry["result"]["verification"].get("verified") is not True:
            return None
        if _file_digest(target) != entry["sha256"]:
            return None  # overwritten or edited since it was verified
        saved = entry["result"]
        return ExportResult(saved["format"], str(target), target.stat().st_size, saved["precision"], 0.0,
                            saved["verification"], saved["notes"], saved["details"],
                            reused_at=entry["exported_at"])

    def record(self, key: str, result: ExportResult) -> None:
        """Remember a verified file (entries for files gone or overwritten since are dropped)."""
        target = Path(result.path)
        if not (result.verified and target.is_file()):
            return
        folder = self.path.parent
        self.entries = {k: e for k, e in self.entries.items()
                        if e["file"] != target.name and (folder / e["file"]).is_file()}
        saved = {"format": result.format, "precision": result.precision, "verification": result.verification,
                 "notes": result.notes, "details": result.details}
        self.entries[key] = {"file": target.name, "sha256": _file_digest(target), "result": saved,
                             "exported_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        # The artifact and its report are written; without the index the next export only converts again.
        with contextlib.suppress(StudioError):
            atomic_write_text(self.path, json.dumps({"schema": SCHEMA, "artifacts": self.entries}, indent=1))


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_entries(path: Path) -> dict[str, dict[str, Any]]:
    """The index's well-formed entries; nothing when it is missing, unreadable or another program's."""
    try:
        data = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    artifacts = data.get("artifacts") if isinstance(data, dict) and data.get("schema") == SCHEMA else None
    if not isinstance(artifacts, dict):
        return {}
    return {key: entry for key, entry in artifacts.items() if _well_formed(entry)}


def _well_formed(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(result := entry.get("result"), dict):
        return False
    name = entry.get("file")
    plain_name = isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name
    texts = all(isinstance(entry.get(k), str) for k in ("sha256", "exported_at"))
    shapes = {"format": str, "precision": str, "verification": dict, "notes": list, "details": dict}
    return plain_name and texts and all(isinstance(result.get(k), kind) for k, kind in shapes.items())


def _source_identity(job: ExportJob) -> dict[str, Any]:
    """What the artifact is made and verified from: the source's weights and, for an int8 source whose float parent
    is at hand, what the parent's re-quantization and logits read (the parent, the quantize settings, the
    calibration images)."""
    source = job.source
    identity: dict[str, Any] = {"weights": job.cached("source_digest", lambda: _model_digest(source.model)),
                                "precision": str(source.precision),
                                "class_names": list(source.model.card.class_names)}
    with_parent = source.float_parent is not None and not source.parent_problem and job.calib is not None
    if isinstance(source.precision, Int8Static) and with_parent:
        assert source.quantize_step is not None
        identity["parent"] = job.cached("parent_digest", lambda: _model_digest(source.load_float_parent()))
        identity["quantize"] = dataclasses.asdict(source.quantize_step)
        identity["calibration"] = job.cached("calibration_digest", lambda: _files_digest(job.calibration_images()))
    return identity


def _model_digest(model: Any) -> str:
    """The weights exactly as a project stores them (so a project variant's digest is its weights file's), and
    the spec, which sets the input size and padding."""
    from core.storage import torch_bytes
    from core.zoo.quantized_store import storable_state_dict

    digest = hashlib.sha256(torch_bytes(storable_state_dict(model.module)))
    digest.update(str(model.card.spec).encode())
    return digest.hexdigest()


def _files_digest(dataset: Any) -> str:
    """The images a dataset reads: their paths, sizes and modification times."""
    digest = hashlib.sha256()
    for sample in dataset.samples:
        try:
            stat = Path(sample.path).stat()
            state = f"{stat.st_size}\0{stat.st_mtime_ns}"
        except OSError:
            state = "unreadable"  # calibration skips it; the digest still differs from when it was read
        digest.update(f"{sample.path}\0{state}\n".encode())
    return digest.hexdigest()


def _verification_identity(data: VerificationImages | None, latency_runs: int) -> dict[str, Any]:
    """What verification reads: the preprocessed images and labels (a reused verification must be of these)."""
    if data is None:
        return {"images": None}
    import numpy as np

    digest = hashlib.sha256(np.ascontiguousarray(data.images).data)
    if data.labels is not None:
        digest.update(np.ascontiguousarray(data.labels).data)
    return {"images": digest.hexdigest(), "latency_runs": latency_runs}
