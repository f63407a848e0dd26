"""The submit page: pick a model and version, fill in its declared inputs, land on the job.

Text inputs are text areas (or a file instead); other media types are file uploads. A model
with a single text input can take one input per line, so a batch of texts is one job. What the
core refuses comes back on the same form, with the values kept and the message shown.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from jobline.core import jobs
from jobline.dashboard.web import (
    DashboardRoute,
    Seen,
    field,
    page,
    posted_form,
    redirect,
    settings_of,
    status_of,
    store_of,
)
from jobline.domain.records import InputSpec, Model, ModelVersion
from jobline.errors import InvalidInputs, InvalidRequest, PayloadTooLarge, UnknownModel

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PART_PREFIX = "part:"  # form field of a declared input: "part:<input name>"
FILE_PREFIX = "file:"  # the same input as an uploaded file, which wins when given


def is_text(spec: InputSpec) -> bool:
    return any(media.startswith("text/") for media in spec.media_types)


def _choose(models: list[Model], name: str, version: str) -> tuple[Model, ModelVersion]:
    if not models:
        raise UnknownModel("no models are registered yet", param="model")
    model = next((m for m in models if m.identifier == name), None)
    if model is None:
        model = next((m for m in models if m.identifier == "sentiment"), models[0])
        if name:
            raise UnknownModel(f"unknown model {name!r}", param="model", value=name)
    chosen = model.version(version or None)
    if chosen is None:
        raise UnknownModel(f"model {name!r} has no version {version!r}", param="version")
    return model, chosen


def _form_page(
    request: Request,
    *,
    model: str,
    version: str,
    values: dict[str, str],
    error: Exception | None = None,
    status_code: int = 200,
) -> Response:
    models = jobs.list_models(store_of(request))
    chosen: tuple[Model | None, ModelVersion | None] = (None, None)
    try:
        chosen = _choose(models, model, version)
    except UnknownModel as exc:
        error, status_code = exc, 400
    context: dict[str, Any] = {
        "models": models,
        "model": chosen[0],
        "version": chosen[1],
        "values": values,
        "error": error,
        "error_param": getattr(error, "details", {}).get("param", ""),
        "is_text": is_text,
        "part_prefix": PART_PREFIX,
        "file_prefix": FILE_PREFIX,
    }
    return page(request, "submit.html", context, status_code=status_code)


@router.get("/submit")
def submit_form(request: Request, seen: Seen) -> Response:
    params = request.query_params
    return _form_page(
        request, model=params.get("model", ""), version=params.get("version", ""), values={}
    )


@router.post("/submit")
async def submit(request: Request, seen: Seen) -> Response:
    form = await posted_form(request)
    values = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    model, version = field(form, "model"), field(form, "version")
    try:
        models = await run_in_threadpool(jobs.list_models, store_of(request))
        _, chosen = _choose(models, model, version)
        submission = jobs.Submission(
            model=model,
            version=chosen.version,
            inputs=await _inputs(form, chosen),
            name=field(form, "name"),
            description=field(form, "description"),
            timeout_seconds=_timeout(field(form, "timeout")),
            labels=tuple(x.strip() for x in field(form, "labels").split(",") if x.strip()),
        )
        limit = settings_of(request).max_inputs_per_job
        call = partial(jobs.submit, max_inputs=limit)
        job = await run_in_threadpool(call, store_of(request), seen.principal, submission)
    except (InvalidRequest, PayloadTooLarge) as exc:
        return _form_page(
            request, model=model, version=version, values=values, error=exc,
            status_code=status_of(exc),
        )  # fmt: skip
    return redirect(f"/jobs/{job.id}")


async def _inputs(form: FormData, version: ModelVersion) -> dict[str, dict[str, bytes]]:
    parts: dict[str, bytes] = {}
    for spec in version.inputs:
        upload = form.get(FILE_PREFIX + spec.name)
        if isinstance(upload, UploadFile) and upload.filename:
            parts[spec.name] = await upload.read()
        elif text := field(form, PART_PREFIX + spec.name):
            parts[spec.name] = text.encode()
        elif spec.required:
            raise InvalidInputs(f"input {spec.name!r} is required", param=PART_PREFIX + spec.name)
    texts = [spec for spec in version.inputs if is_text(spec)]
    if field(form, "split_lines") and len(version.inputs) == 1 and texts:
        name = texts[0].name
        try:
            text = parts.get(name, b"").decode()
        except UnicodeDecodeError:
            raise InvalidInputs(
                f"input {name!r} is not UTF-8 text, so it cannot be split into lines",
                param=PART_PREFIX + name,
            ) from None
        lines = [line.strip() for line in text.splitlines()]
        return {str(n): {name: line.encode()} for n, line in enumerate(filter(None, lines), 1)}
    return {"1": parts}


def _timeout(text: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInputs(
            f"timeout {text!r} is not a number of seconds", param="timeout", value=text
        ) from None
