"""PyTorch's own formats: TorchScript (.pt), torch.export programs (.pt2) and ExecuTorch (.pte).

TorchScript traces the source as it is, int8 included (x86 kernels, bit-exact after reload).
.pt2 and .pte cannot hold eager x86 int8 modules, so an int8 source is re-quantized from its
float parent with PT2E for XNNPACK (see `core.export.pt2e`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.export.job import Artifact
from core.export.registry import ExportFormat
from core.jobs import Progress
from core.precision import INT8, Int8, Int8Static, Precision
from core.runtime import Predictor, hooks_as_modules, torch_predictor
from core.storage import save_through_memory, write_bytes
from core.zoo.pt2_archive import load_exported_program

if TYPE_CHECKING:
    from core.export.job import ExportJob

TORCHSCRIPT_NOTE = "PyTorch deprecates TorchScript; prefer .pt2 (torch.export) or ExecuTorch (.pte) for new work"


def convert(job: ExportJob, fmt: ExportFormat, target: Path, progress: Progress) -> Artifact:
    return {"torchscript": _torchscript, "pt2": _pt2, "pte": _pte}[fmt.name](job, target, progress)


def _torchscript(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    import torch

    progress(0.1, "tracing")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with hooks_as_modules(job.model.module) as traceable:
            traced = torch.jit.trace(traceable, job.example(), check_trace=False)
        save_through_memory(target, lambda buffer: torch.jit.save(traced, buffer))
    deprecations = {str(w.message).splitlines()[0] for w in caught if "deprecat" in str(w.message).lower()}
    notes = [TORCHSCRIPT_NOTE, *(f"PyTorch: {message}" for message in sorted(deprecations))]
    return Artifact(job.source.precision, torchscript_predictor, notes)


def torchscript_predictor(path: Path) -> Predictor:
    import torch

    return torch_predictor(torch.jit.load(str(path), map_location="cpu"))


def _exportable(job: ExportJob, progress: Progress) -> tuple[Any, Precision, list[str]]:
    """The module torch.export traces: the float source, or its PT2E re-quantized parent."""
    if isinstance(job.source.precision, Int8Static):
        from core.export.pt2e import requantization_notes, xnnpack_int8

        return xnnpack_int8(job, progress), INT8, requantization_notes(job)
    return job.float_module(), job.source.precision, []


def _pt2(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    import torch

    module, precision, notes = _exportable(job, progress.span(0.0, 0.8))
    progress(0.8, "torch.export")
    if job.options.dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        program = torch.export.export(module, (job.example(2),), dynamic_shapes=({0: batch},))
    else:
        program = torch.export.export(module, (job.example(),))
    save_through_memory(target, lambda buffer: torch.export.save(program, buffer))
    predict = pt2_predictor if job.options.dynamic_batch else _batch_one(pt2_predictor)
    if isinstance(precision, Int8):
        notes.append("int8 as quantize/dequantize ops: torch runs them in float (slow); lower it for speed (.pte)")
    return Artifact(precision, predict, notes, {"dynamic_batch": job.options.dynamic_batch})


def pt2_predictor(path: Path) -> Predictor:
    import torchao.quantization.pt2e  # noqa: F401 - registers the quantize/dequantize ops int8 programs use

    return torch_predictor(load_exported_program(path).module())


def _batch_one(make: Any) -> Any:
    from core.export.verify import one_at_a_time

    return lambda path: one_at_a_time(make(path))


def _pte(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    module, precision, notes = _exportable(job, progress.span(0.0, 0.6))
    progress(0.6, "lowering to ExecuTorch (XNNPACK)")
    program = torch.export.export(module, (job.example(),))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    write_bytes(target, lowered.buffer)
    return Artifact(precision, pte_predictor, notes, {"delegate": "XNNPACK", "batch": 1})


def pte_predictor(path: Path) -> Predictor:
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    from core.export.verify import one_at_a_time

    _unsafe_reset_threadpool(1)  # XNNPACK's own thread pool; latency is reported at 1 thread
    method = Runtime.get().load_program(str(path)).load_method("forward")
    assert method is not None
    return one_at_a_time(lambda x: method.execute([torch.from_numpy(x)])[0].numpy())
