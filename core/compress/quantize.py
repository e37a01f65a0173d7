"""The `quantize` verb: static int8 (calibrated), dynamic int8 (Linear layers), and fp16.

Static int8 uses PyTorch's eager-mode x86 (fbgemm) back end, which runs real int8
kernels on desktop CPUs: per-channel symmetric weights, a choice of activation
observer, conv-bn(-relu) fused before calibration. Each architecture has a
quantizable twin (QuantStub/DeQuantStub, FloatFunctional adds): torchvision's for
V2/V3, ours for V1. Pruned channel counts are carried over by resizing the twin to
the float state_dict. ReLU6 becomes a fused ReLU whose calibrated range is capped at
6, and TF-SAME padding a forward pre-hook added after fusion (see `add_tf_same_hooks`).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.ao.quantization import QConfig, convert, prepare
from torch.ao.quantization.observer import (
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    PerChannelMinMaxObserver,
)

from core.errors import StudioError
from core.hooks import removed_after
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.recipe import QuantizeStep

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset
    from core.zoo.registry import ModelSpec

ENGINE = "x86"


@dataclass(frozen=True)
class QuantInfo:
    """What a quantized variant needs to be rebuilt from its state_dict alone."""

    mode: str
    per_channel: bool
    keep_float: tuple[str, ...]
    layer_shapes: dict[str, list[int]]  # float weight shapes: pruned channel counts survive a reload

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "per_channel": self.per_channel, "keep_float": list(self.keep_float),
                "layer_shapes": self.layer_shapes}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantInfo:
        return cls(data["mode"], data["per_channel"], tuple(data["keep_float"]), data["layer_shapes"])


class PercentileRange:
    """Range = running mean of each batch's 0.01 / 99.99 percentiles: ignores rare outliers.

    A mixin over a min-max observer class, so torch.ao (eager) and torchao (PT2E, used by the
    exporters) observers share the rule.
    """

    min_val: torch.Tensor
    max_val: torch.Tensor

    def __init__(self, *args: Any, percentile: float = 99.99, averaging: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.percentile = percentile
        self.averaging = averaging

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0:
            return x_orig
        values = x_orig.detach().float().flatten()
        # A strided sample of ≤100k values keeps the sort cheap; percentiles barely move.
        values = values[:: max(1, values.numel() // 100_000)]
        low, high = torch.quantile(values, torch.tensor([1 - self.percentile / 100, self.percentile / 100]))
        if self.min_val.numel() == 0 or torch.isinf(self.min_val):
            self.min_val.copy_(low)
            self.max_val.copy_(high)
        else:
            self.min_val.copy_(self.min_val + self.averaging * (low - self.min_val))
            self.max_val.copy_(self.max_val + self.averaging * (high - self.max_val))
        return x_orig


class PercentileObserver(PercentileRange, MinMaxObserver):
    """Eager-mode (torch.ao) percentile observer."""


OBSERVERS: dict[str, Any] = {
    "minmax": MinMaxObserver,
    "moving_average": MovingAverageMinMaxObserver,
    "histogram": HistogramObserver,
    "percentile": PercentileObserver,
}
QUANT_LABELS = {"static": "int8", "qat": "int8-qat", "dynamic": "int8-dynamic", "fp16": "fp16"}
EQUALIZATION_IMAGES = 128


def qconfig_for(step: QuantizeStep) -> Any:
    activation = OBSERVERS[step.observer].with_args(dtype=torch.quint8, reduce_range=step.activations_7bit)
    if step.per_channel:
        weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        weight = MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    return QConfig(activation=activation, weight=weight)


def _layer_shapes(module: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items() if k.endswith(".weight")}


def _quantizable_twin(spec: ModelSpec, layer_shapes: dict[str, list[int]]) -> nn.Module:
    """The architecture's quantizable version, with the float model's (possibly pruned) shapes."""
    from torchvision.models.quantization.mobilenetv2 import (
        QuantizableInvertedResidual as V2Block,
    )
    from torchvision.models.quantization.mobilenetv2 import QuantizableMobileNetV2
    from torchvision.models.quantization.mobilenetv3 import QuantizableInvertedResidual as V3Block
    from torchvision.models.quantization.mobilenetv3 import QuantizableMobileNetV3, _mobilenet_v3_conf

    from core.zoo.resize import fit_to_shapes

    if spec.arch == "mobilenet_v1":
        from core.zoo.mobilenet_v1 import QuantizableMobileNetV1

        twin: nn.Module = QuantizableMobileNetV1(width_mult=spec.width, num_classes=spec.num_classes)
    elif spec.arch == "mobilenet_v2":
        twin = QuantizableMobileNetV2(width_mult=spec.width, num_classes=spec.num_classes, block=V2Block)
    else:
        settings, last_channel = _mobilenet_v3_conf(spec.arch, width_mult=spec.width)
        twin = QuantizableMobileNetV3(settings, last_channel, block=V3Block, num_classes=spec.num_classes)
    fit_to_shapes(twin, layer_shapes)
    relu6_as_clipped_relu(twin)
    if spec.padding == "tf_same":
        mark_tf_same_convs(twin)
    return twin.eval()


RELU6_MARK = "_clip_at_6"


def relu6_as_clipped_relu(module: nn.Module) -> None:
    """Swap ReLU6 for ReLU (so conv-bn-relu fuses) and mark the block; `clip_relu6_ranges` restores the 6."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, nn.ReLU(inplace=False))
                setattr(parent, RELU6_MARK, True)


