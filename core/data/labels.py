"""Class names belong to the model: read from a labels file (one name a line) or from a labelled folder's class
folders (ImageNet WordNet ids shown as their readable names), and checked against the model's class count."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

from core.data.classes import imagenet_classes
from core.data.datasets import ImageDataset
from core.errors import DatasetError
from core.model import LoadedModel

MAX_LABELS_BYTES = 16 << 20


def placeholder_names(count: int) -> tuple[str, ...]:
    """What a model with no known names is shown with: "class 0", "class 1", …"""
    return tuple(f"class {i}" for i in range(count))


def read_labels_file(path: str | Path) -> tuple[str, ...]:
    """One class name a line, in the model's class order (a trailing blank line is allowed)."""
    path = Path(path).expanduser()
    try:
        info = path.stat()
    except OSError:
        raise DatasetError(f"no labels file {path}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(f"{path} is not a regular file; give a text file with one class name a line")
    if info.st_size > MAX_LABELS_BYTES:
        raise DatasetError(f"{path} is {info.st_size} bytes, too large for a list of class names")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path} as UTF-8 text: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    names = tuple(line.strip() for line in lines)
    if not names or any(not name for name in names):
        raise DatasetError(f"{path} has an empty line among its class names (one name a line, none empty)")
    return names


def folder_names(dataset: ImageDataset) -> tuple[str, ...] | None:
    """A labelled folder's class names in label order: an ImageFolder's sub-folders (ImageNet WordNet ids shown
    readable: "tench") or a labels.csv's `name` column; None for a folder that names no classes."""
    if dataset.kind not in ("imagefolder", "labels_csv") or not dataset.class_names:
        return None
    readable = dict(zip(imagenet_classes().wnids, imagenet_classes().names, strict=True))
    return tuple(readable.get(name, name) for name in dataset.class_names)


def check_count(names: tuple[str, ...], num_classes: int, source: str) -> tuple[str, ...]:
    """`names` if there is one for each of the model's classes; else a clear error before any work."""
    if len(names) != num_classes:
        raise DatasetError(f"{source} names {len(names)} classes but the model predicts {num_classes}; "
                           "give one name for each of its classes, in its class order")
    return names


def with_class_names(model: LoadedModel, names: tuple[str, ...], source: str) -> LoadedModel:
    """`model` shown, stored and exported with `names` (one per class, checked)."""
    check_count(names, model.card.num_classes, source)
    return LoadedModel(card=replace(model.card, class_names=names), module=model.module, onnx_path=model.onnx_path)


def names_from_folders(model: LoadedModel, datasets: list[ImageDataset | None]) -> tuple[LoadedModel, str | None]:
    """A model still shown with the default names takes those of the first labelled class folder with one folder
    per class, and says so (None: nothing taken)."""
    from core.zoo.loading import class_names_for

    card = model.card
    if card.num_classes == 1000 or (card.class_names and card.class_names != class_names_for(card.num_classes)):
        return model, None
    found = labelled_names(card.num_classes, datasets)
    if found is None:
        return model, None
    names, dataset = found
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    folders = dataset.kind == "imagefolder"
    where = (f"the {len(names)} class folders of {dataset.root} in sorted order" if folders
             else f"the name column of {dataset.root / 'labels.csv'}, in label order")
    note = f"class names taken from {where} ({shown}); give --labels FILE to name the classes otherwise"
    return with_class_names(model, names, str(dataset.root)), note


def labelled_names(num_classes: int, datasets: list[ImageDataset | None]
                   ) -> tuple[tuple[str, ...], ImageDataset] | None:
    """The class names of the first labelled folder that names one class for each of the model's, with it."""
    for dataset in (d for d in datasets if d is not None):
        names = folder_names(dataset)
        if names is not None and len(names) == num_classes:
            return names, dataset
    return None
