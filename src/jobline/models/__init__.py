"""Model code: the contract every model implements, the registry, and the built-in models."""

from jobline.models.base import ModelCode, ModelError, Result, read_text
from jobline.models.registry import discover, load_class

__all__ = ["ModelCode", "ModelError", "Result", "discover", "load_class", "read_text"]
