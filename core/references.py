"""A model argument as users write it: a zoo spec, a model file, or a project variant `PROJECT_DIR:VARIANT`.

Every verb (info, eval, bench, compress, export, the studio's open dialogs) resolves its model here,
so each accepts the same three forms and explains the same mistakes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.jobs import Progress
from core.model import LoadedModel
from core.project import PROJECT_FILE, VARIANT_FILE, Project


def split_variant_reference(text: str) -> tuple[Path, str] | None:
    """(project folder, variant id or name) when `text` is `PROJECT_DIR:VARIANT` of an existing project."""
    folder, sep, variant = text.rpartition(":")
    if sep and folder and variant and (Path(folder).expanduser() / PROJECT_FILE).is_file():
        return Path(folder).expanduser(), variant
    return None


def stored_variant_warning(path: Path) -> str | None:
    """Opening a project variant's own model.pt loses what its project records (TF-SAME padding, int8 layout)."""
    folder = path.absolute().parent
    root = folder.parent.parent
    if folder.parent.name == "variants" and (folder / VARIANT_FILE).is_file() and (root / PROJECT_FILE).is_file():
        return (
            f"{path.name} is a variant stored in the project {root}; opened on its own it loses what the project "
            f"records (padding, int8 layout) and can score far lower: open it as {root}:{folder.name}"
        )
    return None


def resolve_reference(
    text: str, weights: str = "auto", *, trust_pickle: bool = False, progress: Progress | None = None
) -> LoadedModel:
    """The model `text` names: a project variant, a model file or a zoo spec."""
    from core.zoo.loading import resolve_model

    reference = split_variant_reference(text)
    if reference is not None:
        root, variant = reference
        return Project.open(root).load(variant)
    model = resolve_model(text, weights, trust_pickle=trust_pickle, progress=progress)
    warning = stored_variant_warning(Path(text).expanduser()) if model.card.path else None
    return replace(model, card=replace(model.card, warnings=(warning,))) if warning else model
