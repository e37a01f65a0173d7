"""Image datasets: ImageFolder, folder + labels.csv, or unlabeled folder.

Problems never stop a run: files that are not images, cannot be decoded, are over
Pillow's pixel limit, or are listed but missing or outside the folder are skipped,
counted and reported with their reason.
"""

from __future__ import annotations

import csv
import random
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import DatasetError
from core.jobs import Progress, silent

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from core.model import ModelCard

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})
LABELS_FILE = "labels.csv"


@dataclass(frozen=True)
class Preprocessing:
    """Evaluation preprocessing from a model card: resize short side, centre-crop, normalise."""

    input_size: int = 224
    resize_size: int = 256
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @classmethod
    def for_card(cls, card: ModelCard) -> Preprocessing:
        return cls(card.input_size, card.resize_size, card.mean, card.std)

    @property
    def decode_min_side(self) -> int:
        """The short side a decoded image must keep: the resize shrinks it to exactly this anyway."""
        return self.resize_size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        from torchvision.transforms import functional as F

        image = F.resize(image, self.resize_size, antialias=True)
        image = F.center_crop(image, [self.input_size, self.input_size])
        return F.normalize(F.to_tensor(image), list(self.mean), list(self.std))


class TrainPreprocessing:
    """Training augmentation: random resized crop and horizontal flip, seeded for reproducible runs."""

    def __init__(self, input_size: int, mean: tuple[float, ...], std: tuple[float, ...], seed: int = 0,
                 min_area: float = 0.25) -> None:
        self.input_size, self.mean, self.std, self.min_area = input_size, mean, std, min_area
        self.random = random.Random(seed)

    @property
    def decode_min_side(self) -> int:
        """The short side a decoded image must keep: the smallest crops span about half of it."""
        return 2 * self.input_size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        import math

        from torchvision.transforms import functional as F

        width, height = image.size
        for _ in range(10):
            area = width * height * self.random.uniform(self.min_area, 1.0)
            aspect = math.exp(self.random.uniform(math.log(3 / 4), math.log(4 / 3)))
            w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                top, left = self.random.randint(0, height - h), self.random.randint(0, width - w)
                break
        else:
            side = min(width, height)
            w = h = side
            top, left = (height - side) // 2, (width - side) // 2
        image = F.resized_crop(image, top, left, h, w, [self.input_size, self.input_size], antialias=True)
        if self.random.random() < 0.5:
            image = F.hflip(image)
        return F.normalize(F.to_tensor(image), list(self.mean), list(self.std))


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int | None


