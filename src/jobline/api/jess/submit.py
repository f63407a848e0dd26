"""``POST /jess_web/api/job``: a new EnergyPlus job from an upload, or a job run again.

Multipart (``shared/reference/jess-api.md`` §3.6): the files in repeated ``file`` parts, or one
zip that is unpacked (``core.archive``: zip slip, links and zip bombs are refused), and the
fields ``type``, ``title``, ``desc``, ``model``, ``weather``, ``split``, ``subset``, ``cases``,
``args`` as plain parts or as parts with a file name (Python ``requests`` sends them so).

- ``type`` is ``EP`` (EnergyPlus; the default, and what ``Scan``/``AUTO`` find when the upload
  has an IDF). JEP, RAD and DS jobs are refused: this server runs EnergyPlus only.
- ``model`` names the IDF (needed only when there are several and one is meant); without it,
  every IDF of the upload is a case. ``weather`` names an uploaded EPW, or else a bundled
  TMY3 file (``Chicago``); without it, every uploaded EPW is used with every IDF.
- ``split=true`` runs each case as twelve months, collected into one table (``EP_IDF_SPLIT``).

JSON ``{"cmd": "Create", "jobRef": N, "caption"?, "description"?}`` runs job N again with its
own files and settings (§3.7); ``uploadRef`` (files kept in the Users API's storage area) is
refused, since this server has no such area.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jobline.api.auth import store_of
from jobline.api.jess.jobs import command, job_of
from jobline.api.jess.wire import Caller, JessRoute, envelope, settings_of
from jobline.core import archive, jobs, rerun
from jobline.domain.records import Job
from jobline.errors import InvalidInputs, InvalidRequest

router = APIRouter(route_class=JessRoute, tags=["JESS dialect"])

MODEL = "energyplus"
FIELDS = ("type", "title", "desc", "model", "weather", "split", "subset", "cases", "args")
# Fields of the job types this server does not run; accepted in a form, then refused by type.
OTHER_FIELDS = ("program", "input", "output")
RUNNABLE_TYPES = ("EP", "SCAN", "AUTO")
OTHER_TYPES = ("JEP", "RAD", "DS")
IDF_SUFFIXES = (".idf", ".imf")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


@router.post("/job", summary="Submit or rerun a job (JESS)")
async def create_job(request: Request, caller: Caller) -> dict[str, Any]:
    store, settings = store_of(request), settings_of(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        body = command(await request.body(), accepted=("Create",))
        extra = body.model_extra or {}
        job = await run_in_threadpool(_rerun, request, caller, extra, settings.max_inputs_per_job)
    else:
        fields, files = await _form(request)
        submission = _submission(fields, files, settings.max_request_bytes)
        job = await run_in_threadpool(
            jobs.submit, store, caller, submission, max_inputs=settings.max_inputs_per_job
        )
    return envelope(f"Job {job.id} is created", job.id)


def _rerun(request: Request, caller: Caller, body: dict[str, Any], max_inputs: int) -> Job:
    if body.get("uploadRef"):
        raise InvalidRequest(
            "uploadRef is not supported: this server has no storage area for uploads; send "
            "the files as multipart POST /job, or give jobRef to run a job again",
            param="uploadRef",
        )
    ref = body.get("jobRef")
    if not isinstance(ref, int) or isinstance(ref, bool) or ref <= 0:
        raise InvalidRequest(
            f"jobRef must be the number of a job to run again, got {ref!r}", param="jobRef"
        )
    store = store_of(request)
    job_of(store, caller, str(ref))  # the JESS wording when it is not the caller's
    texts = {name: body.get(name) for name in ("caption", "description")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string, got {value!r}", param=name)
    return rerun.rerun(
        store,
        caller,
        ref,
        name=texts["caption"] or None,
        description=texts["description"] or None,
        max_inputs=max_inputs,
    )


async def _form(request: Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """The text fields and the files (by name) of a multipart upload."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest(
            "POST /job takes multipart/form-data (files in 'file' parts) or JSON "
            '{"cmd": "Create", "jobRef": N}',
            param="Content-Type",
        )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    async with request.form(max_files=archive.MAX_FILES, max_fields=archive.MAX_FILES) as form:
        for name, value in form.multi_items():
            if name == "file":
                if not isinstance(value, UploadFile) or not value.filename:
                    raise InvalidInputs("each 'file' part must be a file with a name", param="file")
                # Only the name counts: some clients send the whole path they read it from.
                name_only = PurePosixPath(value.filename.replace("\\", "/")).name
                files[archive.safe_path(name_only or value.filename, "file")] = await value.read()
            elif name in FIELDS or name in OTHER_FIELDS:
                raw = await value.read() if isinstance(value, UploadFile) else value.encode()
                fields[name] = _decoded(raw, name).strip()
            else:
                accepted = ", ".join(("file", *FIELDS))
                raise InvalidRequest(f"unknown field {name!r}; accepted: {accepted}", param=name)
    return fields, files


