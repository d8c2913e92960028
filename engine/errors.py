"""Typed errors the engine raises; each message is written for the person who has to act on it."""


class EngineError(Exception):
    """Base class: the message is shown to the user as is."""


class ModelError(EngineError):
    """The model file cannot be read, loaded or used for images."""


class ConversionError(EngineError):
    """A precision conversion failed or gave results outside the tolerance."""


class ImageError(EngineError):
    """The image cannot be fed to the model (channels, size, values)."""


class RuntimeFailure(EngineError):
    """ONNX Runtime failed while running; the message carries advice."""


class Cancelled(EngineError):
    """The user cancelled; nothing partial was kept."""
