"""What is exported: a loaded model plus, for an int8 variant, how to re-create its quantization."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ExportError
from core.jobs import Progress
from core.model import LoadedModel
from core.precision import Int8Static, Precision
from core.project import Project
from core.recipe import QuantizeStep


@dataclass
class ExportSource:
    """The model to export; an int8 source also names its float parent and calibration settings.

    Formats that cannot hold PyTorch's x86 int8 modules re-quantize the float parent in their own
    tool chain with the variant's settings (`quantize_step`): same observer family, same number of
    calibration images, same per-channel choice, and the variant's activation ranges where the
    graphs share the activation.
    """

    model: LoadedModel
    name: str
    float_parent: Callable[[], LoadedModel] | None = None
    quantize_step: QuantizeStep | None = None
    parent_problem: str | None = None  # why the recorded parent cannot stand in for the float graph
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> Precision:
        return self.model.card.precision

    @property
    def stem(self) -> str:
        """A file-name-safe name for the artifacts."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-._") or "model"

    def load_float_parent(self) -> LoadedModel:
        if self.parent_problem:
            raise ExportError(self.parent_problem)
        if self.float_parent is None:
            raise ExportError(
                f"{self.name} is int8 and has no float parent to re-quantize; export it from its project "
                "(PROJECT_DIR:VARIANT) so its parent can be loaded, or use --format torchscript, which "
                "exports the int8 model as it is"
            )
        parent = self.float_parent()
        quantization = self.model.card.quantization
        expected = quantization.layer_shapes if quantization else {}
        assert parent.module is not None
        actual = {k: list(v.shape) for k, v in parent.module.state_dict().items() if k.endswith(".weight")}
        if expected and expected != actual:
            raise ExportError(
                f"the float parent of {self.name} has other layer shapes than the int8 variant (was it pruned "
                "after the parent was stored?); export with --format torchscript or store the float graph first"
            )
        return parent


def from_model(model: LoadedModel) -> ExportSource:
    """A model from the zoo or a file; an int8 model built outside a project has no parent."""
    return ExportSource(model=model, name=model.card.title)


def from_project(root: str | Path, variant_id: str) -> ExportSource:
    """A project variant; an int8 variant's float parent is its `parent` in the project."""
    project = Project.open(root)
    variant = project.variant(variant_id)
    model = project.load(variant.id)
    source = ExportSource(model=model, name=variant.name)
    if variant.quantization is None or not isinstance(variant.quantization.precision, Int8Static):
        return source
    recipe = variant.made_by
    quantize = recipe.step(QuantizeStep) if recipe is not None else None
    if quantize is not None:
        source.quantize_step = quantize
    else:
        source.quantize_step = QuantizeStep()
        source.notes.append("the variant records no recipe: re-quantized with the default calibration settings")
    if recipe is None and variant.recipe:  # recorded, but by a version whose recipes this one cannot read
        source.parent_problem = (f"{variant.name}'s recipe cannot be read by this studio version, so whether its "
                                 "parent is its float graph is unknown and it cannot be re-quantized; use "
                                 "--format torchscript")
        return source
    other_steps = [step.TYPE for step in recipe.steps if not isinstance(step, QuantizeStep)] if recipe else []
    if variant.parent is None:
        return source
    if variant.parent not in {v.id for v in project.variants}:  # TorchScript needs no parent: it still exports
        source.parent_problem = (f"{variant.name}'s float parent ({variant.parent}) is missing from the project, "
                                 "so it cannot be re-quantized; use --format torchscript")
        return source
    parent = project.variant(variant.parent)
    if other_steps:
        source.parent_problem = (
            f"{variant.name}'s parent {parent.name} is not its float graph (its recipe also ran "
            f"{', '.join(other_steps)} before quantizing), so it cannot be re-quantized; store the "
            "pruned/fine-tuned float model as a variant and quantize that, or use --format torchscript"
        )
    else:
        source.float_parent = lambda: project.load(parent.id)
    return source


def resolve_source(text: str, weights: str = "auto", *, trust_pickle: bool = False,
                   progress: Progress | None = None) -> ExportSource:
    """`PROJECT_DIR:VARIANT` (a project variant, with its float parent), else a zoo spec or model file."""
    from core.references import resolve_reference, split_variant_reference

    reference = split_variant_reference(text)
    if reference is not None:
        return from_project(*reference)
    return from_model(resolve_reference(text, weights, trust_pickle=trust_pickle, progress=progress))
