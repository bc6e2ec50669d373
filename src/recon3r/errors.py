"""Errors that speak to the user: raised at boundaries (loading, parsing), caught by the CLI."""

from __future__ import annotations


class Recon3rError(ValueError):
    """Base class for user-facing errors (bad input files, configs, checkpoints)."""


class CheckpointError(Recon3rError):
    """A checkpoint is malformed, unsafe, or does not match the model."""


class ConfigError(Recon3rError):
    """A config or spec string is malformed or names something unknown."""


class ImageLoadError(Recon3rError):
    """An image file could not be read or has an unusable size."""


class OutputError(Recon3rError):
    """An output path cannot be used: a file where a folder is needed, an input, unwritable, or not empty."""


class Cancelled(Exception):
    """A run was cancelled by its caller (see `recon3r.utils.cancel`).

    Not a `Recon3rError`: nothing was wrong with the input, and code that catches bad-input
    errors (`ValueError`) must not swallow a cancellation.
    """


class Recon3rWarning(UserWarning):
    """Something ran, but not as the user may expect (the CLI prints it as one `warning:` line)."""
