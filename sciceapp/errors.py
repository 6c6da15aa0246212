"""Exceptions a user can cause. Each message says what went wrong and what to do about it.

The CLI prints these without a traceback and exits non-zero; the GUI shows them in a dialog.
Anything else that escapes is a bug.
"""


class SciceappError(Exception):
    """Base of every error caused by input, files or the environment rather than by a bug."""

    exit_code = 2


class ModelError(SciceappError):
    """A model file or checkpoint is missing, unreadable, tampered with or of the wrong shape."""


class WeightsMissingError(ModelError):
    """Weights a command needs are not on this machine."""


class DownloadError(SciceappError):
    """A download failed or what arrived does not match what was expected."""


class ImageError(SciceappError):
    """A file is not an image we can decode (corrupt, truncated, too large, not an image)."""


class CollectionError(SciceappError):
    """A collection does not exist, already exists, or its files disagree."""


class DataFolderError(SciceappError):
    """The data folder cannot be used: not a folder, not writable, on a failing or full disk."""


class CollectionLockedError(CollectionError):
    """Another process is writing to the same collection."""


class DatasetError(SciceappError):
    """A training or evaluation dataset is missing or not laid out as expected."""


class GeotagError(SciceappError):
    """A photo's location cannot be written or undone: read-only file or medium, a format the
    writer cannot change in place, a file changed since sciceapp wrote it, a bad GPX track."""


class ClusterError(SciceappError):
    """A cluster run cannot start or its Ray job failed (``sciceapp cluster``); finished
    shards are kept."""


class CancelledError(SciceappError):
    """The user cancelled a long job. What was finished before is kept."""

    exit_code = 130
