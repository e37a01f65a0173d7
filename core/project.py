"""A project folder holding variants: model file, recipe, metrics and parent link.

Layout:
    project.json                  name, format version, variant order
    variants/<id>/variant.json    card, spec, recipe, metrics, parent
    variants/<id>/model.pt        state_dict (loads with weights_only=True), or the
                                  user's original file for models the zoo did not build

    checkpoints/<parent id>-<run>/  resumable state of an interrupted fine-tune
    .lock                         held by whichever process is writing

Every write is atomic (temp file or temp folder, then rename), so a crash or a
full disk leaves the previous state readable. Ids and file names read from the JSON
are plain names that resolve inside their folders: nothing outside the project is
read or deleted.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ProjectError, StorageError, StudioError
from core.formats import ModelFormat, StoredFormat
from core.metrics.stored import VariantMetrics
from core.model import LoadedModel
from core.storage import atomic_write_text, check_free_space, read_json, torch_bytes, write_bytes
from core.variant import VARIANT_FILE, Variant, check_file_name, check_variant_id

PROJECT_FORMAT = "mnstudio-project"
PROJECT_VERSION = 1
PROJECT_FILE = "project.json"
LOCK_FILE = ".lock"
LOCK_TIMEOUT_S = 120.0
STAGING_PREFIX = ".incoming-"
CHECKPOINTS = "checkpoints"


def inside(root: Path, *parts: str) -> Path:
    """`root/parts…`, refused unless it resolves to exactly that place inside `root`'s resolved folder: no
    component (`variants/`, a variant's folder, a file) may be a link leading elsewhere, in or out."""
    path = root.joinpath(*parts)
    if path.resolve() != root.resolve().joinpath(*parts):
        raise ProjectError(f"{Path(*parts)} in {root} leads outside the project through a link; refusing to use it")
    return path


def _own_names(card: Any) -> tuple[str, ...]:
    """The card's class names when they are the model's own, not the default ones every model of its size gets."""
    from core.zoo.loading import class_names_for

    return card.class_names if card.class_names and card.class_names != class_names_for(card.num_classes) else ()


def model_fingerprint(model: LoadedModel) -> str:
    """A digest of a model's spec (resolution and padding change what it computes) and every tensor."""
    import hashlib

    assert model.module is not None
    spec = json.dumps(model.card.spec.to_dict() if model.card.spec else None, sort_keys=True)
    return hashlib.sha256(f"{spec}:{weights_fingerprint(model.module)}".encode()).hexdigest()[:24]


def weights_fingerprint(module: Any) -> str:
    """A digest of every tensor of a module's state_dict: the same weights give the same fingerprint."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        if hasattr(tensor, "detach"):
            value = tensor.detach()
            value = value.int_repr() if value.is_quantized else value
            digest.update(value.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def _empty_or_half_made(root: Path) -> bool:
    """Nothing in `root` but what a creation killed before its index was written leaves behind."""
    if not root.exists():
        return True
    for entry in root.iterdir():
        leftover = entry.name == LOCK_FILE or entry.name.endswith(".tmp")
        if not (leftover or (entry.name == "variants" and entry.is_dir() and not any(entry.iterdir()))):
            return False
    return True


class Project:
    """An open project folder. Create with `Project.create`, reopen with `Project.open`.

    Several processes (two `mnstudio compress` runs, the studio and a script) may write to one
    project: every change takes the project's file lock, re-reads the index and the variant it
    changes, and writes them back before the lock is released, so no writer loses another's work.
    """

    def __init__(self, root: Path, name: str, variants: list[Variant], problems: list[str]) -> None:
        self.root = root
        self.name = name
        self.variants = variants
        self.problems = problems  # variants that could not be read when opening
        # Ids in the index whose variant could not be read: kept in the index, so repairing a
        # variant.json by hand brings the variant back, and no write of ours drops it for good.
        self._unreadable: list[str] = []

    @classmethod
    def create(cls, root: str | Path, name: str | None = None) -> Project:
        root = Path(root).expanduser()
        if (root / PROJECT_FILE).exists():
            raise ProjectError(f"{root} already holds a project; open it instead")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} is a file, not a folder; choose a new or empty folder for the project")
        if root.exists() and any(root.iterdir()):
            raise ProjectError(f"{root} is not empty; choose an empty or new folder for a project")
        try:
            (root / "variants").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create a project in {root}: {exc.strerror or exc}") from exc
        project = cls(root, name or root.name, [], [])
        with project._locked():
            project._save_index()
        return project

    @staticmethod
    def check_location(root: str | Path) -> None:
        """Refuse, before any work, a folder `open_or_create` could not use: a file, or a folder of other things."""
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} is a file, not a folder; choose another project folder")
        if not (root / PROJECT_FILE).exists() and not _empty_or_half_made(root):
            raise ProjectError(f"{root} is not empty and holds no project; choose an empty or new folder")

    @classmethod
    def open_or_create(cls, root: str | Path) -> Project:
        """The project in `root`, created if the folder is new or empty (safe when two runs start at once)."""
        root = Path(root).expanduser()
        cls.check_location(root)
        if (root / PROJECT_FILE).exists():
            return cls.open(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create a project in {root}: {exc.strerror or exc}") from exc
        project = cls(root, root.name, [], [])
        with project._locked():  # whoever takes the lock first creates it; the other opens it
            if (root / PROJECT_FILE).exists():
                return cls.open(root)
            if not _empty_or_half_made(root):
                raise ProjectError(f"{root} is not empty and holds no project; choose an empty or new folder")
            (root / "variants").mkdir(exist_ok=True)
            project._save_index()
        return project

    @classmethod
    def open(cls, root: str | Path) -> Project:
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} is a file, not a studio project folder")
        name, ids = cls._read_index(root)
        variants, problems = [], []
        for variant_id in ids:
            try:
                variants.append(cls._read_variant(root, variant_id))
            except (OSError, ValueError, KeyError, TypeError, StudioError) as exc:
                problems.append(f"variant {variant_id!r} is unreadable and was left out: {exc}")
        project = cls(root, name, variants, problems)
        project._unreadable = [i for i in ids if isinstance(i, str) and i not in {v.id for v in variants}]
        return project

    @staticmethod
    def _read_index(root: Path) -> tuple[str, list[str]]:
        index_path = inside(root, PROJECT_FILE)
        try:
            index = read_json(index_path)
        except FileNotFoundError:
            raise ProjectError(f"{root} is not a studio project (no {PROJECT_FILE})") from None
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{index_path} is unreadable or corrupt: {exc}") from exc
        if not isinstance(index, dict) or index.get("format") != PROJECT_FORMAT:
            raise ProjectError(f"{index_path} is not a studio project file")
        version = index.get("version", 0)
        if not isinstance(version, int):
            raise ProjectError(f"{index_path} has a version that is not a number: {version!r}")
        if version > PROJECT_VERSION:
            raise ProjectError(f"{root} was written by a newer studio (format {version}); update the studio")
        ids = index.get("variants", [])
        name = index.get("name", root.name)
        if not isinstance(ids, list) or not isinstance(name, str):
            raise ProjectError(f"{index_path} is corrupt: 'variants' must be a list and 'name' a string")
        return name, ids

    @staticmethod
    def _read_variant(root: Path, variant_id: Any) -> Variant:
        path = inside(root, "variants", check_variant_id(variant_id), VARIANT_FILE)
        variant = Variant.from_dict(read_json(path))
        if variant.id != variant_id:
            raise ProjectError(f"its {VARIANT_FILE} names another id ({variant.id!r})")
        return variant

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the project's file lock; no other writer changes the project meanwhile."""
        from filelock import FileLock, Timeout

        try:
            lock = FileLock(self.path(LOCK_FILE), timeout=LOCK_TIMEOUT_S)
            lock.acquire()
        except Timeout:
            raise ProjectError(
                f"{self.root} stayed locked by another run for {LOCK_TIMEOUT_S:.0f} s; try again when it has finished"
            ) from None
        except OSError as exc:
            raise ProjectError(f"cannot lock {self.root} for writing: {exc.strerror or exc}") from exc
        try:
            self._remove_stale_staging()
            yield
        finally:
            lock.release()

    def _remove_stale_staging(self) -> None:
        """Staging folders left by a killed writer (every live writer holds the lock while it stages)."""
        variants = self.root / "variants"
        if not self._own_folder(variants):
            return
        for stale in variants.glob(STAGING_PREFIX + "*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)

    def _own_folder(self, folder: Path) -> bool:
        """`folder` is a real folder directly inside the project (not a symlink to somewhere else)."""
        return folder.is_dir() and not folder.is_symlink() and folder.resolve().parent == self.root.resolve()

    def path(self, *parts: str) -> Path:
        """A place inside the project (a variant's folder, `exports/`, `graphs/`): refused where a link along
        the way leads anywhere but that place, so nothing is read, written or deleted outside the project."""
        return inside(self.root, *parts)

    def checked(self, path: Path) -> Path:
        """`path` itself; where it lies inside the project (the default exports folder), refused as `path` does
        when a link along it leads elsewhere."""
        try:
            relative = path.absolute().relative_to(self.root.absolute())
        except ValueError:
            return path  # a folder the user chose outside the project is theirs to choose
        return self.path(*relative.parts)

    def _refresh(self) -> None:
        """Re-read the index under the lock: variants other writers added or deleted since we read it."""
        self.name, ids = self._read_index(self.root)
        known = {v.id: v for v in self.variants}
        fresh, self._unreadable = [], []
        for variant_id in ids:
            try:
                fresh.append(self._read_variant(self.root, variant_id))
            except (OSError, ValueError, KeyError, TypeError, StudioError):
                if not isinstance(variant_id, str):
                    continue
                self._unreadable.append(variant_id)
                if variant_id in known:
                    fresh.append(known[variant_id])
        self.variants = fresh

    def _save_index(self) -> None:
        readable = {v.id for v in self.variants}
        index = {
            "format": PROJECT_FORMAT,
            "version": PROJECT_VERSION,
            "name": self.name,
            "variants": [v.id for v in self.variants] + [i for i in self._unreadable if i not in readable],
        }
        atomic_write_text(self.path(PROJECT_FILE), json.dumps(index, indent=2))

    def variant(self, variant_id: str) -> Variant:
        """A variant by id, or by name when exactly one variant has that name."""
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        named = [v for v in self.variants if v.name == variant_id]
        if len(named) > 1:
            ids = ", ".join(v.id for v in named)
            raise ProjectError(f"{len(named)} variants of project {self.name} are named {variant_id!r}; "
                               f"name one by its id ({ids})")
        if not named:
            unreadable = next((p for p in self.problems if f"variant {variant_id!r} " in p), None)
            raise ProjectError(unreadable or f"no variant {variant_id!r} in project {self.name}")
        return named[0]

    def lineage(self, variant_id: str) -> list[Variant]:
        """The variant's ancestors and itself, root first (a parent lost from the project ends the chain)."""
        chain = [self.variant(variant_id)]
        ids = {v.id for v in self.variants}
        while chain[-1].parent in ids and len(chain) <= len(self.variants):
            chain.append(self.variant(chain[-1].parent or ""))
        return chain[::-1]

    def find_by_fingerprint(self, fingerprint: str) -> Variant | None:
        """The stored variant with exactly these weights (a re-run's parent), if any."""
        return next((v for v in self.variants if fingerprint and v.fingerprint == fingerprint), None)

    def variant_dir(self, variant: Variant, *parts: str) -> Path:
        """The variant's own folder (or `parts` inside it); refused if it resolves anywhere but there."""
        try:
            return self.path("variants", check_variant_id(variant.id), *parts)
        except ProjectError:
            raise ProjectError(f"variant {variant.id!r} points outside the project folder; refusing it") from None

    def model_path(self, variant: Variant) -> Path:
        folder = self.variant_dir(variant)
        path = folder / check_file_name(variant.model_file)
        if path.resolve() != self.root.resolve() / path.relative_to(self.root):
            raise ProjectError(f"variant {variant.name}'s model file points outside its folder; refusing to load it")
        return path

    def checkpoints_dir(self, parent: Variant, key: str) -> Path:
        """Where a run from `parent` keeps resumable checkpoints; removed with the parent."""
        folder = self.root / CHECKPOINTS
        if folder.exists() and not self._own_folder(folder):
            raise ProjectError(f"{folder} points outside the project; remove the link to resume runs here")
        return self.path(CHECKPOINTS, f"{check_variant_id(parent.id)}-{key}")

    def remove_checkpoints(self, keep: tuple[Path, ...] = ()) -> None:
        """Remove checkpoint folders that no run can use any more: their parent is gone, or the run finished."""
        folder = self.root / CHECKPOINTS
        if not self._own_folder(folder):
            return  # a checkpoints folder linked elsewhere is never walked, let alone emptied
        ids = {v.id for v in self.variants}
        for entry in folder.iterdir():
            owner = entry.name.rsplit("-", 1)[0]
            if entry in keep or entry.is_symlink() or not entry.is_dir():
                continue
            # An entry with any file (a checkpoint, or one being written) belongs to a run that may resume.
            if owner not in ids or not any(p.is_file() for p in entry.rglob("*")):
                shutil.rmtree(entry, ignore_errors=True)

    def add_variant(
        self,
        model: LoadedModel,
        name: str,
        *,
        parent: str | None = None,
        recipe: dict[str, Any] | None = None,
        metrics: VariantMetrics | None = None,
        reuse_same_weights: bool = False,
    ) -> Variant:
        """Store `model` as a new variant (written to a temp folder, then renamed into place).

        `reuse_same_weights`: return the stored variant with exactly these weights instead, if there is one
        (a parent that a concurrent run stored meanwhile).
        """
        from core.zoo.quantized_store import storable_state_dict

        variant_id = uuid.uuid4().hex[:12]
        card = model.card
        fmt = card.format.stored_as
        if fmt is StoredFormat.STATE_DICT and card.spec is not None and model.module is not None:
            model_file = "model.pt"
        elif fmt is not None and fmt is not StoredFormat.STATE_DICT and card.path:
            model_file = "model" + Path(card.path).suffix.lower()  # the file itself, as it is
        else:
            raise ProjectError(f"{card.title} cannot be stored: save it as a state_dict, TorchScript, .pt2 or ONNX")
        as_weights = fmt is StoredFormat.STATE_DICT and model.module is not None
        fingerprint = model_fingerprint(model) if as_weights else ""
        try:
            # Serialized before taking the lock: the bytes are checked against the free space, and
            # torch's own file writer, which aborts the process on a full disk, never touches the disk.
            stored = storable_state_dict(model.module) if as_weights and model.module is not None else None
            payload = torch_bytes(stored) if stored is not None else None
        except OSError as exc:
            raise ProjectError(f"cannot write variant to {self.root}: {exc.strerror or exc}") from exc
        with self._locked():
            self._refresh()
            same = self.find_by_fingerprint(fingerprint) if reuse_same_weights else None
            if same is not None:
                return same
            if parent is not None:
                parent = self.variant(parent).id  # it may have been deleted by another writer meanwhile
            variant = Variant(
                variant_id, name, model_file, fmt, card.spec, card.weights, parent,
                recipe=recipe or {}, metrics=(metrics or VariantMetrics()).as_stored(),
                quantization=card.quantization, pruned=card.pruned,
                fingerprint=fingerprint, class_names=_own_names(card), mean=card.mean, std=card.std,
            )
            staging = self.path("variants", f"{STAGING_PREFIX}{variant_id}")
            try:
                size = len(payload) if payload is not None else Path(card.path).stat().st_size
                check_free_space(self.root, size, f"variant {name}")
                staging.mkdir(parents=True)
                if payload is not None:
                    write_bytes(staging / model_file, payload)
                else:
                    shutil.copyfile(card.path, staging / model_file)
                write_bytes(staging / VARIANT_FILE, json.dumps(variant.to_dict(), indent=2).encode())
                staging.rename(self.path("variants", variant_id))
            except (OSError, StorageError) as exc:
                shutil.rmtree(staging, ignore_errors=True)
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise ProjectError(f"cannot write variant to {self.root}: {detail}") from exc
            self.variants.append(variant)
            try:
                self._save_index()
            except StorageError:
                self.variants.remove(variant)
                shutil.rmtree(self.path("variants", variant_id), ignore_errors=True)
                raise
        return variant

    def _change_variant(self, variant_id: str, change: Any) -> Variant:
        """Apply `change(variant)` to the variant as stored now, under the lock, and write it back."""
        with self._locked():
            self._refresh()
            variant = self.variant(variant_id)
            change(variant)
            variant.metrics = variant.metrics.as_stored()  # what is held is what a reopen reads
            atomic_write_text(self.variant_dir(variant) / VARIANT_FILE, json.dumps(variant.to_dict(), indent=2))
        return variant

    def update_metrics(self, variant_id: str, **changes: Any) -> Variant:
        """Store `changes` (fields of VariantMetrics) over the variant's metrics as stored now; a paired latency is
        kept per runtime (one runtime's re-timing leaves the others)."""

        def update(variant: Variant) -> None:
            variant.metrics = variant.metrics.updated(**changes)

        return self._change_variant(variant_id, update)

    def rename(self, variant_id: str, name: str) -> Variant:
        if not name.strip():
            raise ProjectError("a variant name cannot be empty")

        def rename(variant: Variant) -> None:
            variant.name = name.strip()

        return self._change_variant(variant_id, rename)

    def delete(self, variant_id: str) -> None:
        with self._locked():
            self._refresh()
            variant = self.variant(variant_id)
            children = [v.name for v in self.variants if v.parent == variant.id]
            if children:
                raise ProjectError(f"{variant.name} has derived variants ({', '.join(children)}); delete those first")
            folder = self.variant_dir(variant)  # checked before anything changes
            self.variants.remove(variant)
            self._save_index()
            shutil.rmtree(folder, ignore_errors=True)
            self.remove_checkpoints()

    def load(self, variant_id: str) -> LoadedModel:
        """Re-create a stored variant as a runnable model."""
        from core.zoo.loading import assemble_model, load_model_file, load_state_dict_into, read_state_dict

        variant = self.variant(variant_id)
        path = self.model_path(variant)
        if variant.format is not StoredFormat.STATE_DICT:
            model = load_model_file(path)
        elif variant.quantization:
            model = self._load_quantized(variant, path)
        else:
            assert variant.spec is not None
            module, pruned = load_state_dict_into(variant.spec, read_state_dict(path), f"variant {variant.name}")
            model = assemble_model(variant.spec, module, variant.weights, ModelFormat.PYTORCH, str(path), pruned=pruned)
        if variant.class_names and len(variant.class_names) == model.card.num_classes:
            model.card = replace(model.card, class_names=variant.class_names)
        model.card = replace(model.card, mean=variant.mean, std=variant.std)
        return model

    def _load_quantized(self, variant: Variant, path: Path) -> LoadedModel:
        from core.zoo.loading import assemble_model, read_checkpoint
        from core.zoo.quantized_store import rebuild_quantized

        assert variant.spec is not None and variant.quantization is not None
        info = variant.quantization
        state_dict = read_checkpoint(path)
        try:
            module = rebuild_quantized(variant.spec, info, state_dict)
        except (RuntimeError, KeyError) as exc:
            raise ProjectError(
                f"variant {variant.name}'s int8 weights do not match its recorded layout: {exc}"
            ) from exc
        model = assemble_model(variant.spec, module, variant.weights, ModelFormat.PYTORCH, str(path))
        card = replace(model.card, title=variant.name, quantization=variant.quantization, pruned=variant.pruned)
        return LoadedModel(card=card, module=module)
