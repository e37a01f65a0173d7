"""Build zoo models with their weights, and load users' model files safely."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ModelLoadError, SpecError, UntrustedPickleError, WeightsUnavailableError, first_line
from core.formats import ModelFormat
from core.jobs import Progress, silent
from core.model import LoadedModel, ModelCard
from core.zoo.archive import check_archive
from core.zoo.registry import ARCHITECTURES, ModelSpec
from core.zoo.weights import (
    UNTRAINED,
    KnownWeightFile,
    WeightsInfo,
    download_torchvision_weights,
    find_local_weights,
    identify_weight_file,
    torchvision_weights_entry,
)

WEIGHT_CHOICES = ("auto", "pretrained", "none")


def class_names_for(num_classes: int) -> tuple[str, ...]:
    """The names a model is shown with until it is given its own: ImageNet's for 1,000 classes, else "class i"."""
    from core.data.labels import placeholder_names

    if num_classes == 1000:
        from core.data.classes import imagenet_classes

        return imagenet_classes().names
    return placeholder_names(num_classes)


def create_model(spec: ModelSpec, weights: str = "auto", progress: Progress | None = None) -> LoadedModel:
    """Build `spec` with `weights`: "pretrained", "none" (untrained), "auto" (pretrained if any
    exists, else untrained), or a path to a state-dict file for this architecture."""
    progress = progress or silent()
    progress(0.0, f"building {spec}")
    if weights not in WEIGHT_CHOICES:
        return _with_state_dict_file(spec, Path(weights), progress)
    if weights == "none":
        return assemble_model(spec, spec.build(), UNTRAINED)
    try:
        return _with_pretrained(spec, progress)
    except WeightsUnavailableError:
        if weights == "pretrained":
            raise
        return assemble_model(spec, spec.build(), UNTRAINED)


def _with_pretrained(spec: ModelSpec, progress: Progress) -> LoadedModel:
    if spec.num_classes != 1000:
        raise WeightsUnavailableError("pretrained weights have 1000 ImageNet classes; use classes=1000")
    local = find_local_weights(spec.arch, spec.width)
    if local is not None:
        path, known = local
        spec = spec.replace(padding=known.padding)
        info = WeightsInfo("pretrained", known.label, str(path), known.license, known.sha256)
        return assemble_model(spec, load_state_dict_into(spec, read_state_dict(path), path.name)[0], info)
    entry = torchvision_weights_entry(spec.arch, spec.width)
    if entry is None:
        raise WeightsUnavailableError(
            f"no pretrained weights for {spec.arch} width {spec.width:g}: none in the weights folders "
            "(MNSTUDIO_WEIGHTS_DIR) and torchvision has none; use untrained weights or load a checkpoint"
        )
    path = download_torchvision_weights(spec.arch, spec.width, progress.span(0.0, 0.9))
    info = WeightsInfo("pretrained", f"ImageNet (torchvision {entry})", entry.url, "BSD-3-Clause (torchvision)")
    return assemble_model(spec, load_state_dict_into(spec, read_state_dict(path), path.name)[0], info)


def _with_state_dict_file(spec: ModelSpec, path: Path, progress: Progress) -> LoadedModel:
    known = identify_weight_file(path) if path.is_file() else None
    if known is not None:
        spec = spec.replace(padding=known.padding)
    module, pruned = load_state_dict_into(spec, read_state_dict(path), path.name)
    return assemble_model(spec, module, _file_weights(path, known), pruned=pruned)


def _file_weights(path: Path, known: KnownWeightFile | None) -> WeightsInfo:
    if known is None:
        return WeightsInfo("file", f"from {path.name}", str(path))
    return WeightsInfo("file", known.label, str(path), known.license, known.sha256)


