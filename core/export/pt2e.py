"""Re-quantize an int8 variant's float parent with PT2E (torchao), the int8 route of TFLite,
.pt2, ExecuTorch and Core ML: PyTorch's eager x86 int8 modules do not export to those.

The variant's calibration settings carry over: its activation observer (min-max, moving
average, histogram or percentile), its number of calibration images (the same subset
`quantize` used) and per-channel or per-tensor weights. After calibration, every activation
the variant also quantizes takes the variant's own range (`pin_variant_ranges`), so the
artifact quantizes on the variant's grid and differs from it only in weight rounding and kernels.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from core.hooks import removed_after
from core.jobs import Progress
from core.quant.observers import PercentileRange
from core.quant.ranges import activation_ranges
from core.recipe import QuantizeStep

if TYPE_CHECKING:
    from core.export.job import ExportJob


def _activation_observer(observer: str) -> Any:
    from torchao.quantization.pt2e import observer as pt2e_observers

    class PT2EPercentileObserver(PercentileRange, pt2e_observers.MinMaxObserver):
        """The studio's percentile rule on a torchao (PT2E) min-max observer."""

    return {
        "minmax": pt2e_observers.MinMaxObserver,
        "moving_average": pt2e_observers.MovingAverageMinMaxObserver,
        "histogram": pt2e_observers.HistogramObserver,
        "percentile": PT2EPercentileObserver,
    }[observer]


def with_variant_observer(config: Any, step: QuantizeStep) -> Any:
    """A stock symmetric int8 config whose activations use the variant's observer."""
    activation = dataclasses.replace(
        config.input_activation, observer_or_fake_quant_ctr=_activation_observer(step.observer).with_args(eps=2**-12)
    )
    return dataclasses.replace(config, input_activation=activation, output_activation=activation)


def quantize_parent(job: ExportJob, quantizer: Any, progress: Progress, fold_quantize: bool = True) -> Any:
    """The float parent exported, observed on the calibration images, converted to a q/dq graph.

    litert-torch wants the weights' quantize ops unfolded (`fold_quantize=False`) to lower them itself.
    """
    import torch
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from core.data.datasets import Preprocessing

    parent = job.float_parent()
    assert parent.module is not None
    # Batch 2 as the example: a batch-1 example specialises the "dynamic" batch to 1.
    batch = torch.export.Dim("batch", min=1, max=1024)
    graph = torch.export.export(parent.module.eval(), (job.example(2),), dynamic_shapes=({0: batch},)).module()
    prepared = prepare_pt2e(graph, quantizer)
    images = job.calibration_images()
    preprocess = Preprocessing.for_card(parent.card)
    progress(0.0, f"calibrating on {len(images)} images")
    with torch.no_grad():
        for x, _ in images.batches(preprocess, batch_size=32, progress=progress.span(0, 0.9)):
            prepared(x)
    pinned, observers = pin_variant_ranges(prepared, job, next(iter(images.batches(preprocess, batch_size=4)))[0])
    progress(0.95, f"converting to int8 ({pinned} of {observers} activation ranges taken from the variant)")
    converted = convert_pt2e(prepared, fold_quantize=fold_quantize)
    _drop_unused_tensors(converted)
    return move_exported_model_to_eval(converted)


def pin_variant_ranges(prepared: Any, job: ExportJob, batch: Any) -> tuple[int, int]:
    """Give each activation observer whose input the int8 variant also quantizes the variant's range.

    Observers are matched by value: on `batch`, an observer's input equals (to float rounding)
    one of the activations `activation_ranges` lists. A matched observer is replaced by a min-max
    observer holding the variant's range, so the artifact quantizes on the variant's grid;
    unmatched ones (a graph the variant does not have) keep their calibrated range.
    Returns (pinned, activation observers).
    """
    assert job.source.quantize_step is not None
    levels = 128 if job.source.quantize_step.activations_7bit else 256
    ranges = activation_ranges(job.float_parent(), job.model, batch, levels)
    observed = _observer_inputs(prepared, batch)
    pinned = 0
    for name, tensors in observed.items():
        match = next((r for r in ranges for tensor in tensors if _same_activation(tensor, r[0])), None)
        if match is not None:
            _pin(prepared, name, match[1], match[2])
            pinned += 1
    return pinned, len(observed)


