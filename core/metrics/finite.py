"""NaN and Inf in a model's tensors or outputs: numbers that cannot be right, whatever the accuracy says."""

from __future__ import annotations

from typing import Any

import numpy as np


def nonfinite_parameters(module: Any) -> list[str]:
    """Names of the parameters and buffers of a torch module that hold a NaN or an Inf.

    Read from the state dict, not `named_parameters`: eager int8 layers keep their weights in packed
    parameters, which only the state dict unpacks (Linear's as a (weight, bias) tuple).
    """
    return [name for name, value in module.state_dict().items() if not _finite(value)]


def _finite(value: Any) -> bool:
    import torch

    if isinstance(value, tuple | list):
        return all(_finite(v) for v in value)
    if not isinstance(value, torch.Tensor):
        return True  # packed-parameter metadata (dtypes, versions)
    if value.is_quantized:
        value = value.dequantize()  # the integers are finite; a NaN or Inf scale is not
    if not (value.is_floating_point() or value.is_complex()):
        return True
    return bool(torch.isfinite(value).all())


def nonfinite_warning(module: Any) -> str | None:
    """One line for a user when a model's weights hold NaN or Inf (its numbers cannot be trusted)."""
    names = nonfinite_parameters(module)
    if not names:
        return None
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"the model's weights hold NaN or Inf ({shown}): its outputs and accuracy cannot be trusted"


def nonfinite_rows(logits: np.ndarray) -> np.ndarray:
    """Per image (row): whether its logits hold a NaN or an Inf. Their argmax means nothing."""
    return ~np.isfinite(logits).all(axis=1)