def assemble_model(
    spec: ModelSpec, module: Any, weights: WeightsInfo, fmt: ModelFormat = ModelFormat.PYTORCH, path: str = "",
    pruned: bool = False,
) -> LoadedModel:
    card = ModelCard(
        title=spec.card.title + (f" {spec.width:g}×" if spec.width != 1.0 else ""),
        weights=weights,
        spec=spec,
        input_size=spec.resolution,
        crop_fraction=spec.crop,
        num_classes=spec.num_classes,
        format=fmt,
        path=path,
        pruned=pruned,
        class_names=class_names_for(spec.num_classes),
    )
    if pruned:
        card = replace(card, title=f"{card.title} pruned")
    return LoadedModel(card=card, module=module.eval())


def read_checkpoint(path: Path, trust_pickle: bool = False) -> Any:
    """`torch.load` that never unpickles code unless the user trusts the file."""
    import torch

    check_model_path(path)
    check_archive(path)
    try:
        with warnings.catch_warnings():
            # torch warns about any pickle protocol but 2 before it refuses or reads the file: noise here.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        # torch's safe unpickler refuses code ("Weights only load failed", naming the global or opcode it
        # refused); garbage bytes fail otherwise ("invalid load key").
        refused = _refused_by_safe_unpickler(str(exc))
        if refused and (zipfile.is_zipfile(path) or _starts_like_a_pickle(path)):
            raise UntrustedPickleError(
                f"{path.name} holds code, not just weights (pickled Python objects{refused}), which would run "
                "when loaded; save a state_dict instead, or pass --trust-pickle ('trust this file' in the studio) "
                "only if you made the file yourself"
            ) from exc
        raise ModelLoadError(f"{path.name} is not a readable PyTorch checkpoint ({first_line(exc)})") from exc
    # Garbage bytes fail inside torch's unpickler in many ways (a text file: KeyError on its memo).
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, AttributeError, ImportError, KeyError,
            IndexError, TypeError) as exc:
        raise ModelLoadError(
            f"{path.name} is not a readable PyTorch checkpoint (corrupt or truncated?): {first_line(exc)}"
        ) from exc


def _starts_like_a_pickle(path: Path) -> bool:
    """Pickles of protocol 2 and later open with the PROTO opcode; garbage bytes rarely do."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _refused_by_safe_unpickler(message: str) -> str:
    """What torch's weights-only unpickler refused, from its long message: ", e.g. posix.system"."""
    import re

    found = re.search(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)|Unsupported operand (\d+)", message)
    if not found:
        return ""
    name, operand = found.groups()
    return f" such as {name}" if name else f" in a pickle format torch refuses (opcode {operand})"


def read_state_dict(path: Path) -> dict[str, Any]:
    return extract_state_dict(read_checkpoint(path), path.name)


def extract_state_dict(obj: Any, name: str) -> dict[str, Any]:
    """The tensor dict inside a checkpoint: bare, or under a usual key; DataParallel prefixes removed."""
    import torch

    for key in ("state_dict", "model_state_dict", "model", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(f"{name} holds no state_dict (a dict of tensors); found {type(obj).__name__}")
    if all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def load_state_dict_into(spec: ModelSpec, state_dict: dict[str, Any], name: str) -> tuple[Any, bool]:
    """Build `spec` and load `state_dict` (strict). Pruned channel counts are rebuilt from the tensor
    shapes; returns (module, pruned)."""
    import torch

    from core.zoo.resize import fit_to_state_dict

    module = spec.build()
    pruned = fit_to_state_dict(module, state_dict)
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"{name} does not fit {spec}: {first_line(exc)}; let the studio infer the architecture "
            "by opening the file on its own"
        ) from exc
    if pruned:
        try:
            with torch.inference_mode():
                module(torch.zeros(1, 3, 64, 64))
        except RuntimeError as exc:
            raise ModelLoadError(
                f"{name} has the layers of {spec.card.title} but channel counts that do not chain together "
                f"(corrupt or hand-edited?): {first_line(exc)}"
            ) from exc
    return module, pruned


def _width_candidates(ratio: float) -> list[float]:
    grid = [round(0.1 + 0.05 * i, 2) for i in range(79)]
    return sorted(grid, key=lambda w: abs(w - ratio))


