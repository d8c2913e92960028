"""Typed errors the engine raises; each message is written for the person who has to act on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotation only: errors stay the foundation layer
    from .precision.convert import ConversionReport


class EngineError(Exception):
    """Base class: the message is shown to the user as is."""


class ModelError(EngineError):
    """The model file cannot be read, loaded or used for images."""


class ConversionError(EngineError):
    """A precision conversion failed or gave results outside the tolerance."""

    def __init__(self, message: str, report: ConversionReport | None = None):
        super().__init__(message)
        self.report = report
        """The failed conversion's report, for the JSON output and the panel."""


class ImageError(EngineError):
    """The image cannot be fed to the model (channels, size, values)."""


class RuntimeFailure(EngineError):
    """ONNX Runtime failed while running; the message carries advice."""


class Cancelled(EngineError):
    """The user cancelled; nothing partial was kept."""
