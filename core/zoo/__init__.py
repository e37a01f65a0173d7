"""Model zoo: architectures with metadata cards, weight sources, and model loading."""

from core.zoo.registry import ARCHITECTURES, ArchCard, ModelSpec, get_arch

__all__ = ["ARCHITECTURES", "ArchCard", "ModelSpec", "get_arch"]