def _shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    import torch

    with torch.device("meta"):
        module = spec.card.builder(spec.width, spec.num_classes)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def infer_spec(state_dict: dict[str, Any], name: str = "checkpoint", **overrides: Any) -> ModelSpec:
    """The zoo architecture, width and class count whose parameters match `state_dict` exactly."""
    keys = set(state_dict)
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    for arch in ARCHITECTURES:
        reference = _shapes(ModelSpec(arch))
        if set(reference) != keys:
            continue
        classifier = [k for k in reference if k.startswith("classifier") and k.endswith("weight")][-1]
        num_classes = shapes[classifier][0]
        stem = "features.0.0.weight"
        ratio = shapes[stem][0] / reference[stem][0]
        for width in _width_candidates(ratio)[:12]:
            spec = ModelSpec(arch, width=width, num_classes=num_classes, **overrides)
            if _shapes(spec) == shapes:
                return spec
        # No width fits: a pruned network. The stock architecture is the template its layers are resized from.
        return ModelSpec(arch, num_classes=num_classes, **overrides)
    sample = ", ".join(sorted(keys)[:3])
    raise ModelLoadError(f"{name} is not a MobileNet from the zoo (its layers are {sample}, ...)")


def load_model_file(
    path: Path,
    *,
    trust_pickle: bool = False,
    resolution: int | None = None,
    padding: str | None = None,
    progress: Progress | None = None,
) -> LoadedModel:
    """Open a user's model: state_dict (.pth/.pt), TorchScript, torch.export (.pt2) or ONNX."""
    progress = progress or silent()
    path = Path(path)
    check_model_path(path)
    progress(0.0, f"opening {path.name}")
    kind = _detect_format(path)
    if kind is ModelFormat.ONNX:
        return _load_onnx(path)
    if kind is ModelFormat.TORCHSCRIPT:
        import torch

        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as exc:
            raise ModelLoadError(f"{path.name} is not a loadable TorchScript file: {first_line(exc)}") from exc
        return _foreign_module(module, path, ModelFormat.TORCHSCRIPT, resolution or 224)
    if kind is ModelFormat.PT2:
        from core.zoo.pt2_archive import load_exported_program

        try:
            module = load_exported_program(path, trust_pickle).module()
        except ModelLoadError:  # refused by the trust gate: it says why in its own words
            raise
        except Exception as exc:  # torch.export raises many types for foreign archives
            raise ModelLoadError(f"{path.name} is not a loadable torch.export program: {first_line(exc)}") from exc
        return _foreign_module(module, path, ModelFormat.PT2, resolution or 224)
    obj = read_checkpoint(path, trust_pickle=trust_pickle)
    from torch import nn

    if isinstance(obj, nn.Module):
        return _foreign_module(obj, path, ModelFormat.PICKLE, resolution or 224)
    state_dict = extract_state_dict(obj, path.name)
    overrides: dict[str, Any] = {"resolution": resolution} if resolution else {}
    known = identify_weight_file(path)
    if padding or known:
        overrides["padding"] = padding or (known.padding if known else "torch")
    spec = infer_spec(state_dict, path.name, **overrides)
    module, pruned = load_state_dict_into(spec, state_dict, path.name)
    model = assemble_model(spec, module, _file_weights(path, known), ModelFormat.PYTORCH, str(path), pruned=pruned)
    if known is None:  # a user's own model is named after its file (variants and exports after it), not "MobileNetV2"
        model.card = replace(model.card, title=path.stem + (" pruned" if pruned else ""))
    return model


MODEL_SUFFIXES = (".pth", ".pt", ".pt2", ".onnx", ".ckpt", ".bin")


def check_model_path(path: Path) -> None:
    """A clear refusal for what is not a model file: a folder, a missing path, a device or pipe."""
    if path.is_dir():
        raise ModelLoadError(
            f"{path} is a folder, not a model file; give a model file inside it ({', '.join(MODEL_SUFFIXES[:4])}), "
            "a zoo name such as mobilenet_v2, or PROJECT_DIR:VARIANT"
        )
    if not path.exists():
        raise ModelLoadError(f"no such file: {path}")
    if not path.is_file():
        raise ModelLoadError(f"{path} is not a regular file (a device, pipe or socket); give a model file")


