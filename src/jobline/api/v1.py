"""The native API, ``/v1``: JSON in snake_case, one route per core call."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jobline.api.auth import principal, store_of
from jobline.api.downloads import zip_response
from jobline.api.errors import parsed
from jobline.api.schemas import (
    CollectedOut,
    EventOut,
    HistoryOut,
    InlineBytes,
    InputOut,
    JobIn,
    JobOut,
    ModelOut,
    ModelsOut,
    ResultsOut,
)
from jobline.core import folder, jobs
from jobline.domain.history import PARAMS, parse_history
from jobline.domain.records import Principal
from jobline.errors import InvalidRequest

router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(principal)]

HISTORY_PARAMS = PARAMS


@router.get("/jobs", response_model=HistoryOut, summary="Job history")
def history(request: Request, caller: Caller) -> HistoryOut:
    """Jobs you may see, filtered, sorted and paged. Parameters may repeat (``status=A&status=B``)
    or hold comma lists. Page by ``cursor`` (the previous page's ``next_cursor``) or ``page``."""
    params = query_lists(request, HISTORY_PARAMS)
    return HistoryOut.of(jobs.history(store_of(request), caller, parse_history(params)))


def query_lists(request: Request, accepted: tuple[str, ...]) -> dict[str, list[str]]:
    """The query string as lists of values; an unknown parameter is an error, not ignored."""
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name not in accepted:
            raise InvalidRequest(
                f"unknown parameter {name!r}; accepted: {', '.join(accepted)}",
                param=name,
                accepted=list(accepted),
            )
        params.setdefault(name, []).append(value)
    return params


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobOut,
    summary="Submit a job",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": JobIn.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "description": "job fields as form fields (model, version, name, "
                        "description, explain, timeout, labels, args as JSON); each input "
                        "part is a file or field named '<source>/<input name>'",
                    }
                },
            },
            "required": True,
        }
    },
)
async def submit(request: Request, caller: Caller) -> JobOut:
    """Create a job: JSON with inline inputs (text or base64), or multipart with files."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        submission = await _multipart_submission(request)
    else:
        submission = _json_submission(await request.body())
    limit = request.app.state.settings.max_inputs_per_job
    job = await run_in_threadpool(
        partial(jobs.submit, max_inputs=limit), store_of(request), caller, submission
    )
    return JobOut.of(job)


def _json_submission(body: bytes) -> jobs.Submission:
    data = parsed(JobIn, body, "job", "body")
    inputs = {
        source: {name: _bytes_of(source, name, value) for name, value in parts.items()}
        for source, parts in data.inputs.items()
    }
    return jobs.Submission(
        model=data.model,
        version=data.version,
        inputs=inputs,
        name=data.name,
        description=data.description,
        explain=data.explain,
        timeout_seconds=data.timeout,
        job_timeout_seconds=data.job_timeout,
        labels=tuple(data.labels),
        args=data.args,
    )


def _bytes_of(source: str, name: str, value: str | InlineBytes) -> bytes:
    if isinstance(value, str):
        return value.encode()
    try:
        return base64.b64decode(value.base64, validate=True)
    except binascii.Error as exc:
        raise InvalidRequest(
            f"input {source!r} part {name!r}: 'base64' is not valid base64",
            param=f"inputs.{source}.{name}",
        ) from exc


async def _multipart_submission(request: Request) -> jobs.Submission:
    fields: dict[str, str] = {}
    inputs: dict[str, dict[str, bytes]] = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            is_file = isinstance(value, UploadFile)
            if "/" in key:
                source, _, name = key.rpartition("/")
                data = await value.read() if isinstance(value, UploadFile) else value.encode()
                inputs.setdefault(source, {})[name] = data
            elif is_file:
                raise InvalidRequest(
                    f"file part {key!r} must be named '<source>/<input name>'", param=key
                )
            else:
                fields[key] = str(value)
    return _form_submission(fields, inputs)


def _form_submission(
    fields: Mapping[str, str], inputs: dict[str, dict[str, bytes]]
) -> jobs.Submission:
    if not fields.get("model"):
        raise InvalidRequest("the form field 'model' is required", param="model")
    timeout = fields.get("timeout")
    try:
        args: dict[str, Any] = json.loads(fields.get("args") or "{}")
        timeout_seconds = float(timeout) if timeout else None
    except ValueError as exc:
        raise InvalidRequest(
            "form field 'args' must be a JSON object and 'timeout' a number of seconds",
            param="args" if "args" in str(exc) else "timeout",
        ) from exc
    labels = [label.strip() for label in fields.get("labels", "").split(",") if label.strip()]
    return jobs.Submission(
        model=fields["model"],
        version=fields.get("version") or None,
        inputs=inputs,
        name=fields.get("name", ""),
        description=fields.get("description", ""),
        explain=fields.get("explain", "").lower() in ("1", "true", "yes", "on"),
        timeout_seconds=timeout_seconds,
        labels=tuple(labels),
        args=args,
    )


@router.get("/jobs/{job}", response_model=JobOut, summary="One job")
def get_job(job: str, request: Request, caller: Caller) -> JobOut:
    """A job by UUID or serial number."""
    return JobOut.of(jobs.get(store_of(request), caller, job))


@router.post("/jobs/{job}/cancel", response_model=JobOut, summary="Cancel a job")
def cancel_job(job: str, request: Request, caller: Caller) -> JobOut:
    """Cancel a job; a job that has already ended is returned as it is."""
    return JobOut.of(jobs.cancel(store_of(request), caller, job))


@router.get("/jobs/{job}/results", response_model=ResultsOut, summary="A job's results")
def job_results(job: str, request: Request, caller: Caller) -> ResultsOut:
    """Each input with its status, outputs, output files, error and timings."""
    store = store_of(request)
    found, items = jobs.results(store, caller, job)
    merged = jobs.collected(store, caller, found.identifier)
    return ResultsOut(
        job=JobOut.of(found),
        inputs=[InputOut.of(found, i) for i in items],
        collected=CollectedOut.of(found, merged) if merged is not None else None,
    )


@router.get("/jobs/{job}/events", response_model=list[EventOut], summary="A job's timeline")
def job_events(job: str, request: Request, caller: Caller) -> list[EventOut]:
    return [EventOut.of(e) for e in jobs.events(store_of(request), caller, job)]


@router.get(
    "/jobs/{job}/inputs/{source:path}/outputs/{name}",
    response_class=Response,
    summary="One output file",
)
def output_file(job: str, source: str, name: str, request: Request, caller: Caller) -> Response:
    found, data = jobs.output_file(store_of(request), caller, job, source, name)
    return Response(
        data,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.name}"'},
    )


@router.get("/jobs/{job}/outputs/{name}", response_class=Response, summary="A collected file")
def collected_file(job: str, name: str, request: Request, caller: Caller) -> Response:
    """One file of the job's collected result (see ``collected`` in the results)."""
    found, data = jobs.collected_file(store_of(request), caller, job, name)
    return Response(
        data,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.name}"'},
    )


@router.get("/jobs/{job}/folder.zip", response_class=Response, summary="The result folder")
def folder_zip(job: str, request: Request, caller: Caller) -> Response:
    """Everything the job took in and gave back, as one zip: each input's parts
    (``in.<input name>``), JSON outputs and files, one folder per input when there are several,
    and the collected files at the top."""
    store = store_of(request)
    found, files = folder.result_folder(store, caller, job)
    return zip_response(store, files, f"job-{found.id}.zip")


@router.get("/models", response_model=ModelsOut, summary="Models")
def list_models(request: Request, _caller: Caller) -> ModelsOut:
    return ModelsOut(models=[ModelOut.of(m) for m in jobs.list_models(store_of(request))])


@router.get("/models/{model}", response_model=ModelOut, summary="One model")
def get_model(model: str, request: Request, _caller: Caller) -> ModelOut:
    return ModelOut.of(jobs.get_model(store_of(request), model))
