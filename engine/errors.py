"""Typed errors the engine raises; each message is written for the person who has to act on it."""

from __future__ import annotations

from typing import Any, Protocol


class Report(Protocol):
    """What an error carries about a failed conversion (precision.convert.ConversionReport is one): described
    by its shape, so the foundation layer imports nothing above it."""

    @property
    def reason(self) -> str: ...

    @property
    def converter_failed(self) -> bool:
        """The converter or onnxruntime failed (a crash), rather than the accuracy check refusing the result."""
        ...

    def to_json(self) -> dict[str, Any]: ...


class EngineError(Exception):
    """Base class: the message is shown to the user as is."""


class ModelError(EngineError):
    """The model file cannot be read, loaded or used for images."""


class ConversionError(EngineError):
    """A precision conversion failed or gave results outside the tolerance."""

    def __init__(self, message: str, report: Report | None = None):
        super().__init__(message)
        self.report = report
        """The failed conversion's report, for the JSON output and the panel."""


class ImageError(EngineError):
    """The image cannot be fed to the model (channels, size, values)."""


class RuntimeFailure(EngineError):
    """ONNX Runtime failed while running; the message carries advice."""


class Cancelled(EngineError):
    """The user cancelled; nothing partial was kept."""
