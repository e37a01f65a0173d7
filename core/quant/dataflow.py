"""Which layer feeds which: a data-flow map of a module, recorded by running one example.

Eager modules have no graph, and MobileNets with TF-SAME padding do not trace with
torch.fx; forward hooks that match tensors by identity recover the edges between the
layers that matter for compression (conv, norm, activation, pooling).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

WATCHED = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.AdaptiveAvgPool2d)


@dataclass
class DataFlow:
    producer: dict[int, nn.Module]  # tensor id -> the layer that made it
    users: dict[int, list[nn.Module]]  # tensor id -> the layers that read it
    reads: dict[nn.Module, list[int]]  # layer -> the tensor it read, one entry per call
    output_of: dict[nn.Module, int]  # layer -> the tensor it made (last call)

    @classmethod
    def trace(cls, module: nn.Module, example: torch.Tensor) -> DataFlow:
        producer: dict[int, nn.Module] = {}
        users: dict[int, list[nn.Module]] = {}
        reads: dict[nn.Module, list[int]] = {}
        alive: list[torch.Tensor] = []  # holds every tensor seen so no id is reused during the pass

        def record(layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            alive.extend((inputs[0], output))
            users.setdefault(id(inputs[0]), []).append(layer)
            reads.setdefault(layer, []).append(id(inputs[0]))
            producer[id(output)] = layer

        hooks = [layer.register_forward_hook(record) for layer in module.modules() if isinstance(layer, WATCHED)]
        # An in-place activation hands its input tensor on as its output, which would hide the edge.
        in_place = [layer for layer in module.modules() if getattr(layer, "inplace", False)]
        for layer in in_place:
            layer.inplace = False  # type: ignore[assignment]
        try:
            with torch.no_grad():
                module(example)
        finally:
            for hook in hooks:
                hook.remove()
            for layer in in_place:
                layer.inplace = True  # type: ignore[assignment]
        output_of = {layer: tensor_id for tensor_id, layer in producer.items()}
        return cls(producer, users, reads, output_of)

    @property
    def called_once(self) -> list[nn.Module]:
        return [layer for layer, inputs in self.reads.items() if len(inputs) == 1]

    def source(self, layer: nn.Module) -> nn.Module | None:
        """The watched layer whose output `layer` read (None for inputs made by unwatched code)."""
        inputs = self.reads.get(layer, [])
        return self.producer.get(inputs[0]) if len(inputs) == 1 else None

    def sole_user(self, layer: nn.Module) -> nn.Module | None:
        """The one watched layer reading `layer`'s output, if exactly one does."""
        readers = self.users.get(self.output_of[layer], []) if layer in self.output_of else []
        return readers[0] if len(readers) == 1 else None

    def output_point(self, layer: nn.Module) -> nn.Module:
        """Where `layer`'s result leaves its conv → norm → activation unit: the tensor int8 stores."""
        point = layer
        while (follower := self.sole_user(point)) is not None and isinstance(
            follower, nn.BatchNorm2d | nn.ReLU | nn.ReLU6 | nn.Hardswish
        ):
            if isinstance(point, nn.ReLU | nn.ReLU6 | nn.Hardswish):
                break  # one activation per unit
            point = follower
        return point
