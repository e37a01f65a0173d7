"""Run a loaded model in torch or ONNX Runtime behind one call: batch in, logits out."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import StudioError
from core.model import LoadedModel
from core.runtimes import IN_PROCESS, Runtime

if TYPE_CHECKING:
    from torch import nn


Predictor = Callable[[np.ndarray], np.ndarray]


def default_threads() -> int:
    """Cores − 1 on a desktop keeps the GUI responsive; at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether this CPU has 8-bit dot-product instructions (Linux flags; elsewhere assume not).

    Without them, x86 int8 kernels multiply u8×s8 pairs into saturating 16-bit sums, so full
    8-bit activations can overflow: int8 models then need 7-bit ("reduce range") activations.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in VNNI_FLAGS)


def seven_bit_int8(setting: bool | None) -> bool:
    """Whether int8 uses 7-bit ranges ("reduce range"): as `setting` says, or by default where VNNI is missing."""
    return (not cpu_has_vnni()) if setting is None else setting


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Set torch's intra-op threads for the calling thread, and restore them after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def torch_predictor(module: nn.Module) -> Predictor:
    import torch

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch)).float().numpy()

    return predict


def onnx_predictor(path: Path, threads: int, spin: bool = True) -> Predictor:
    """`spin=False`: worker threads sleep between runs instead of spinning, so that two sessions timed in turn do
    not steal each other's cores (with spinning, V2 at 192 px timed 0.36× to 0.88× of 224 px in one process)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0]

    return predict


INT8_OPSET = 17


def export_onnx(
    module: nn.Module, path: Path, input_size: int, dynamic_batch: bool = True, opset: int | None = None
) -> Path:
    """Export a torch module to a single ONNX file (weights embedded).

    Float modules go through the dynamo exporter. Eager int8 modules become a QDQ graph with their
    own scales through the TorchScript-based exporter (deprecated, but dynamo cannot read eager
    int8 modules), their TF-SAME hooks turned into traceable modules.
    """
    import warnings

    import torch

    example = (torch.zeros(1, 3, input_size, input_size),)
    if is_eager_int8(module):
        batch_axis = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
        with warnings.catch_warnings(), hooks_as_modules(module.eval()) as traceable:
            warnings.simplefilter("ignore")  # the exporter's deprecation; export reports say which one ran
            torch.onnx.export(
                traceable, example, str(path), dynamo=False, opset_version=opset or INT8_OPSET,
                input_names=["input"], output_names=["logits"], dynamic_axes=batch_axis,
            )
        return path
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic_batch else None
    program = torch.onnx.export(
        module.eval(),
        example,
        dynamo=True,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=dynamic_shapes,
        opset_version=opset,
        verbose=False,
    )
    if program is None:
        raise StudioError("ONNX export produced no program")
    program.save(str(path), external_data=False)
    return path


def is_eager_int8(module: nn.Module) -> bool:
    from torch.ao.nn import quantized as nnq

    return any(isinstance(m, nnq.Conv2d | nnq.Linear) for m in module.modules())


@contextlib.contextmanager
def hooks_as_modules(module: Any) -> Iterator[Any]:
    """`module` with its forward hooks (TF-SAME padding and cropping of int8 models) turned into modules run
    around their layer, restored on exit. Tracing compiles hooks with TorchScript, which cannot compile the
    closures; as modules they are traced. In place: a deep copy of an eager int8 model does not compute the same.
    """
    from torch import nn

    class WithHooks(nn.Module):
        def __init__(self, layer: nn.Module, pre_hooks: list[Any], hooks: list[Any]) -> None:
            super().__init__()
            self.layer = layer
            self.pre_hooks = pre_hooks
            self.hooks = hooks

        def forward(self, x: Any) -> Any:
            for hook in self.pre_hooks:
                x = hook(None, (x,))[0]
            y = self.layer(x)
            for hook in self.hooks:
                y = hook(None, (x,), y)
            return y

    moved = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if child._forward_pre_hooks or child._forward_hooks:
                saved = dict(child._forward_pre_hooks), dict(child._forward_hooks)
                child._forward_pre_hooks.clear()
                child._forward_hooks.clear()
                setattr(parent, name, WithHooks(child, list(saved[0].values()), list(saved[1].values())))
                moved.append((parent, name, child, saved))
    try:
        yield module
    finally:
        for parent, name, child, (pre_hooks, hooks) in moved:
            child._forward_pre_hooks.update(pre_hooks)
            child._forward_hooks.update(hooks)
            setattr(parent, name, child)


@contextlib.contextmanager
def predictor_for(model: LoadedModel, runtime: str, threads: int, spin: bool = True) -> Iterator[Predictor]:
    """A predictor for `model` in `runtime` (one that runs in process); torch models are exported to a temporary
    ONNX file for ORT. `spin=False` for predictors timed in turn with another (see `onnx_predictor`)."""
    runs_in = Runtime.named(runtime)
    if not runs_in.in_process:
        raise StudioError(f"{runs_in.label} times exported files; choose one of {', '.join(IN_PROCESS)}")
    if runs_in is Runtime.TORCH:
        if model.module is None:
            raise StudioError(f"{model.card.title} is an ONNX file; run it with --runtime onnxruntime")
        with torch_threads(threads):
            yield torch_predictor(model.module)
        return
    if model.onnx_path is not None:
        yield onnx_predictor(model.onnx_path, threads, spin)
        return
    assert model.module is not None
    with tempfile.TemporaryDirectory(prefix="mnstudio-onnx-") as tmp:
        path = export_onnx(model.module, Path(tmp) / "model.onnx", model.card.input_size)
        yield onnx_predictor(path, threads, spin)