def _decoded(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"field {name!r} is not UTF-8 text", param=name) from exc


def _submission(fields: dict[str, str], files: dict[str, bytes], max_bytes: int) -> jobs.Submission:
    kind = fields.get("type", "EP").upper() or "EP"
    if kind in OTHER_TYPES:
        raise InvalidRequest(
            f"job type {kind} is not supported by this server: it runs EnergyPlus simulations "
            "only (type EP)",
            param="type",
            value=kind,
            accepted=["EP"],
        )
    if kind not in RUNNABLE_TYPES:
        raise InvalidRequest(
            f"unknown job type {kind!r}; accepted: EP (or Scan); not run here: "
            + ", ".join(OTHER_TYPES),
            param="type",
            value=kind,
        )
    if not files:
        raise InvalidInputs("no files: upload the IDF (and EPW) in 'file' parts", param="file")
    if len(files) == 1 and next(iter(files)).lower().endswith(".zip"):
        files = archive.unpack(next(iter(files.values())), max_bytes=max_bytes)
    models = _chosen(files, fields.get("model"), IDF_SUFFIXES, "model", "IDF model")
    weathers: list[str | None] = list(
        _chosen(files, fields.get("weather"), (".epw",), "weather", "EPW weather file")
    )
    args: dict[str, Any] = {"split": _flag(fields.get("split", ""), "split")}
    if not weathers:
        if not fields.get("weather"):
            raise InvalidInputs(
                "no weather: upload an EPW file, or name a bundled one in 'weather' "
                "(such as Chicago)",
                param="weather",
            )
        args["weather"] = fields["weather"]
        weathers = [None]
    inputs: dict[str, dict[str, bytes]] = {}
    for idf in models:
        for epw in weathers:
            parts = {"idf": files[idf]} | ({"epw": files[epw]} if epw else {})
            source = _stem(idf) if len(weathers) == 1 else f"{_stem(idf)}@{_stem(epw or '')}"
            inputs[source] = parts
    return jobs.Submission(
        model=MODEL,
        inputs=inputs,
        name=fields.get("title", ""),
        description=fields.get("desc", ""),
        args=args,
    )


def _chosen(
    files: dict[str, bytes], named: str | None, suffixes: tuple[str, ...], param: str, what: str
) -> list[str]:
    """The uploaded files the field names (by path or base name), or else all of that kind.

    A name that matches no upload is an error for ``model``; for ``weather`` it may name a
    bundled file, so then no upload is chosen.
    """
    of_kind = sorted(path for path in files if path.lower().endswith(suffixes))
    if not named:
        if not of_kind and param == "model":
            raise InvalidInputs(
                f"the upload has no {what} ({', '.join(suffixes)} file); uploaded: "
                + ", ".join(sorted(files)),
                param="file",
            )
        return of_kind
    matches = [p for p in files if p == named or PurePosixPath(p).name == named]
    if len(matches) == 1:
        return matches
    if param == "weather" and not of_kind:
        return []  # a bundled weather file's name
    problem = "matches several uploaded files" if matches else "is not among the uploaded files"
    raise InvalidInputs(
        f"{param} {named!r} {problem}; uploaded {what}s: {', '.join(of_kind) or 'none'}",
        param=param,
        value=named,
    )


def _flag(text: str, param: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE or not word:
        return word in _TRUE
    raise InvalidRequest(f"{param} must be TRUE or FALSE, got {text!r}", param=param)


def _stem(path: str) -> str:
    return PurePosixPath(path).stem or "model"
