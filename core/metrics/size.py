"""Serialized size: what a variant costs on disk."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def state_dict_bytes(module: nn.Module) -> int:
    """Bytes of `torch.save(module.state_dict())`: the fp32 file a user would ship."""
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()