def _observer_inputs(prepared: Any, batch: Any) -> dict[str, list[Any]]:
    """Each per-tensor activation observer's inputs on `batch` (one observer may serve several
    tensors that share quantization; copied, as in-place ops follow some)."""
    import torch
    from torchao.quantization.pt2e.observer import ObserverBase

    inputs: dict[str, list[Any]] = {}

    def record(name: str) -> Any:
        def keep_input(_module: Any, args: tuple[Any, ...]) -> None:
            inputs.setdefault(name, []).append(args[0].detach().clone())

        return keep_input

    handles = [observer.register_forward_pre_hook(record(name)) for name, observer in prepared.named_children()
               if isinstance(observer, ObserverBase) and observer.qscheme == torch.per_tensor_affine]
    with removed_after(handles), torch.no_grad():
        prepared(batch)
    return inputs


def _pin(prepared: Any, name: str, low: float, high: float) -> None:
    """Replace the observer under `name` by a min-max observer holding [low, high].

    One observer instance can sit under several names (tensors that share quantization, like
    a conv's output and the ReLU6 after it), so every name that refers to it is replaced.
    """
    import torch
    from torchao.quantization.pt2e.observer import MinMaxObserver

    old = getattr(prepared, name)
    fixed = MinMaxObserver(dtype=old.dtype, qscheme=old.qscheme, quant_min=old.quant_min,
                           quant_max=old.quant_max, eps=float(old.eps))
    fixed(torch.tensor([low, high]))
    for alias, module in list(prepared.named_modules(remove_duplicate=False)):
        if module is old:
            owner, _, attribute = alias.rpartition(".")
            setattr(prepared.get_submodule(owner) if owner else prepared, attribute, fixed)


def _same_activation(observed: Any, candidate: Any) -> bool:
    import torch

    if observed.shape != candidate.shape:
        return False
    tolerance = 1e-3 * float(candidate.abs().max()) + 1e-6
    return bool(torch.allclose(observed, candidate, rtol=0, atol=tolerance))


def _drop_unused_tensors(graph_module: Any) -> None:
    """Remove the float weights folding left behind: a saved .pt2 would carry them next to the int8 ones."""
    used = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    named = [*graph_module.named_parameters(), *graph_module.named_buffers()]
    for name in [n for n, _ in named if n not in used]:
        owner_name, _, attribute = name.rpartition(".")
        delattr(graph_module.get_submodule(owner_name) if owner_name else graph_module, attribute)


def xnnpack_int8(job: ExportJob, progress: Progress) -> Any:
    """The parent quantized for XNNPACK (shared by .pt2, ExecuTorch and Core ML in one run)."""

    def make() -> Any:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        assert job.source.quantize_step is not None
        step = job.source.quantize_step
        config = with_variant_observer(get_symmetric_quantization_config(is_per_channel=step.per_channel), step)
        return quantize_parent(job, XNNPACKQuantizer().set_global(config), progress)

    return job.cached("xnnpack_int8", make)


def requantization_notes(job: ExportJob) -> list[str]:
    step = job.source.quantize_step
    assert step is not None
    notes = [f"re-quantized from the float parent: {step.observer} observer, {step.calibration_images} "
             f"calibration images, {'per-channel' if step.per_channel else 'per-tensor'} weights; "
             "the variant's own activation ranges wherever both graphs have the activation"]
    if step.keep_float:
        notes.append(f"layers the variant keeps in float are int8 here: {', '.join(step.keep_float)}")
    return notes
