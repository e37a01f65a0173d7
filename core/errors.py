"""Errors the studio shows to users: each says what went wrong and what to do."""

import re


class StudioError(Exception):
    """An expected failure with a message fit for a user (one line, actionable)."""


class ModelLoadError(StudioError):
    """A checkpoint or model file cannot be loaded."""


class UntrustedPickleError(ModelLoadError):
    """The file holds pickled Python objects, which can run code when loaded."""


class DatasetError(StudioError):
    """A data folder cannot be used as asked."""


class SpecError(StudioError):
    """A model specification (architecture, width, resolution, weights) is invalid."""


class WeightsUnavailableError(StudioError):
    """Pretrained weights were asked for but none can be found or downloaded."""


class ProjectError(StudioError):
    """A project folder cannot be read or written."""


class ExportError(StudioError):
    """A model cannot be exported as asked; the message names the reason and the alternative."""


class StorageError(StudioError):
    """A file cannot be written (permissions, a path that is a file, a failing disk)."""


class DiskFullError(StorageError):
    """A write would not fit on its disk (checked before writing, or reported by the OS)."""


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")


def plain(text: str) -> str:
    """`text` without terminal colour and cursor codes (a back end's error can carry them), for any window."""
    return _ANSI.sub("", text)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first meaningful line of an exception's message (a back end's can run to pages and open with a banner
    line ending in ':'), colour codes removed, or its type."""
    lines = [line.strip() for line in plain(str(exc)).splitlines() if line.strip()]
    useful = [line for line in lines if not line.endswith(":")] or lines
    return (useful[0] if useful else type(exc).__name__)[:limit]
