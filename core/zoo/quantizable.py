"""The quantizable twin of each architecture: what eager-mode int8 calibrates, converts and reloads.

Each architecture has a twin with QuantStub/DeQuantStub and FloatFunctional adds: torchvision's
for V2/V3, ours for V1. Pruned channel counts are carried over by resizing the twin to the float
state_dict. ReLU6 becomes a fused ReLU whose calibrated range is capped at 6, and TF-SAME padding
a forward pre-hook added after fusion (see `add_tf_same_hooks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.ao.quantization import prepare
from torch.ao.quantization.observer import HistogramObserver

from core.errors import StudioError
from core.precision import QuantInfo

if TYPE_CHECKING:
    from core.zoo.registry import ModelSpec

ENGINE = "x86"


def layer_shapes(module: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items() if k.endswith(".weight")}


def quantizable_twin(spec: ModelSpec, layer_shapes: dict[str, list[int]]) -> nn.Module:
    """The architecture's quantizable version, with the float model's (possibly pruned) shapes."""
    from torchvision.models.quantization.mobilenetv2 import (
        QuantizableInvertedResidual as V2Block,
    )
    from torchvision.models.quantization.mobilenetv2 import QuantizableMobileNetV2
    from torchvision.models.quantization.mobilenetv3 import QuantizableInvertedResidual as V3Block
    from torchvision.models.quantization.mobilenetv3 import QuantizableMobileNetV3, _mobilenet_v3_conf

    from core.zoo.blocks import drop_blocks
    from core.zoo.resize import fit_to_shapes

    if spec.arch == "mobilenet_v1":
        from core.zoo.mobilenet_v1 import QuantizableMobileNetV1

        twin: nn.Module = QuantizableMobileNetV1(width_mult=spec.width, num_classes=spec.num_classes)
    elif spec.arch == "mobilenet_v2":
        twin = QuantizableMobileNetV2(width_mult=spec.width, num_classes=spec.num_classes, block=V2Block)
    else:
        settings, last_channel = _mobilenet_v3_conf(spec.arch, width_mult=spec.width)
        twin = QuantizableMobileNetV3(settings, last_channel, block=V3Block, num_classes=spec.num_classes)
    drop_blocks(twin, spec.dropped)
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
        observer = getattr(observer, "activation_post_process", observer)  # QAT: the observer inside FakeQuantize
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


def mark_float_layers(module: nn.Module, keep_float: tuple[str, ...]) -> None:
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


def fused_float(spec: ModelSpec, info: QuantInfo, state_dict: dict[str, Any] | None) -> Any:
    """The quantizable twin, conv-bn(-relu) fused, still float: what calibration observes."""
    torch.backends.quantized.engine = ENGINE
    twin: Any = quantizable_twin(spec, info.layer_shapes)  # has fuse_model()
    if state_dict is not None:
        twin.load_state_dict(state_dict, strict=True)
    twin.fuse_model(is_qat=False)
    add_tf_same_hooks(twin)
    return twin


def float_reference(spec: ModelSpec, info: QuantInfo, state_dict: dict[str, Any]) -> Any:
    """The fused float twin with its ReLU6 back, in eval mode: what the int8 variant approximates."""
    reference = fused_float(spec, info, state_dict).eval()
    restore_relu6(reference)
    return reference


def prepared_twin(spec: ModelSpec, info: QuantInfo, qconfig: Any, state_dict: dict[str, Any] | None) -> nn.Module:
    twin = fused_float(spec, info, state_dict)
    twin.qconfig = qconfig
    mark_float_layers(twin, info.keep_float)
    return prepare(twin, inplace=True)


def converted(prepared: nn.Module) -> nn.Module:
    """`convert` a prepared (or QAT) twin to int8 in place, without torch's "must run observer" warnings.

    They are expected, not a calibration fault: torchvision's inverted-residual blocks create an add
    (`skip_add`) even where they have no residual, so its observer never sees data; and a stored
    variant's skeleton is converted uncalibrated before its own scales are loaded into it.
    """
    import warnings

    from torch.ao.quantization import convert

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="must run observer before calling calculate_qparams")
        return convert(prepared.eval(), inplace=True)
