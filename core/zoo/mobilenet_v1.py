"""MobileNetV1 (Howard et al., 2017) in a torchvision-like layout.

`features.0` is conv-bn-relu6 with stride 2; `features.1..13` are
[depthwise conv-bn-relu6, pointwise conv-bn-relu6]; `classifier` is
[Dropout, Linear]. Channels are `int(c * width)` as in Keras Applications, so
Keras-converted weights load with `strict=True`.
"""

from __future__ import annotations

import torch
from torch import nn

from core.zoo.tf_same import Conv2dSame

# (output channels, stride) of the 13 depthwise-separable blocks.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
STEM_CHANNELS = 32


def scaled_channels(channels: int, width: float) -> int:
    return max(int(channels * width), 1)


class ConvBNReLU6(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int, tf_same: bool, eps: float):
        if tf_same and stride > 1:
            conv: nn.Conv2d = Conv2dSame(cin, cout, kernel, stride, 0, groups=groups, bias=False)
        else:
            conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
        super().__init__(conv, nn.BatchNorm2d(cout, eps=eps), nn.ReLU6(inplace=True))


class MobileNetV1(nn.Module):
    def __init__(
        self,
        width_mult: float = 1.0,
        num_classes: int = 1000,
        dropout: float = 0.001,
        tf_same: bool = False,
        bn_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        cin = scaled_channels(STEM_CHANNELS, width_mult)
        layers: list[nn.Module] = [ConvBNReLU6(3, cin, 3, 2, 1, tf_same, bn_eps)]
        for channels, stride in BLOCKS:
            cout = scaled_channels(channels, width_mult)
            layers.append(
                nn.Sequential(
                    ConvBNReLU6(cin, cin, 3, stride, cin, tf_same, bn_eps),
                    ConvBNReLU6(cin, cout, 1, 1, 1, tf_same, bn_eps),
                )
            )
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class QuantizableMobileNetV1(MobileNetV1):
    """MobileNetV1 for eager-mode int8: quant/dequant stubs and conv-bn-relu fusion."""

    def __init__(self, **kwargs: float | int | bool) -> None:
        from torch.ao.quantization import DeQuantStub, QuantStub

        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.quant = QuantStub()
        self.dequant = DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(super().forward(self.quant(x)))

    def fuse_model(self, is_qat: bool | None = None) -> None:
        """Fuse conv-bn-activation; activations must already be plain ReLU (fbgemm fuses no ReLU6)."""
        from torch.ao.quantization import fuse_modules

        for module in self.modules():
            if isinstance(module, ConvBNReLU6):
                fuse_modules(module, [["0", "1", "2"]], inplace=True)