def _detect_format(path: Path) -> ModelFormat:
    """The format a file's name and contents show; PYTORCH for a torch.save checkpoint (a state_dict, or a
    pickled module that becomes PICKLE unless it is rebuilt as a zoo model)."""
    if path.suffix.lower() == ".onnx":
        return ModelFormat.ONNX
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
            return ModelFormat.TORCHSCRIPT
        if path.suffix.lower() == ".pt2" or any(n.endswith("archive_format") for n in names):
            return ModelFormat.PT2
    return ModelFormat.PYTORCH


def _foreign_module(module: Any, path: Path, fmt: ModelFormat, resolution: int) -> LoadedModel:
    """A module whose architecture the studio did not build: probe its output size with one forward."""
    import torch

    if not fmt.fixed_in_eval:
        module.eval()
    # Probed with two images: a module that always returns one row (or three) would otherwise be scored by
    # broadcasting one answer over a batch. A program exported for batch 1 is probed with one.
    batch = 1 if fmt.fixed_in_eval else 2
    try:
        with torch.inference_mode():
            out = module(torch.zeros(batch, 3, resolution, resolution))
    except Exception as exc:  # a user's module can raise anything
        raise ModelLoadError(
            f"{path.name} does not run on a {batch}×3×{resolution}×{resolution} batch: {first_line(exc)}"
        ) from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != batch:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelLoadError(f"{path.name} must return one row of logits per image (N×classes); for {batch} images "
                             f"it returned {shape}")
    from core.zoo.rebuild import rebuilt_as_zoo

    rebuilt = rebuilt_as_zoo(module, path, fmt, resolution, batch)
    if rebuilt is not None:
        return rebuilt
    num_classes = int(out.shape[1])
    card = ModelCard(
        title=f"{path.name}",
        weights=WeightsInfo("file", f"from {path.name}", str(path)),
        input_size=resolution,
        num_classes=num_classes,
        format=fmt,
        path=str(path),
        class_names=class_names_for(num_classes),
    )
    return LoadedModel(card=card, module=module)


def _load_onnx(path: Path) -> LoadedModel:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise ModelLoadError(f"{path.name} is not a valid ONNX model: {first_line(exc)}") from exc
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(inputs) != 1 or len(proto.graph.output) < 1:
        raise ModelLoadError(f"{path.name} must have one image input and a logits output")
    in_dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    out_dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    if len(in_dims) != 4 or in_dims[1] not in (0, 3):
        raise ModelLoadError(f"{path.name} takes input of shape {in_dims}; the studio expects N×3×H×W images")
    if len(out_dims) != 2:
        raise ModelLoadError(f"{path.name} returns output of shape {out_dims}; the studio expects N×classes logits")
    resolution = in_dims[2] or 224
    num_classes = out_dims[1] or 1000
    card = ModelCard(
        title=path.name,
        weights=WeightsInfo("file", f"from {path.name}", str(path)),
        input_size=resolution,
        num_classes=num_classes,
        format=ModelFormat.ONNX,
        path=str(path),
        class_names=class_names_for(num_classes),
    )
    return LoadedModel(card=card, onnx_path=path)


def resolve_model(
    text: str,
    weights: str = "auto",
    *,
    trust_pickle: bool = False,
    progress: Progress | None = None,
) -> LoadedModel:
    """A CLI/GUI model argument: a path to a model file, or a zoo spec such as `mobilenet_v1:width=0.5`."""
    path = Path(text).expanduser()
    if path.exists() or any(text.endswith(ext) for ext in (".pth", ".pt", ".pt2", ".onnx")):
        return load_model_file(path, trust_pickle=trust_pickle, progress=progress)
    try:
        spec = ModelSpec.parse(text)
    except SpecError as exc:
        raise SpecError(f"{text!r} is neither a file nor a zoo model: {exc}") from None
    return create_model(spec, weights, progress)
