"""A job's result folder over JESS: ``GET /job/dir/<id>`` (the tree), ``GET /job/file/<id>``
(all of it as a zip, ``?ext=eso,mtr,csv`` for only those kinds of file) and
``GET /job/file/<id>/<path>`` (one file). The folder is ``core.folder``'s: for an EnergyPlus
job, ``in.idf`` and ``in.epw`` beside the files EnergyPlus wrote."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from jobline.api.auth import store_of
from jobline.api.downloads import zip_response
from jobline.api.jess.jobs import job_of
from jobline.api.jess.render import folder_tree
from jobline.api.jess.wire import Caller, JessRoute, envelope
from jobline.core import folder
from jobline.domain.records import Job, Principal
from jobline.errors import OutputNotFound
from jobline.store import Store

router = APIRouter(route_class=JessRoute, tags=["JESS dialect"])

_MEDIA = {
    "csv": "text/csv",
    "htm": "text/html",
    "html": "text/html",
    "json": "application/json",
    "err": "text/plain",
    "txt": "text/plain",
    "idf": "text/plain",
    "epw": "text/plain",
    "log": "text/plain",
}


def _folder(store: Store, caller: Principal, ref: str) -> tuple[Job, list[folder.FolderFile]]:
    job = job_of(store, caller, ref)
    return folder.result_folder(store, caller, job.id)


@router.get("/job/dir/{ref}", summary="Result folder tree (JESS)")
def job_dir(request: Request, ref: str, caller: Caller) -> dict[str, Any]:
    job, files = _folder(store_of(request), caller, ref)
    return envelope(f"{job.id} status available", folder_tree(job, files))


@router.get("/job/file/{ref}", summary="Result folder as a zip (JESS)")
def job_zip(request: Request, ref: str, caller: Caller, ext: str = "") -> Response:
    store = store_of(request)
    job, files = _folder(store, caller, ref)
    wanted = {e.strip().lower().lstrip(".") for e in ext.split(",") if e.strip()}
    if wanted:
        files = [f for f in files if f.path.rpartition(".")[2].lower() in wanted]
    return zip_response(store, files, f"{job.id}.zip")


@router.get("/job/file/{ref}/{path:path}", summary="One result file (JESS)")
def job_file(request: Request, ref: str, path: str, caller: Caller) -> Response:
    store = store_of(request)
    job, files = _folder(store, caller, ref)
    try:
        found = folder.find(files, path)
    except OutputNotFound:
        raise OutputNotFound(
            f"job {job.id} has no file {path!r} in its result folder", param="path"
        ) from None
    media = _MEDIA.get(found.path.rpartition(".")[2].lower(), "application/octet-stream")
    name = found.path.rpartition("/")[2]
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(folder.read(store, found), media_type=media, headers=headers)