def clip_relu6_ranges(prepared: nn.Module) -> None:
    """Cap the calibrated range of each former ReLU6 output at 6: int8 saturation then is ReLU6.

    Range-type observers only (min-max, moving average, percentile); a histogram observer
    keeps its own search over the observed range.
    """
    for block in prepared.modules():
        if not getattr(block, RELU6_MARK, False):
            continue
        fused = next(iter(block.children()))
        observer = getattr(fused, "activation_post_process", None)
        if observer is not None and not isinstance(observer, HistogramObserver) and observer.max_val.numel():
            observer.max_val.clamp_(max=6.0)


def restore_relu6(fused: nn.Module) -> None:
    """Give a fused float twin its ReLU6 back, so it computes what its int8 version approximates."""
    for block in fused.modules():
        if getattr(block, RELU6_MARK, False):
            conv_relu = next(iter(block.children()))
            if isinstance(conv_relu, nn.Sequential) and isinstance(conv_relu[-1], nn.ReLU):
                conv_relu[-1] = nn.ReLU6()


TF_SAME_MARK = "_tf_same"
TF_SAME_LEAD = "_tf_same_lead"


def mark_tf_same_convs(module: nn.Module) -> None:
    """Strided k>1 convs carry a mark; the TF-SAME padding itself is added after fusion.

    x86's int8 kernels are fast only for convs with their usual symmetric padding p: without it
    a depthwise 5×5 stride-2 conv took 8.4 ms instead of 0.07 ms, a 3×3 one 1.1 ms instead of
    ~0.1. So the conv keeps p, the input gets the TF-SAME padding plus `lead`·stride − p extra
    leading zeros, and the first `lead` outputs are cropped: the remaining outputs sample
    exactly the TF-SAME windows.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d) and layer.stride != (1, 1) and layer.kernel_size[0] > 1:
            symmetric = (layer.kernel_size[0] - 1) // 2 * layer.dilation[0]
            layer.padding = (symmetric, symmetric)
            setattr(layer, TF_SAME_MARK, True)
            setattr(layer, TF_SAME_LEAD, -(-symmetric // layer.stride[0]))


def add_tf_same_hooks(module: nn.Module) -> None:
    """Pad marked convs TF-SAME style with forward hooks on the outermost (fused) module.

    After fusion, not before: fusing deep-copies a conv together with its hooks and then
    re-registers them, which would pad twice. Hooks on the outer fused module are what
    `convert` carries over to the quantized module; a quantized tensor pads with its zero
    point, i.e. with real 0.
    """
    from torch.ao.nn.intrinsic import _FusedModule

    from core.zoo.tf_same import crop_leading, pad_same

    def pad_hook(conv: nn.Conv2d, lead: int) -> Any:
        extra = lead * conv.stride[0] - int(conv.padding[0])
        return lambda _, inputs: (pad_same(inputs[0], conv.kernel_size, conv.stride, conv.dilation, extra),)

    def crop_hook(conv: nn.Conv2d, lead: int) -> Any:
        # From the padded input size: TF-SAME yields (padded − effective kernel − extra) / stride + 1 outputs.
        span = (conv.kernel_size[0] - 1) * conv.dilation[0] + 1 + lead * conv.stride[0] - int(conv.padding[0])

        def crop(_m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            rows = (inputs[0].shape[-2] - span) // conv.stride[0] + 1
            cols = (inputs[0].shape[-1] - span) // conv.stride[1] + 1
            return crop_leading(output, lead, rows, cols)

        return crop

    fused = [m for m in module.modules() if isinstance(m, _FusedModule)]
    inside_fused = {id(inner) for m in fused for inner in m.children()}
    for layer in module.modules():
        conv = layer[0] if isinstance(layer, _FusedModule) else layer
        if id(layer) in inside_fused or not (isinstance(conv, nn.Conv2d) and getattr(conv, TF_SAME_MARK, False)):
            continue
        lead = getattr(conv, TF_SAME_LEAD, 0)
        layer.register_forward_pre_hook(pad_hook(conv, lead))
        if lead:
            layer.register_forward_hook(crop_hook(conv, lead))


def _mark_float_layers(module: nn.Module, keep_float: tuple[str, ...]) -> None:
    """Leave listed layers in float: dequantize before them and quantize again after."""
    from torch.ao.quantization import DeQuantStub, QuantStub

    named = dict(module.named_modules())
    unknown = [name for name in keep_float if name not in named]
    if unknown:
        raise StudioError(f"keep_float names layers this model does not have: {', '.join(unknown[:5])}")
    for name in keep_float:
        parent_name, _, child = name.rpartition(".")
        parent = named[parent_name] if parent_name else module
        layer = named[name]
        layer.qconfig = None  # eager-mode quantization reads this attribute
        island = nn.Sequential(DeQuantStub(), layer, QuantStub())
        setattr(parent, child, island)


def _fused_float(spec: ModelSpec, info: QuantInfo, state_dict: dict[str, Any] | None) -> Any:
    """The quantizable twin, conv-bn(-relu) fused, still float: what calibration observes."""
    torch.backends.quantized.engine = ENGINE
    twin: Any = _quantizable_twin(spec, info.layer_shapes)  # has fuse_model()
    if state_dict is not None:
        twin.load_state_dict(state_dict, strict=True)
    twin.fuse_model(is_qat=False)
    add_tf_same_hooks(twin)
    return twin


def _float_reference(spec: ModelSpec, info: QuantInfo, state_dict: dict[str, Any]) -> Any:
    """The fused float twin with its ReLU6 back, in eval mode: what the int8 variant approximates."""
    reference = _fused_float(spec, info, state_dict).eval()
    restore_relu6(reference)
    return reference


def _static_info(model: LoadedModel) -> QuantInfo | None:
    """The QuantInfo of a static int8 variant; None for any other model."""
    quantization = model.card.quantization
    if model.module is None or not quantization or quantization.get("mode") != "static":
        return None
    return QuantInfo.from_dict(quantization)


def _prepared(spec: ModelSpec, info: QuantInfo, qconfig: Any, state_dict: dict[str, Any] | None) -> nn.Module:
    twin = _fused_float(spec, info, state_dict)
    twin.qconfig = qconfig
    _mark_float_layers(twin, info.keep_float)
    return prepare(twin, inplace=True)


def quantize(
    model: LoadedModel,
    step: QuantizeStep,
    *,
    calib: ImageDataset | None = None,
    train: ImageDataset | None = None,
    checkpoint_dir: Path | None = None,
    progress: Progress | None = None,
) -> LoadedModel:
    """A quantized copy of `model` (the parent is left untouched)."""
    progress = progress or silent()
    float_module = model.editable_module("quantized")
    start = time.perf_counter()
    info = QuantInfo(step.mode, step.per_channel, step.keep_float, _layer_shapes(float_module))
    if step.mode == "static":
        if calib is None:
            raise StudioError("static int8 needs calibration images (--calib)")
        module = _static_int8(model, step, info, calib, progress)
    elif step.mode == "qat":
        if train is None:
            raise StudioError("quantization-aware training needs training images (--train)")
        module = _qat_int8(model, step, info, train, checkpoint_dir, progress)
    elif step.mode == "dynamic":
        torch.backends.quantized.engine = ENGINE
        module = torch.ao.quantization.quantize_dynamic(copy.deepcopy(float_module), {nn.Linear}, torch.qint8)
    else:
        module = copy.deepcopy(float_module).half()
    progress(1.0, f"quantized ({step.mode}) in {time.perf_counter() - start:.0f} s")
    label = QUANT_LABELS[step.mode]
    card = replace(model.card, title=f"{model.card.title} {label}", path="", quantization=info.to_dict())
    return LoadedModel(card=card, module=Fp16Module(module) if step.mode == "fp16" else module)


def equalized(
    model: LoadedModel, step: QuantizeStep, data: ImageDataset, progress: Progress | None = None
) -> LoadedModel:
    """The float model `step` quantizes: an activation-equalized copy when the step asks for it."""
    from core.compress.equalize import equalize_activations
    from core.data.datasets import Preprocessing

    if not step.equalizes:
        return model
    module = copy.deepcopy(model.editable_module("equalized")).eval()
    images = data.subset(min(len(data), EQUALIZATION_IMAGES), seed=1)
    batches = images.batches(Preprocessing.for_card(model.card), 32, progress=progress or silent())
    equalize_activations(module, (batch for batch, _ in batches))
    return replace(model, module=module)


def _static_int8(
    model: LoadedModel, step: QuantizeStep, info: QuantInfo, calib: ImageDataset, progress: Progress
) -> nn.Module:
    from core.data.datasets import Preprocessing

    assert model.card.spec is not None
    progress(0.0, "equalizing activation ranges" if step.equalizes else "preparing")
    float_state = equalized(model, step, calib, progress.span(0.0, 0.05)).editable_module("quantized").state_dict()
    prepared = _prepared(model.card.spec, info, qconfig_for(step), float_state)
    images = calib.subset(step.calibration_images, seed=0)
    preprocess = Preprocessing.for_card(model.card)
    calibrate = progress.span(0.05, 0.85)
    calibrate(0.0, f"calibrating on {len(images)} images")
    with torch.inference_mode():
        for batch, _ in images.batches(preprocess, batch_size=32, progress=calibrate):
            prepared(batch)
    clip_relu6_ranges(prepared)
    progress(0.86, "converting to int8")
    quantized = convert(prepared.eval(), inplace=True)
    if step.bias_correction is not False:
        reference = _float_reference(model.card.spec, info, float_state)
        order = images.shuffled(3).samples
        correction, check = order[:BIAS_CORRECTION_IMAGES], order[BIAS_CORRECTION_IMAGES:][:BIAS_CHECK_IMAGES]
        if step.bias_correction is None and len(check) < MIN_BIAS_CHECK_IMAGES:
            return quantized  # too few images left to tell whether the correction helps

        def read(samples: list[Any]) -> list[torch.Tensor]:
            chosen = replace(images, samples=samples)
            return [batch for batch, _ in chosen.batches(preprocess, batch_size=32, progress=progress.span(0.86, 0.9))]

        correction_batches = read(correction)
        check_batches = read(check) if step.bias_correction is None else []
        before = _divergence(quantized, reference, check_batches, progress)
        saved = {name: layer.bias() for name, layer in _int8_layers(quantized).items()}
        correct_biases(quantized, reference, correction_batches, progress.span(0.9, 1.0))
        if step.bias_correction is None and _divergence(quantized, reference, check_batches, progress) >= before:
            for name, layer in _int8_layers(quantized).items():
                layer.set_weight_bias(layer.weight(), saved[name])
            progress(1.0, "bias correction did not bring int8 closer to float on held-out images: not kept")
    return quantized


BIAS_CORRECTION_IMAGES = 64
BIAS_CHECK_IMAGES = 128
MIN_BIAS_CHECK_IMAGES = 32


def carry_bias_correction(float_model: LoadedModel, int8_model: LoadedModel) -> LoadedModel:
    """A copy of the float model whose biases carry the static int8 variant's bias correction.

    Exporters that re-quantize the float parent with their own tool chain (TFLite, ExecuTorch,
    .pt2, Core ML) start from this, so their int8 models get the same correction. The shift of
    a conv followed by BatchNorm goes into the BatchNorm's bias.
    """
    info = _static_info(int8_model)
    if info is None:
        return float_model
    assert float_model.card.spec is not None and int8_model.module is not None
    source = float_model.editable_module("corrected")
    fused = dict(_float_reference(float_model.card.spec, info, source.state_dict()).named_modules())
    corrected = copy.deepcopy(source)
    named = dict(corrected.named_modules())
    with torch.no_grad():
        for name, layer in _int8_layers(int8_model.module).items():
            float_layer = fused[name][0] if isinstance(fused[name], nn.Sequential) else fused[name]
            if float_layer.bias is None or layer.bias() is None:
                continue
            shift = layer.bias() - float_layer.bias
            parent_name, _, index = name.rpartition(".")
            follower = named.get(f"{parent_name}.{int(index) + 1}" if index.isdigit() else "")
            if isinstance(follower, nn.BatchNorm2d) and follower.bias is not None:
                follower.bias.add_(shift)
            elif isinstance(own_bias := named[name].bias, torch.Tensor):
                own_bias += shift
    return replace(float_model, module=corrected)


def activation_ranges(
    float_model: LoadedModel, int8_model: LoadedModel, batch: torch.Tensor, levels: int = 256
) -> list[tuple[torch.Tensor, float, float]]:
    """The float activations a static int8 variant quantizes on `batch`, each with its int8 range.

    `float_model` is the graph the variant was calibrated on (equalized, bias-corrected, as the
    exporters' float parent is). Exporters that re-quantize it with their own tool chain find their
    observers' inputs among these tensors and reuse the variant's ranges, so their int8 grid is the
    variant's. `levels`: 128 for a variant calibrated with 7-bit activations.
    """
    from torch.ao.nn.quantized import DeQuantize

    info = _static_info(int8_model)
    if info is None:
        return []
    assert float_model.card.spec is not None and float_model.module is not None and int8_model.module is not None
    twin = _float_reference(float_model.card.spec, info, float_model.module.state_dict())
    float_modules = dict(twin.named_modules())
    captured: list[tuple[torch.Tensor, float, float]] = []

    def record(low: float, high: float) -> Any:
        return lambda _module, _inputs, output: captured.append((output.detach(), low, high))

    handles = []
    for name, layer in int8_model.module.named_modules():
        if isinstance(layer, DeQuantize) or not hasattr(layer, "zero_point") or name not in float_modules:
            continue
        watched = float_modules[name]
        if isinstance(watched, torch.ao.nn.quantized.FloatFunctional):
            watched = watched.activation_post_process  # an add or mul: its result passes through here
        scale, zero_point = float(layer.scale), int(layer.zero_point)
        handles.append(watched.register_forward_hook(record(-zero_point * scale, (levels - 1 - zero_point) * scale)))
    with removed_after(handles), torch.inference_mode():
        twin(batch)
    return captured


def _int8_layers(module: nn.Module) -> dict[str, Any]:
    from torch.ao.nn import quantized as nnq

    return {name: m for name, m in module.named_modules() if isinstance(m, nnq.Conv2d | nnq.Linear)}


def _divergence(quantized: nn.Module, reference: nn.Module, batches: list[torch.Tensor], progress: Progress) -> float:
    """Mean KL divergence of the int8 model's class probabilities from the float model's."""
    import torch.nn.functional as F

    total = 0.0
    with torch.inference_mode():
        for batch in batches:
            progress.check()
            expected, got = F.log_softmax(reference(batch), 1), F.log_softmax(quantized(batch), 1)
            total += float(F.kl_div(got, expected, reduction="sum", log_target=True))
    return total / max(1, sum(len(batch) for batch in batches))


class _StopForward(Exception):
    """Raised by a hook once the layer being measured has run: the rest of the network is not needed."""


def correct_biases(quantized: nn.Module, reference: nn.Module, batches: list[torch.Tensor], progress: Progress) -> None:
    """Empirical bias correction: shift each int8 conv/linear bias by its output's mean error.

    Rounding weights and inputs biases each output channel's mean. Layer by layer, in order, the
    int8 output (after the corrections upstream) is measured against the float fused model on
    the same images and the per-channel mean difference is subtracted from the bias; correcting
    all layers at once instead overshot downstream and diverged. For a fused ReLU the error is
    measured after the ReLU.
    """
    layers = _int8_layers(quantized)
    float_layers = dict(reference.named_modules())

    def channel_means(model: nn.Module, watched: dict[str, nn.Module], stop_after: nn.Module | None) -> dict[str, Any]:
        sums: dict[str, Any] = {}

        def hook(name: str) -> Any:
            def record(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
                values = output.dequantize() if output.is_quantized else output
                sums[name] = sums.get(name, 0) + values.mean(dim=[0, *range(2, values.dim())]) / len(batches)
                if module is stop_after:
                    raise _StopForward

            return record

        handles = [module.register_forward_hook(hook(name)) for name, module in watched.items()]
        with removed_after(handles), torch.inference_mode():
            for batch in batches:
                with contextlib.suppress(_StopForward):
                    model(batch)
        return sums

    target = channel_means(reference, {name: float_layers[name] for name in layers}, None)
    report = progress.steps(len(layers), "correcting biases")
    for done, (name, layer) in enumerate(layers.items()):
        error = channel_means(quantized, {name: layer}, layer)[name] - target[name]
        bias = layer.bias()
        layer.set_weight_bias(layer.weight(), (bias if bias is not None else torch.zeros_like(error)) - error)
        report(done + 1)


def _qat_int8(
    model: LoadedModel,
    step: QuantizeStep,
    info: QuantInfo,
    train: ImageDataset,
    checkpoint_dir: Path | None,
    progress: Progress,
) -> nn.Module:
    """Fake-quantized training distilled from the float parent; BN then observers freeze after k steps."""
    from torch.ao.nn.intrinsic.qat import freeze_bn_stats
    from torch.ao.quantization import disable_observer, get_default_qat_qconfig, prepare_qat

    from core.compress.finetune import finetune
    from core.recipe import FinetuneStep

    assert model.card.spec is not None
    torch.backends.quantized.engine = ENGINE
    twin: Any = _quantizable_twin(model.card.spec, info.layer_shapes)
    float_module = equalized(model, step, train, progress.span(0.0, 0.02)).editable_module("quantized")
    twin.load_state_dict(float_module.state_dict(), strict=True)
    twin.train()
    twin.fuse_model(is_qat=True)
    add_tf_same_hooks(twin)
    twin.qconfig = get_default_qat_qconfig(ENGINE) if step.per_channel else qconfig_for(step)
    _mark_float_layers(twin, info.keep_float)
    prepared = prepare_qat(twin, inplace=True)

    def freeze(done: int, student: nn.Module) -> None:
        if done >= step.freeze_bn_after:
            student.apply(freeze_bn_stats)
        if done >= step.freeze_observers_after:
            student.apply(disable_observer)

    training = FinetuneStep(
        epochs=step.qat_epochs, learning_rate=step.qat_learning_rate, labels=train.labeled, distill=True,
        bn_recalibration_images=0,  # BN statistics are frozen into the int8 weights
    )  # fmt: skip
    trained = finetune(
        LoadedModel(card=model.card, module=prepared), training, train=train, teacher=model,
        checkpoint_dir=checkpoint_dir, on_step=freeze, progress=progress.span(0.0, 0.95),
    )  # fmt: skip
    assert trained.module is not None
    progress(0.96, "converting to int8")
    return convert(trained.module.eval(), inplace=True)


SCALES, ZERO_POINTS, AXIS = "._scales", "._zero_points", "._axis"


def storable_state_dict(module: nn.Module) -> dict[str, Any]:
    """The state_dict as stored: int8 weights as int8 values, float32 scales and int32 zero points.

    torch serializes a quantized tensor's per-channel scales as float64 and its zero points
    as int64, which made the V2 int8 file 4 % larger than its int8 payload.
    """
    state = module.state_dict()
    stored: dict[str, Any] = OrderedDict()
    stored._metadata = getattr(state, "_metadata", {})  # type: ignore[attr-defined]  # module versions
    for key, value in state.items():
        if not (isinstance(value, torch.Tensor) and value.is_quantized):
            stored[key] = value
        elif value.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            stored[key] = value.int_repr()
            stored[key + SCALES] = value.q_per_channel_scales().float()
            stored[key + ZERO_POINTS] = value.q_per_channel_zero_points().int()
            stored[key + AXIS] = torch.tensor(value.q_per_channel_axis())
        else:
            stored[key] = value.int_repr()
            stored[key + SCALES] = torch.tensor(value.q_scale(), dtype=torch.float32)
            stored[key + ZERO_POINTS] = torch.tensor(value.q_zero_point(), dtype=torch.int32)
    return stored


def expand_state_dict(stored: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `storable_state_dict`; a plain state_dict passes through unchanged."""
    state: dict[str, Any] = OrderedDict()
    state._metadata = getattr(stored, "_metadata", {})  # type: ignore[attr-defined]
    for key, value in stored.items():
        if key.endswith((SCALES, ZERO_POINTS, AXIS)):
            continue
        if key + SCALES not in stored:
            state[key] = value
        elif key + AXIS in stored:
            state[key] = torch._make_per_channel_quantized_tensor(
                value, stored[key + SCALES].double(), stored[key + ZERO_POINTS].long(), int(stored[key + AXIS])
            )
        else:
            scale, zero_point = float(stored[key + SCALES]), int(stored[key + ZERO_POINTS])
            state[key] = torch._make_per_tensor_quantized_tensor(value, scale, zero_point)
    return state


def rebuild_quantized(spec: ModelSpec, info: QuantInfo, state_dict: dict[str, Any]) -> nn.Module:
    """A stored quantized variant from its state_dict alone: the skeleton is rebuilt, then loaded."""
    from core.zoo.resize import fit_to_shapes

    torch.backends.quantized.engine = ENGINE
    if info.mode in ("static", "qat"):  # both convert to the same int8 modules
        qconfig = qconfig_for(QuantizeStep(mode="static", observer="minmax", per_channel=info.per_channel))
        module: nn.Module = convert(_prepared(spec, info, qconfig, None).eval(), inplace=True)
    else:
        module = spec.build()
        fit_to_shapes(module, info.layer_shapes)
        if info.mode == "dynamic":
            module = torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, torch.qint8)
        else:
            module = Fp16Module(module.half())
    module.load_state_dict(expand_state_dict(state_dict), strict=True)
    return module.eval()


class Fp16Module(nn.Module):
    """fp16 weights and compute; float32 in and out so every caller treats it like its parent."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.half()).float()
