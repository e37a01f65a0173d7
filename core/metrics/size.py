"""Serialized size: what a variant costs on disk."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def state_dict_bytes(module: nn.Module) -> int:
    """Bytes of the state_dict file the studio stores for `module` (int8 weights stored compactly)."""
    import torch

    from core.zoo.quantized_store import storable_state_dict

    buffer = io.BytesIO()
    torch.save(storable_state_dict(module), buffer)
    return buffer.tell()
