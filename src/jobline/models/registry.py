"""Finding model classes: every entry point of group ``jobline.models``, or one by its path."""

from __future__ import annotations

import importlib
import inspect
import logging
from importlib.metadata import entry_points

from jobline.errors import UnknownModel
from jobline.models.base import ModelCode

GROUP = "jobline.models"

log = logging.getLogger(__name__)


def discover() -> dict[str, type[ModelCode]]:
    """Every installed model class, by identifier.

    A broken entry point is skipped with a warning, so one bad plug-in cannot take the
    others down with it.
    """
    found: dict[str, type[ModelCode]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = _checked(ep.load(), ep.value)
        except Exception:  # import-time errors of third-party code can be of any kind
            log.warning("skipping model entry point %r (%s)", ep.name, ep.value, exc_info=True)
            continue
        if cls.identifier in found and found[cls.identifier] is not cls:
            log.warning(
                "skipping model entry point %r (%s): identifier %r is taken by %s",
                ep.name,
                ep.value,
                cls.identifier,
                found[cls.identifier].model_version().entry_point,
            )
            continue
        found[cls.identifier] = cls
    return found


def load_class(entry_point: str) -> type[ModelCode]:
    """The model class named by `entry_point`, written ``"package.module:QualName"``."""
    module_name, _, qualname = entry_point.partition(":")
    if not module_name or not qualname:
        raise UnknownModel(
            f"entry_point {entry_point!r} is not of the form 'package.module:Class'",
            entry_point=entry_point,
        )
    try:
        obj: object = importlib.import_module(module_name)
        for attr in qualname.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownModel(
            f"entry_point {entry_point!r} cannot be loaded: {exc}", entry_point=entry_point
        ) from exc
    return _checked(obj, entry_point)


def _checked(obj: object, entry_point: str) -> type[ModelCode]:
    if not (isinstance(obj, type) and issubclass(obj, ModelCode)) or inspect.isabstract(obj):
        raise UnknownModel(
            f"entry_point {entry_point!r} names {obj!r}; it must be a concrete ModelCode subclass",
            entry_point=entry_point,
        )
    return obj
