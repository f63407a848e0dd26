"""Modzy's job and result routes: submit (text, embedded, or an open job filled by uploads),
read, cancel, and results.

``POST /api/jobs`` takes ``{"model": {"identifier", "version"}, "explain", "input": {"type",
"sources": {source: {input name: value}}}}``. ``text`` values are strings and ``embedded``
values data URIs; without ``input`` the job is created OPEN, filled by
``POST /api/jobs/{id}/{source}/{input name}`` (multipart part ``input``, repeated chunks
append) and submitted by ``POST /api/jobs/{id}/close``. Inputs that live elsewhere (S3, Azure
blobs, StorageGRID, JDBC) are refused: this server does not fetch data on anyone's behalf.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jobline.api.auth import store_of
from jobline.api.errors import parsed
from jobline.api.modzy.render import job_object, results_object
from jobline.api.modzy.wire import Caller, ModzyRoute
from jobline.core import jobs, owners, uploads
from jobline.domain.records import Job, Principal
from jobline.errors import InvalidInputs, InvalidRequest
from jobline.settings import Settings
from jobline.store import Store

router = APIRouter(route_class=ModzyRoute, tags=["Modzy dialect"])

SUPPORTED_TYPES = ("text", "embedded")
REMOTE_TYPES = ("aws-s3", "aws-s3-folder", "azureblob", "storage-grid", "jdbc")
# Room left in a request for the multipart framing around one uploaded chunk.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class ModelRef(BaseModel):
    identifier: str
    version: str | None = None


class InputIn(BaseModel):
    type: str
    sources: dict[str, dict[str, Any]] | None = None


class JobIn(BaseModel):
    model: ModelRef
    explain: bool = False
    timeout: int | None = None  # milliseconds (the Go SDK sends it; Python never does)
    input: InputIn | None = None


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _answer(store: Store, caller: Principal, ref: str | int) -> dict[str, Any]:
    """The Job object of one job as it is now, with its owner and its input sources."""
    job, items = jobs.results(store, caller, ref)
    return _render(store, job, [item.source for item in items])


def _render(store: Store, job: Job, sources: list[str]) -> dict[str, Any]:
    return job_object(job, owners.owners(store, [job]).get(job.user_identifier), sources)


@router.post("/jobs", summary="Submit a job (Modzy)")
async def submit(request: Request, caller: Caller) -> dict[str, Any]:
    """A text or embedded job, run at once; or, without ``input``, an OPEN job to upload into."""
    body = _job_body(await request.body())
    store, settings = store_of(request), _settings(request)
    # Modzy's timeout is in milliseconds, and 0 means none.
    timeout = body.timeout / 1000 if body.timeout else None
    if body.input is None:
        job = await run_in_threadpool(
            uploads.open_job,
            store,
            caller,
            body.model.identifier,
            body.model.version,
            explain=body.explain,
            timeout_seconds=timeout,
        )
        return await run_in_threadpool(_render, store, job, [])
    submission = jobs.Submission(
        model=body.model.identifier,
        version=body.model.version,
        inputs=_inputs(body.input),
        explain=body.explain,
        timeout_seconds=timeout,
    )
    job = await run_in_threadpool(
        jobs.submit, store, caller, submission, max_inputs=settings.max_inputs_per_job
    )
    # The job as it was accepted: a worker may have started on it since.
    return await run_in_threadpool(_render, store, job, list(submission.inputs))


def _job_body(raw: bytes) -> JobIn:
    return parsed(JobIn, raw, "job", "body")


def _inputs(body: InputIn) -> dict[str, dict[str, bytes]]:
    """The inputs of a text or embedded job as bytes, by source and input name."""
    if body.type not in SUPPORTED_TYPES:
        problem = (
            "input type not supported by this server"
            if body.type in REMOTE_TYPES
            else "unknown input type"
        )
        raise InvalidInputs(
            f"{problem}: {body.type!r}; accepted: {', '.join(SUPPORTED_TYPES)}, or a job "
            "without 'input' whose files are uploaded (POST /api/jobs/{id}/{source}/{input})",
            param="input.type",
            value=body.type,
            accepted=list(SUPPORTED_TYPES),
        )
    if body.sources is None:
        raise InvalidInputs(
            f"an input of type {body.type!r} needs 'sources': {{source: {{input name: value}}}}",
            param="input.sources",
        )
    decode = _text if body.type == "text" else _data_uri
    return {
        source: {
            name: decode(value, f"input.sources.{source}.{name}") for name, value in parts.items()
        }
        for source, parts in body.sources.items()
    }


def _text(value: Any, param: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInputs(
            f"{param} must be a string for a text input, got {type(value).__name__}", param=param
        )
    return value.encode()


def _data_uri(value: Any, param: str) -> bytes:
    """The bytes of a data URI, ``data:[<media type>][;base64],<data>``."""
    accepted = "a data URI such as data:application/octet-stream;base64,SGVsbG8="
    if not isinstance(value, str) or not value.startswith("data:") or "," not in value:
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise InvalidInputs(
            f"{param} is {shown!r}, not a data URI; accepted: {accepted}", param=param
        )
    header, _, data = value.partition(",")
    if not header.endswith(";base64"):
        return unquote_to_bytes(data)
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise InvalidInputs(
            f"{param} is not valid base64 after ';base64,'; accepted: {accepted}", param=param
        ) from exc


@router.get("/jobs/features", summary="Upload limits (Modzy)")
def features(request: Request, _caller: Caller) -> dict[str, Any]:
    """How large one uploaded chunk may be and how many inputs a job may have.

    The chunk size is also given under the snake_case key the Python SDK looks up.
    """
    settings = _settings(request)
    chunk_kb = max(1, (settings.max_request_bytes - MULTIPART_OVERHEAD_BYTES) // 1000)
    return {
        "inputChunkMaximumSize": f"{chunk_kb}K",
        "input_chunk_maximum_size": f"{chunk_kb}K",
        "maximumInputsPerJob": settings.max_inputs_per_job,
    }


@router.get("/jobs/{job}", summary="One job (Modzy)")
def get_job(job: str, request: Request, caller: Caller) -> dict[str, Any]:
    return _answer(store_of(request), caller, job)


@router.delete("/jobs/{job}", summary="Cancel a job (Modzy)")
def cancel_job(job: str, request: Request, caller: Caller) -> dict[str, Any]:
    """Cancel a job and return it: CANCELED, or as it was if it had already ended."""
    canceled = jobs.cancel(store_of(request), caller, job)
    return _answer(store_of(request), caller, canceled.identifier)


@router.post("/jobs/{job}/close", summary="Submit an open job (Modzy)")
def close_job(job: str, request: Request, caller: Caller) -> dict[str, Any]:
    store = store_of(request)
    closed = uploads.close_job(store, caller, job, max_inputs=_settings(request).max_inputs_per_job)
    return _answer(store, caller, closed.identifier)


@router.post("/jobs/{job}/{source}/{name}", summary="Upload into an open job (Modzy)")
async def upload(
    job: str, source: str, name: str, request: Request, caller: Caller
) -> dict[str, Any]:
    """Append the multipart part ``input`` to input ``name`` of source ``source``."""
    async with request.form() as form:
        part = form.get("input")
        if part is None:
            raise InvalidRequest(
                "the upload needs a multipart part named 'input' holding the bytes",
                param="input",
            )
        data = await part.read() if isinstance(part, UploadFile) else part.encode()
    store = store_of(request)
    appended = await run_in_threadpool(
        uploads.append_input,
        store,
        caller,
        job,
        source,
        name,
        data,
        max_inputs=_settings(request).max_inputs_per_job,
    )
    return await run_in_threadpool(_answer, store, caller, appended.identifier)


@router.get("/results/{job}", summary="A job's results (Modzy)")
def results(job: str, request: Request, caller: Caller) -> dict[str, Any]:
    """Outputs by input source; ``finished`` tells whether more may come."""
    found, items = jobs.results(store_of(request), caller, job)

    def file_url(source: str, name: str) -> str:
        return str(request.url_for("result_file", job=found.identifier, source=source, name=name))

    return results_object(found, items, file_url)


@router.get("/results/{job}/{source}/{name}", name="result_file", summary="One output file (Modzy)")
def result_file(job: str, source: str, name: str, request: Request, caller: Caller) -> Response:
    """The bytes of one output file: the one answer of this dialect that is not JSON."""
    found, data = jobs.output_file(store_of(request), caller, job, source, name)
    return Response(
        data,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.name}"'},
    )
