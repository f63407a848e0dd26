"""Modzy's model routes: the registered models, their versions, inputs, outputs and samples.

``GET /api/models`` takes the filters the Python SDK sends (``modelId``, ``name``,
``description`` as case-insensitive substrings; ``isActive``/``isExpired``, where every
registered model is active and none expired) with ``page``/``per-page``; a filter this server
cannot answer truthfully (author, dates, recommendations) is refused rather than ignored.
``GET /api/models/requirements/account`` answers ``[]``: jobline has no hardware plans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from jobline.api.auth import store_of
from jobline.api.modzy.render import (
    model_object,
    model_summary,
    sample_input,
    sample_output,
    version_object,
)
from jobline.api.modzy.wire import Caller, ModzyRoute
from jobline.core import jobs
from jobline.domain.ordering import invalid_query
from jobline.domain.records import Model, ModelVersion
from jobline.errors import InvalidRequest, NotFound, UnknownModel
from jobline.store import Store

router = APIRouter(route_class=ModzyRoute, tags=["Modzy dialect"])

MAX_PER_PAGE = 1000

_TEXT_FILTERS: dict[str, Callable[[Model], str]] = {
    "modelId": lambda model: model.identifier,
    "name": lambda model: model.name,
    "description": lambda model: model.description,
}
# What every registered model is, for the yes/no filters.
_FLAGS = {"isActive": True, "isExpired": False}
_SORTS: dict[str, Callable[[Model], str]] = {
    "modelId": lambda model: model.identifier,
    "identifier": lambda model: model.identifier,
    "name": lambda model: model.name.casefold(),
}
_PAGING = ("sort-by", "direction", "page", "per-page")
ACCEPTED = (*_TEXT_FILTERS, *_FLAGS, *_PAGING)


@router.get("/models", summary="Models (Modzy)")
def list_models(request: Request, _caller: Caller) -> list[dict[str, Any]]:
    """The models that match every filter given, as a bare array."""
    params = dict(request.query_params)
    unknown = sorted(set(params) - set(ACCEPTED))
    if unknown:
        raise InvalidRequest(
            f"parameter {unknown[0]!r} is not supported by this server; accepted: "
            + ", ".join(ACCEPTED),
            param=unknown[0],
            accepted=list(ACCEPTED),
        )
    found = [m for m in jobs.list_models(store_of(request)) if _matches(m, params)]
    found.sort(key=_sort_key(params.get("sort-by")), reverse=_descending(params.get("direction")))
    per_page = _number(params, "per-page", MAX_PER_PAGE, low=1, high=MAX_PER_PAGE)
    start = max(_number(params, "page", 1, low=0, high=None) - 1, 0) * per_page
    return [model_summary(model) for model in found[start : start + per_page]]


def _matches(model: Model, params: dict[str, str]) -> bool:
    for name, field in _TEXT_FILTERS.items():
        if name in params and params[name].casefold() not in field(model).casefold():
            return False
    for name, value in _FLAGS.items():
        if name in params and _flag(name, params[name]) is not value:
            return False
    return True


def _flag(name: str, text: str) -> bool:
    word = text.strip().lower()
    if word not in ("true", "false"):
        raise invalid_query(name, text, "not a boolean", ["true", "false"])
    return word == "true"


def _sort_key(text: str | None) -> Callable[[Model], str]:
    if text is None:
        return _SORTS["modelId"]
    if text not in _SORTS:
        raise invalid_query("sort-by", text, "unknown sort field", list(_SORTS))
    return _SORTS[text]


def _descending(text: str | None) -> bool:
    if text is None:
        return False
    if text.upper() not in ("ASC", "DESC"):
        raise invalid_query("direction", text, "unknown direction", ["ASC", "DESC"])
    return text.upper() == "DESC"


def _number(params: dict[str, str], name: str, default: int, *, low: int, high: int | None) -> int:
    text = params.get(name)
    if text is None:
        return default
    top = "" if high is None else f" to {high}"
    if not text.strip().isascii() or not text.strip().isdigit():
        raise invalid_query(name, text, "not an integer", f"an integer from {low}{top}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise invalid_query(name, text, "out of range", f"an integer from {low}{top}")
    return value


@router.get("/models/requirements/account", summary="Hardware requirements (Modzy)")
def requirements(_caller: Caller) -> list[dict[str, Any]]:
    """Modzy's hardware plans; jobline has none, and the SDK accepts an empty list."""
    return []


def _model(store: Store, identifier: str) -> Model:
    """The model, or 404: here a model is a resource, not a field of a submission."""
    try:
        return jobs.get_model(store, identifier)
    except UnknownModel as exc:
        raise NotFound(exc.message, **exc.details) from exc


def _version(store: Store, identifier: str, version: str) -> tuple[Model, ModelVersion]:
    model = _model(store, identifier)
    found = model.version(version)
    if found is None:
        versions = ", ".join(v.version for v in model.versions)
        raise NotFound(
            f"model {identifier!r} has no version {version!r}; versions: {versions}",
            param="version",
            value=version,
        )
    return model, found


@router.get("/models/{model}", summary="One model (Modzy)")
def get_model(model: str, request: Request, _caller: Caller) -> dict[str, Any]:
    return model_object(_model(store_of(request), model))


@router.get("/models/{model}/versions", summary="A model's versions (Modzy)")
def get_versions(model: str, request: Request, _caller: Caller) -> list[dict[str, Any]]:
    found = _model(store_of(request), model)
    return [version_object(found, version) for version in found.versions]


@router.get("/models/{model}/versions/{version}", summary="One model version (Modzy)")
def get_version(model: str, version: str, request: Request, _caller: Caller) -> dict[str, Any]:
    return version_object(*_version(store_of(request), model, version))


@router.get("/models/{model}/versions/{version}/sample-input", summary="Sample job (Modzy)")
def get_sample_input(model: str, version: str, request: Request, _caller: Caller) -> dict[str, Any]:
    return sample_input(*_version(store_of(request), model, version))


@router.get("/models/{model}/versions/{version}/sample-output", summary="Sample result (Modzy)")
def get_sample_output(
    model: str, version: str, request: Request, _caller: Caller
) -> dict[str, Any]:
    return sample_output(*_version(store_of(request), model, version))
