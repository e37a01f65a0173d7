"""How a model is held, declared once: the form a loaded model has (`ModelFormat`, on its card) and the file a
project stores a variant as (`StoredFormat`), with the one mapping between them."""

from __future__ import annotations

from enum import StrEnum


class StoredFormat(StrEnum):
    """The file a project keeps a variant in (variant.json's "format")."""

    STATE_DICT = "state_dict"  # weights only, for an architecture the studio builds (model.pt)
    TORCHSCRIPT = "torchscript"
    PT2 = "pt2"
    ONNX = "onnx"


class ModelFormat(StrEnum):
    """What a loaded model is: a module the studio built (from a zoo spec, weights from a state_dict or rebuilt
    from a foreign file), or a foreign module or file it runs as it is."""

    PYTORCH = "pytorch"
    PICKLE = "pickle"  # a trusted pickled module that is no zoo architecture
    TORCHSCRIPT = "torchscript"
    PT2 = "pt2"  # a torch.export program
    ONNX = "onnx"

    @property
    def label(self) -> str:
        return {ModelFormat.PYTORCH: "PyTorch", ModelFormat.PICKLE: "pickled module",
                ModelFormat.TORCHSCRIPT: "TorchScript", ModelFormat.PT2: "torch.export",
                ModelFormat.ONNX: "ONNX"}[self]

    @property
    def stored_as(self) -> StoredFormat | None:
        """How a project stores a model of this format (None: it cannot be stored; a pickled module would need
        trusting again on every load)."""
        return {ModelFormat.PYTORCH: StoredFormat.STATE_DICT, ModelFormat.TORCHSCRIPT: StoredFormat.TORCHSCRIPT,
                ModelFormat.PT2: StoredFormat.PT2, ModelFormat.ONNX: StoredFormat.ONNX}.get(self)

    @property
    def fixed_in_eval(self) -> bool:
        """A torch.export program is traced in eval mode, refuses .eval(), and may be exported for batch 1."""
        return self is ModelFormat.PT2

    @property
    def reopens_without_trust(self) -> bool:
        """Its file can be opened again (by a measuring child process) without asking the user to trust it."""
        return self is not ModelFormat.PICKLE
