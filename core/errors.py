"""Errors the studio shows to users: each says what went wrong and what to do."""


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
