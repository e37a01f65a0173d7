"""Block dropping: whole blocks removed, each gap's least-squares adaptor folded into a neighbour."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from core.compress.drop_blocks import fold_into_entry, fold_into_exit, plan_gaps, remove_blocks
from core.data import Preprocessing, open_dataset
from core.errors import StudioError
from core.metrics.complexity import analyze_complexity
from core.project import Project
from core.recipe import DropBlocksStep
from core.zoo.blocks import block_views, drop_blocks, droppable_blocks
from core.zoo.loading import create_model
from core.zoo.registry import ARCHITECTURES, ModelSpec

RES = 64
# Each architecture with one block whose adaptor folds into the next layer and one into the previous.
SITES = {
    "mobilenet_v1": {"previous": 9},
    "mobilenet_v2": {"next": 6, "previous": 5},
    "mobilenet_v3_small": {"next": 11, "previous": 5},
    "mobilenet_v3_large": {"next": 6, "previous": 5},
}


def _with_random_statistics(module: nn.Module) -> nn.Module:
    """Untrained BatchNorms are identities; random statistics make a folding error visible."""
    generator = torch.Generator().manual_seed(1)
    for norm in module.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.running_mean.copy_(torch.randn(norm.num_features, generator=generator) * 0.1)
            norm.running_var.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
            norm.weight.data.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
    return module.eval()


def _random_affine(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    matrix = torch.eye(channels, dtype=torch.float64) + 0.1 * torch.randn(channels, channels, generator=generator,
                                                                          dtype=torch.float64)
    return matrix, 0.1 * torch.randn(channels, generator=generator, dtype=torch.float64)


def _affine_hook(matrix: torch.Tensor, shift: torch.Tensor):
    def apply(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,nchw->nohw", matrix.float(), x) + shift.float()[None, :, None, None]

    return apply


@pytest.mark.parametrize(("arch", "site"), [(a, s) for a, sites in SITES.items() for s in sites])
def test_a_dropped_blocks_adaptor_folds_exactly(arch: str, site: str) -> None:
    block = SITES[arch][site]
    module = _with_random_statistics(ModelSpec(arch, width=0.5).build())
    (gap,) = plan_gaps(module, (block,))
    assert gap.site == site
    views = block_views(module)
    drop_blocks(module, (block,))
    x = torch.randn(2, 3, RES, RES, generator=torch.Generator().manual_seed(0))
    if site == "next":
        conv, norm = views[block + 1].entry
        matrix, shift = _random_affine(conv.in_channels)
        apply = _affine_hook(matrix, shift)
        handle = module.features[block + 1].register_forward_pre_hook(lambda _m, inputs: (apply(inputs[0]),))
        with torch.inference_mode():
            adapted = module(x)
        handle.remove()
        fold_into_entry(conv, norm, matrix, shift)
    else:
        conv, norm = views[block - 1].exit
        matrix, shift = _random_affine(conv.out_channels)
        apply = _affine_hook(matrix, shift)
        handle = norm.register_forward_hook(lambda _m, _inputs, output: apply(output))
        with torch.inference_mode():
            adapted = module(x)
        handle.remove()
        channels = conv.out_channels
        fold_into_exit(conv, norm, matrix, shift, torch.zeros(channels, dtype=torch.float64),
                       torch.eye(channels, dtype=torch.float64))
    with torch.inference_mode():
        folded = module(x)
    torch.testing.assert_close(folded, adapted, rtol=1e-4, atol=1e-4)


def test_droppable_blocks_are_those_whose_input_and_output_shapes_match() -> None:
    assert droppable_blocks(ModelSpec("mobilenet_v2").build()) == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    assert droppable_blocks(ModelSpec("mobilenet_v1").build()) == [3, 5, 7, 8, 9, 10, 11, 13]
    assert droppable_blocks(ModelSpec("mobilenet_v3_small").build()) == [3, 5, 6, 8, 10, 11]


def test_blocks_that_cannot_be_dropped_or_folded_are_refused_before_any_work() -> None:
    module = ModelSpec("mobilenet_v2").build()
    with pytest.raises(StudioError, match=r"blocks \[4\] cannot be dropped: their input and output shapes differ"):
        plan_gaps(module, (4,))
    with pytest.raises(StudioError, match=r"both neighbours are residual blocks.*drop 8 or 10"):
        plan_gaps(module, (9,))
    assert [g.blocks for g in plan_gaps(module, (8, 9, 10))] == [(8, 9, 10)]


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_a_variant_without_blocks_is_smaller_and_reloads_with_weights_only(
    arch: str, tmp_path: Path, calib_dir: Path
) -> None:
    parent = create_model(ModelSpec(arch, width=0.5, resolution=RES), "none")
    block = next(iter(SITES[arch].values()))
    child = remove_blocks(parent, DropBlocksStep(blocks=(block,), fit_images=8), calib=open_dataset(calib_dir, limit=8))
    assert child.card.spec.dropped == (block,)
    assert isinstance(child.module.features[block], nn.Identity)
    macs = [analyze_complexity(m.module, RES).macs for m in (parent, child)]
    assert macs[1] < macs[0]
    project = Project.create(tmp_path / "proj")
    variant = project.add_variant(child, "dropped")
    reloaded = Project.open(project.root).load(variant.id)  # state_dict read with weights_only=True
    assert reloaded.card.spec == child.card.spec
    x = torch.randn(2, 3, RES, RES)
    with torch.inference_mode():
        assert torch.equal(reloaded.module(x), child.module(x))


def test_the_fitted_adaptor_keeps_more_of_the_parent_than_a_plain_gap(calib_dir: Path) -> None:
    parent = create_model(ModelSpec("mobilenet_v3_small", resolution=128), "pretrained")
    calib = open_dataset(calib_dir, limit=96, seed=0)
    held_out = torch.cat([b for b, _ in open_dataset(calib_dir).subset(64, seed=7).batches(
        Preprocessing.for_card(parent.card), 64)])

    def kl_to_parent(fit_images: int) -> float:
        child = remove_blocks(parent, DropBlocksStep(blocks=(6,), fit_images=fit_images), calib=calib)
        with torch.inference_mode():
            student, teacher = child.module(held_out), parent.module(held_out)
        return torch.nn.functional.kl_div(student.log_softmax(1), teacher.log_softmax(1), log_target=True,
                                          reduction="batchmean").item()

    plain, fitted = kl_to_parent(0), kl_to_parent(96)
    assert fitted < 0.8 * plain, (plain, fitted)


def test_a_variant_without_blocks_exports_to_onnx_and_tflite_and_verifies(calib_dir: Path, val_dir: Path,
                                                                          tmp_path: Path) -> None:
    from core.export.job import ExportOptions
    from core.export.registry import FORMATS
    from core.export.run import export_model
    from core.export.source import from_model

    parent = create_model(ModelSpec("mobilenet_v3_small", resolution=96), "pretrained")
    child = remove_blocks(parent, DropBlocksStep(blocks=(5, 6), fit_images=32), calib=open_dataset(calib_dir, limit=32))
    report = export_model(from_model(child), [FORMATS["onnx"], FORMATS["tflite"]], tmp_path / "out",
                          options=ExportOptions(latency_runs=0), evaluation=open_dataset(val_dir, limit=8))
    for result in report.results:
        assert result.verified, (result.format, result.verification)
    assert report.source["input_size"] == 96
