"""Foreign modules rebuilt as the zoo architecture their weights are: a TorchScript file, a torch.export program or
a trusted pickled module of a stock MobileNet (a new head included) becomes that architecture with those weights,
so it can be compressed like a state_dict, and is stored as one, never needing its original file again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import StudioError
from core.formats import ModelFormat
from core.model import LoadedModel
from core.zoo.registry import PADDINGS


def rebuilt_as_zoo(module: Any, path: Path, fmt: ModelFormat, resolution: int, batch: int) -> LoadedModel | None:
    """`module` as a zoo model, when its weights fit one exactly and the rebuilt model gives the same outputs on a
    probe batch (each padding is tried: TF-SAME weights differ only there); None otherwise."""
    import torch

    from core.zoo.loading import assemble_model, infer_spec, load_state_dict_into
    from core.zoo.weights import WeightsInfo

    try:
        state = {k: v.detach().clone() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}
        probe = torch.randn(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            expected = module(probe)
    except Exception:  # a user's module can fail in many ways: it then stays as it is
        return None
    for padding in PADDINGS:
        try:
            spec = infer_spec(state, path.name, resolution=resolution, padding=padding)
            built, pruned = load_state_dict_into(spec, state, path.name)
            with torch.inference_mode():
                same = torch.allclose(built.eval()(probe), expected, rtol=1e-3, atol=1e-4)
        except (StudioError, RuntimeError, ValueError, KeyError):
            continue
        if same:
            weights = WeightsInfo("file", f"from {path.name}", str(path))
            model = assemble_model(spec, built, weights, ModelFormat.PYTORCH, str(path), pruned=pruned)
            note = (f"rebuilt as {spec} from the {fmt.label} file's weights (same outputs), so it "
                    "can be compressed")
            model.card = replace(model.card, title=path.stem, warnings=(*model.card.warnings, note))
            return model
    return None