@dataclass
class ImageDataset:
    root: Path
    kind: str  # imagefolder | labels_csv | unlabeled
    samples: list[Sample]
    class_names: tuple[str, ...] = ()
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def labeled(self) -> bool:
        return self.kind != "unlabeled"

    def __len__(self) -> int:
        return len(self.samples)

    def __getstate__(self) -> dict[str, Any]:
        """Sent to a child process (an isolated export) without its lock; it gets a lock of its own."""
        return {name: value for name, value in self.__dict__.items() if name != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def subset(self, limit: int | None, seed: int = 0) -> ImageDataset:
        """A deterministic random subset of `limit` samples (kept in file order)."""
        if limit is None or limit >= len(self.samples):
            return self
        if limit < 1:
            raise DatasetError(f"limit must be at least 1, got {limit}")
        chosen = sorted(random.Random(seed).sample(range(len(self.samples)), limit))
        return replace(self, samples=[self.samples[i] for i in chosen], skipped=list(self.skipped))

    def shuffled(self, seed: int) -> ImageDataset:
        order = list(range(len(self.samples)))
        random.Random(seed).shuffle(order)
        return replace(self, samples=[self.samples[i] for i in order], skipped=self.skipped)

    def summary(self) -> str:
        text = f"{len(self)} images ({self.kind}) in {self.root}"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            text += "; skipped " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        return text

    def _skip(self, path: Path, reason: str) -> None:
        with self._lock:
            self.skipped.append((str(path), reason))

    def load(self, sample: Sample, preprocess: Preprocessing | TrainPreprocessing) -> torch.Tensor | None:
        """The preprocessed image, or None (recorded as skipped) when it cannot be decoded."""
        from PIL import Image

        try:
            return preprocess(read_rgb(sample.path, preprocess.decode_min_side))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            self._skip(sample.path, "too large")
            return None
        except (OSError, ValueError, SyntaxError) as exc:
            self._skip(sample.path, f"unreadable image ({type(exc).__name__})")
            return None

    def batches(
        self,
        preprocess: Preprocessing | TrainPreprocessing,
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images N×3×H×W, labels N) batches; labels are -1 when unlabeled.

        The next batch is decoded on a helper thread while the caller runs the
        current one (PIL and torch release the GIL), which hides most decoding time.
        """
        import torch

        progress = progress or silent()
        if batch_size < 1:
            raise DatasetError(f"batch size must be at least 1, got {batch_size}")
        chunks = [self.samples[i : i + batch_size] for i in range(0, len(self.samples), batch_size)]

        def decode(chunk: list[Sample]) -> tuple[list[torch.Tensor], list[int]]:
            loaded = [(self.load(s, preprocess), s.label) for s in chunk]
            images = [x for x, _ in loaded if x is not None]
            labels = [-1 if y is None else y for x, y in loaded if x is not None]
            return images, labels

        done = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
            pending: Future | None = pool.submit(decode, chunks[0]) if chunks else None
            for index in range(len(chunks)):
                assert pending is not None
                images, labels = pending.result()
                pending = pool.submit(decode, chunks[index + 1]) if index + 1 < len(chunks) else None
                done += len(chunks[index])
                progress(done / len(self.samples), f"images {done}/{len(self.samples)}")
                if images:
                    yield torch.stack(images), torch.tensor(labels, dtype=torch.long)


def read_rgb(path: Path, min_side: int | None = None) -> Image.Image:
    """Any PIL-readable image as 8-bit RGB: grayscale, CMYK and 16-bit or float pixels converted, transparency
    composed on white.

    With `min_side`, an image of more than 4 Mpx whose short side is at least twice that is decoded reduced by a
    whole factor that keeps its short side >= `min_side`, so it costs megabytes, not a gigabyte; other images
    decode exactly as without it. Images over Pillow's pixel limit raise DecompressionBombError.
    """
    from PIL import Image

    with Image.open(path) as opened:
        _check_pixel_limit(opened)
        if min_side and _reduction(opened.size, min_side) > 1:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale for free, keeping both sides >= min_side; other formats ignore it.
            opened.draft("RGB", (min_side, min_side))
        opened.load()
        image = _eight_bit(opened)
        image = image.convert("RGBA") if image.mode in ("P", "PA") else image
        factor = _reduction(image.size, min_side)
        if factor > 1:
            # Box-average what the decoder did not shrink, before any conversion copies the full-size pixels.
            image = (image.convert("L") if image.mode == "1" else image).reduce(factor)
        if image.mode in ("RGBA", "LA"):
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            return background
        return image.convert("RGB")


# Images up to this many pixels decode in full, exactly as the preprocessing expects (ImageNet-sized photos
# lose accuracy when JPEG's draft mode shrinks them); only larger ones are decoded reduced.
REDUCE_ABOVE_PIXELS = 2048 * 2048


def _reduction(size: tuple[int, int], min_side: int | None) -> int:
    """The largest whole factor a huge image of `size` can shrink by with its short side staying >= `min_side`."""
    if not min_side or size[0] * size[1] <= REDUCE_ABOVE_PIXELS:
        return 1
    return max(1, min(size) // min_side)


def _eight_bit(image: Image.Image) -> Image.Image:
    """`image` with 16-bit or float grayscale scaled to 8-bit "L"; other modes unchanged.

    Pillow's convert() clips such pixels at 255 instead of scaling them, so they came out near-white. 16-bit RGB(A)
    needs nothing here: Pillow already opens it as 8-bit "RGB"/"RGBA".
    """
    import numpy as np
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode == "I":
        # "I" holds 0..65535 too: Pillow widens 16-bit data to it (e.g. PGM/PPM with maxval > 255 are scaled there).
        values = (np.clip(np.asarray(image).astype(np.int32), 0, 65535) + 128) // 257
    elif image.mode == "F":
        # Float images carry no range, so guess it from the peak: [0, 1] (the usual convention), else 8-bit, else
        # 16-bit. This judges each image alone; it cannot tell a dim 16-bit image from an 8-bit one.
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        peak = values.max(initial=0.0)
        values = np.rint(values * (255.0 if peak <= 1 else 1.0 if peak <= 255 else 1 / 257))
    else:
        return image
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")


def _check_pixel_limit(image: Image.Image) -> None:
    """Raise DecompressionBombError over Pillow's pixel limit.

    Image.open only warns between the limit and twice it, but decoding such an image costs gigabytes of memory.
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        raise Image.DecompressionBombError(f"{image.width}x{image.height} pixels is over Pillow's limit of {limit}")


def _looks_like_image(path: Path) -> str | None:
    """None if `path` has an image header, else the reason to skip it."""
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return "not an image file"
    if not path.is_file():  # a FIFO would hang the read for ever; a device or socket is no image either
        return "not a regular file"
    try:
        with Image.open(path) as image:  # parses the header only
            _check_pixel_limit(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "too large"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return "unreadable image"
    return None


def _scan_images(folder: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    images = []
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.name.startswith(".") or path.name == LABELS_FILE:
            continue
        reason = _looks_like_image(path)
        if reason:
            skipped.append((str(path), reason))
        else:
            images.append(path)
    return images


def open_dataset(
    root: str | Path,
    *,
    num_classes: int | None = 1000,
    kind: str = "auto",
    limit: int | None = None,
    seed: int = 0,
) -> ImageDataset:
    """Open a data folder.

    kind "auto" picks `labels_csv` if the folder has labels.csv, `imagefolder` if it
    has class sub-folders, else `unlabeled`. With 1000 classes, ImageNet WordNet-id
    folders map to torchvision's class indices; other folders are numbered in sorted
    order and must not outnumber the model's classes.
    """
    root = Path(root).expanduser()
    if root.is_file():
        raise DatasetError(f"{root} is a file, not a folder of images")
    if not root.is_dir():
        raise DatasetError(f"data folder not found: {root}")
    labels = root / LABELS_FILE
    if labels.exists() and not labels.is_file():
        raise DatasetError(f"{labels} is not a regular file (a pipe, device or socket); replace it with a CSV file")
    subdirs = _class_folders(root)
    if kind == "auto":
        kind = "labels_csv" if (root / LABELS_FILE).is_file() else "imagefolder" if subdirs else "unlabeled"
    skipped: list[tuple[str, str]] = []
    if kind == "labels_csv":
        samples, named = _labels_csv_samples(root, num_classes, skipped)
        class_names = _named_classes(named, num_classes) or _class_names(num_classes)
    elif kind == "imagefolder":
        samples, class_names = _imagefolder_samples(root, subdirs, num_classes, skipped)
    elif kind == "unlabeled":
        samples = [Sample(p, None) for p in _scan_images(root, skipped)]
        class_names = ()
    else:
        raise DatasetError(f"unknown dataset kind {kind!r}; use auto, imagefolder, labels_csv or unlabeled")
    if not samples:
        detail = f" ({len(skipped)} files skipped: {skipped[0][1]}, ...)" if skipped else ""
        raise DatasetError(f"no usable images in {root}{detail}")
    return ImageDataset(root, kind, samples, class_names, skipped).subset(limit, seed)


def combine_datasets(datasets: list[ImageDataset]) -> ImageDataset:
    """Several folders as one set (`--train A --train B`): labelled only if every folder is.

    Its `root` names every folder, joined by " + ", for messages and to tell runs apart; each sample keeps
    its own path and label.
    """
    if len(datasets) == 1:
        return datasets[0]
    kinds = {d.kind for d in datasets}
    kind = "unlabeled" if "unlabeled" in kinds else kinds.pop() if len(kinds) == 1 else "combined"
    return ImageDataset(
        root=Path(" + ".join(str(d.root) for d in datasets)),
        kind=kind,
        samples=[sample for d in datasets for sample in d.samples],
        class_names=next((d.class_names for d in datasets if d.class_names), ()),
        skipped=[item for d in datasets for item in d.skipped],
    )


def _class_names(num_classes: int | None) -> tuple[str, ...]:
    if num_classes == 1000:
        from core.data.classes import imagenet_classes

        return imagenet_classes().names
    return ()


def _named_classes(named: dict[int, str], num_classes: int | None) -> tuple[str, ...]:
    """The class names a labels.csv `name` column gives, in label order, when it names every class; else ()."""
    count = num_classes if num_classes is not None else max(named, default=-1) + 1
    return tuple(named[label] for label in range(count)) if named and all(i in named for i in range(count)) else ()


def _labels_csv_samples(root: Path, num_classes: int | None, skipped: list[tuple[str, str]]
                        ) -> tuple[list[Sample], dict[int, str]]:
    """The listed images, and the class names of an optional `name` column (label → name)."""
    samples: list[Sample] = []
    named: dict[int, str] = {}
    folder = root.resolve()
    try:
        with open(root / LABELS_FILE, newline="", encoding="utf-8-sig") as fh:  # a spreadsheet's BOM is no column
            reader = csv.DictReader(fh)
            rows, header = list(reader), reader.fieldnames or []
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {root / LABELS_FILE}: {exc}") from exc
    if not {"file", "label"} <= set(header):
        raise DatasetError(f"{root / LABELS_FILE} needs a header with 'file' and 'label' columns")
    for line, row in enumerate(rows, start=2):
        path = root / (row.get("file") or "")
        try:
            label = int(row.get("label") or "")
        except ValueError:
            raise DatasetError(f"{LABELS_FILE} line {line}: label {row.get('label')!r} is not an integer") from None
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise DatasetError(f"{LABELS_FILE} line {line}: label {label} is outside 0..{(num_classes or 1) - 1}")
        name = (row.get("name") or "").strip()
        if name and named.setdefault(label, name) != name:
            raise DatasetError(f"{LABELS_FILE} line {line}: label {label} is named {name!r} here and "
                               f"{named[label]!r} before; give each label one name")
        if not _inside(path, folder):
            reason: str | None = "outside the data folder"
        elif not path.exists():
            reason = "listed in labels.csv but missing"
        else:
            reason = _looks_like_image(path)
        if reason:
            skipped.append((str(path), reason))
        else:
            samples.append(Sample(path, label))
    return _distinct(samples, skipped), named


def _distinct(samples: list[Sample], skipped: list[tuple[str, str]]) -> list[Sample]:
    """Each image once: a duplicate row, or a hard or symbolic link to an image already listed, would count as an
    independent image in n and narrow the interval for nothing."""
    seen: dict[tuple[int, int], Path] = {}
    kept = []
    for sample in samples:
        try:
            info = sample.path.stat()
        except OSError:
            kept.append(sample)
            continue
        first = seen.setdefault((info.st_dev, info.st_ino), sample.path)
        if first is sample.path:
            kept.append(sample)
        else:
            skipped.append((str(sample.path), f"the same file as {first.name}"))
    return kept


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path`, symlinks followed, lies in the resolved `folder`: a labels.csv must not make us read
    "../../etc/passwd", an absolute path or a link out of the folder."""
    try:
        return path.resolve().is_relative_to(folder)
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13) cannot be shown to be inside
        return False


# Folders that operating systems, archivers and NAS boxes add beside the user's own: never a class.
SYSTEM_FOLDERS = {"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information", "lost+found", "__pycache__"}


def _class_folders(root: Path) -> list[Path]:
    """The class sub-folders: hidden, system and empty folders are not classes (an empty `__MACOSX/` renumbered
    every class of a 1,000-class folder)."""
    found = []
    for path in sorted(root.iterdir()):
        name = path.name.strip()
        if not path.is_dir() or name.startswith(".") or name in SYSTEM_FOLDERS or not any(path.iterdir()):
            continue
        found.append(path)
    return found


def _imagefolder_samples(
    root: Path, subdirs: list[Path], num_classes: int | None, skipped: list[tuple[str, str]]
) -> tuple[list[Sample], tuple[str, ...]]:
    from core.data.classes import imagenet_classes

    names = [d.name.strip() for d in subdirs]  # a name ending in "\r" (a list written on Windows) is still its class
    imagenet = imagenet_classes()
    wnid_index = imagenet.index_of_wnid()
    known = [n for n in names if n in wnid_index]
    if num_classes == 1000 and len(known) == len(names):
        index = {n: wnid_index[n] for n in names}
        class_names = imagenet.names
    elif num_classes == 1000 and 2 * len(known) > len(names):
        odd = sorted(repr(d.name) for d, n in zip(subdirs, names, strict=True) if n not in wnid_index)
        raise DatasetError(f"{root} has ImageNet class folders (WordNet ids) and {len(odd)} that are not: "
                           f"{', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''}; remove or rename them, or every "
                           "class would be numbered by position")
    else:
        if num_classes is not None and len(names) > num_classes:
            raise DatasetError(f"{root} has {len(names)} class folders but the model predicts {num_classes} classes")
        index = {n: i for i, n in enumerate(names)}
        class_names = tuple(names)
    samples = [Sample(p, index[n]) for d, n in zip(subdirs, names, strict=True) for p in _scan_images(d, skipped)]
    return _distinct(samples, skipped), class_names


def positional_labels(dataset: ImageDataset) -> bool:
    """The labels are the class folders' positions in sorted order, not ImageNet classes: say so where they
    are scored, since a model trained with another order scores 0 %."""
    return dataset.kind == "imagefolder" and dataset.class_names != _class_names(1000)
