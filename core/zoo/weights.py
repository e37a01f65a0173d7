"""Where pretrained weights come from: local files recognised by sha256, or torchvision downloads."""

from __future__ import annotations

import hashlib
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import WeightsUnavailableError
from core.jobs import Progress, silent

IMAGENET_LICENSE_NOTE = "ImageNet-trained: ImageNet's non-commercial research/education terms apply"


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from; shown on its card."""

    kind: str  # "pretrained" | "file" | "untrained"
    label: str
    source: str = ""
    license: str = ""
    sha256: str = ""

    @property
    def trained(self) -> bool:
        return self.kind != "untrained"


UNTRAINED = WeightsInfo(kind="untrained", label="untrained (random init)")


@dataclass(frozen=True)
class KnownWeightFile:
    """A weight file the studio recognises by content, with the architecture it needs."""

    sha256: str
    arch: str
    width: float
    padding: str
    label: str
    license: str


KNOWN_WEIGHT_FILES: tuple[KnownWeightFile, ...] = (
    KnownWeightFile(
        sha256="36ff291cc584f20ee95d7f8e665d3fcd2fa9d47190219455a8ff0f22f0407008",
        arch="mobilenet_v2", width=1.0, padding="torch",
        label="ImageNet (torchvision int8 QAT weights, de-quantised to fp32)",
        license=f"BSD-3-Clause (torchvision); {IMAGENET_LICENSE_NOTE}",
    ),
    KnownWeightFile(
        sha256="ab6fabf096c431907d29fc2adbb17c74a062fb78e9c0d086c8c3cd56dfb37ee1",
        arch="mobilenet_v3_small", width=1.0, padding="tf_same",
        label="ImageNet (TF-slim MobileNetV3-Small 1.0/224 uint8 release, de-quantised)",
        license=f"Apache-2.0 (TensorFlow models); {IMAGENET_LICENSE_NOTE}",
    ),
    KnownWeightFile(
        sha256="733a12b2e7a3ef0575822b53d3adcbe7b2bc24268144acac1df365129078c629",
        arch="mobilenet_v1", width=0.75, padding="tf_same",
        label="ImageNet (Keras Applications MobileNet alpha=0.75)",
        license=f"Apache-2.0 (Keras Applications); {IMAGENET_LICENSE_NOTE}",
    ),
)

_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def identify_weight_file(path: Path) -> KnownWeightFile | None:
    digest = file_sha256(path)
    return next((known for known in KNOWN_WEIGHT_FILES if known.sha256 == digest), None)


def local_weight_files() -> list[tuple[Path, KnownWeightFile]]:
    """Recognised weight files in the weights folders, in search order."""
    from core.paths import weights_dirs

    found = []
    for folder in weights_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in (".pth", ".pt") and path.is_file():
                known = identify_weight_file(path)
                if known is not None:
                    found.append((path, known))
    return found


def find_local_weights(arch: str, width: float) -> tuple[Path, KnownWeightFile] | None:
    return next(((p, k) for p, k in local_weight_files() if k.arch == arch and abs(k.width - width) < 1e-9), None)


def torchvision_weights_entry(arch: str, width: float) -> Any | None:
    """The torchvision `Weights` enum member for this architecture and width, if one exists."""
    from core.zoo.registry import get_arch

    name = get_arch(arch).torchvision_weights.get(width)
    if name is None:
        return None
    import torchvision.models

    enum_name, member = name.split(".")
    return getattr(getattr(torchvision.models, enum_name), member)


def download_torchvision_weights(arch: str, width: float, progress: Progress | None = None) -> Path:
    """Download (or reuse from torch's hub cache) torchvision's weights, verifying the hash in the name."""
    import torch.hub

    progress = progress or silent()
    entry = torchvision_weights_entry(arch, width)
    if entry is None:
        raise WeightsUnavailableError(f"torchvision has no pretrained weights for {arch} width {width:g}")
    url: str = entry.url
    target = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not target.exists():
        download_file(url, target, progress)
    return target


def download_file(url: str, target: Path, progress: Progress) -> None:
    """Stream `url` into `target` with progress; torchvision-style `-<sha256 prefix>.pth` names are checked."""
    from core.storage import atomic_write

    match = re.search(r"-([a-f0-9]{6,})\.", target.name)

    def fetch(tmp: Path) -> None:
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress(done / total if total else 0.0, f"downloading {target.name}: {done >> 20} MiB")
        except OSError as exc:
            raise WeightsUnavailableError(
                f"cannot download {url} ({exc}); without a network, put a weight file in the weights folder "
                "(MNSTUDIO_WEIGHTS_DIR) or use untrained weights"
            ) from exc
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise WeightsUnavailableError(f"downloaded {target.name} is corrupt (sha256 mismatch); try again")

    atomic_write(target, fetch)


def pretrained_source(arch: str, width: float) -> str | None:
    """Where pretrained weights for (arch, width) would come from, without loading them."""
    local = find_local_weights(arch, width)
    if local is not None:
        return str(local[0])
    entry = torchvision_weights_entry(arch, width)
    return entry.url if entry is not None else None
