"""The work API, ``/v1/work``, for remote workers, and the worker registry, ``/v1/workers``.

A remote worker (``jobline worker --server URL --key KEY``) claims inputs with a long poll,
downloads their parts, heartbeats while it runs them, and uploads their outcomes with the
output files. Only worker keys and admins may call ``/v1/work``; leases are held by the
worker's name, which the registry binds to the caller's key (see ``jobline.core.remote``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jobline.api.auth import principal, store_of
from jobline.api.errors import parsed
from jobline.core import remote, work, workers
from jobline.domain.records import Principal
from jobline.domain.status import InputStatus
from jobline.domain.work import Claim, Outcome
from jobline.domain.workers import Lease, WorkerInfo, WorkerRecord
from jobline.errors import InvalidRequest
from jobline.settings import Settings

MAX_WAIT_SECONDS = 20.0  # the longest a claim may wait for work
RECHECK_SECONDS = 1.0  # a waiting claim looks again this often (work queued by other nodes)
MAX_CLAIM = 1000  # inputs per claim
MAX_REPORT_PARTS = 10_000  # parts of one completion request: the report and output files
MAX_NAME = 200  # characters of a worker's name (the inputs' lease owner column)

router = APIRouter(prefix="/v1", tags=["work"])
Caller = Annotated[Principal, Depends(principal)]


class WorkBell:
    """Wakes the claims waiting on this server node when work is queued here.

    It rings from whatever thread queued the work; each waiting claim has its own event on
    its own event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def ring(self) -> None:
        with self._lock:
            waiting = list(self._waiting)
        for loop, event in waiting:
            with suppress(RuntimeError):  # its loop closed in between: nobody to wake
                loop.call_soon_threadsafe(event.set)

    @contextmanager
    def waiter(self) -> Iterator[asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiting.discard(entry)


def install(app: FastAPI) -> None:
    """Add the work routes to ``app``, with a bell rung by the store when work is queued."""
    bell = WorkBell()
    app.state.work_bell = bell
    app.state.store.on_work(bell.ring)
    app.include_router(router)


class WorkerIn(BaseModel):
    """Who asks: a worker's name (its leases' owner) and what it says about itself."""

    worker: str = Field(min_length=1, max_length=MAX_NAME, description="the worker's name")
    host: str = Field("", max_length=255)
    pid: int = Field(0, ge=0)
    models: list[str] | None = Field(None, description="models it runs; null: every model")
    slots: int = Field(0, ge=0, description="inputs it runs at the same time")
    busy: int = Field(0, ge=0, description="slots running an input now")

    def info(self) -> WorkerInfo:
        models = None if self.models is None else tuple(self.models)
        return WorkerInfo(self.worker, self.host, self.pid, models, self.slots, self.busy)


class ClaimIn(WorkerIn):
    limit: int = Field(1, ge=1, le=MAX_CLAIM, description="inputs to claim at most")
    wait_seconds: float = Field(
        0.0, ge=0, le=MAX_WAIT_SECONDS, description="how long to wait for work when none is queued"
    )


class ClaimOut(BaseModel):
    input_id: int
    job_id: int
    job_identifier: str
    source: str
    model_identifier: str
    model_version: str
    entry_point: str
    parts: dict[str, str] = Field(description="input name -> blob key (GET /v1/work/parts/...)")
    args: dict[str, Any]
    attempt: int
    lease_owner: str
    timeout_seconds: float

    @classmethod
    def of(cls, claim: Claim) -> ClaimOut:
        return cls(**{name: getattr(claim, name) for name in cls.model_fields})


class ClaimsOut(BaseModel):
    claims: list[ClaimOut]


class HeartbeatIn(WorkerIn):
    input_ids: list[int] = Field(
        default_factory=list, max_length=MAX_CLAIM * 10, description="the inputs it holds"
    )
    started: list[int] = Field(
        default_factory=list,
        max_length=MAX_CLAIM * 10,
        description="those of them it began since its last heartbeat (they become RUNNING)",
    )


class HeartbeatOut(BaseModel):
    stop: list[int] = Field(description="inputs to stop: their job ended or the lease is lost")
    work: bool = Field(description="whether inputs of the worker's models wait in the queue")


class OutcomeIn(BaseModel):
    input_id: int
    job_id: int
    job_identifier: str
    lease_owner: str
    status: InputStatus
    started_at: AwareDatetime
    finished_at: AwareDatetime
    cpu_seconds: float = Field(0.0, ge=0, allow_inf_nan=False)
    peak_memory_kib: int = Field(0, ge=0)
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str = ""

    @field_validator("outputs")
    @classmethod
    def _finite(cls, outputs: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(outputs, allow_nan=False)
        except ValueError as exc:
            raise ValueError("outputs must be JSON, without NaN or Infinity") from exc
        return outputs


class ReportIn(BaseModel):
    worker: str = Field(min_length=1, max_length=MAX_NAME)
    outcomes: list[OutcomeIn] = Field(max_length=MAX_REPORT_PARTS)


class CompleteOut(BaseModel):
    accepted: list[bool] = Field(description="per outcome: False when the lease was lost")


class WorkerOut(BaseModel):
    name: str
    host: str
    pid: int
    models: list[str] | None
    slots: int
    busy: int
    access_key: str = Field(description="prefix of its key; empty for an embedded worker")
    started_at: datetime
    last_heartbeat: datetime
    alive: bool = Field(description="heard from within three heartbeat intervals")

    @classmethod
    def of(cls, record: WorkerRecord, at: datetime) -> WorkerOut:
        return cls(
            name=record.name,
            host=record.host,
            pid=record.pid,
            models=None if record.models is None else list(record.models),
            slots=record.slots,
            busy=record.busy,
            access_key=record.key_prefix,
            started_at=record.started_at,
            last_heartbeat=record.last_heartbeat,
            alive=record.alive(at),
        )


class WorkersOut(BaseModel):
    workers: list[WorkerOut]


@router.post("/work/claim", response_model=ClaimsOut, summary="Claim inputs (long poll)")
async def claim(body: ClaimIn, request: Request, caller: Caller) -> ClaimsOut:
    """Lease up to ``limit`` queued inputs. With none queued, wait up to ``wait_seconds``: the
    answer comes as soon as work is queued (looked for again every second, so work queued
    through another server node is found too)."""
    store = store_of(request)
    info = body.info()
    await run_in_threadpool(remote.check_in, store, caller, info)
    lease = _lease_seconds(request)
    take = partial(
        work.claim, store, info.name, models=info.models, limit=body.limit, lease_seconds=lease
    )
    deadline = time.monotonic() + body.wait_seconds
    bell: WorkBell = request.app.state.work_bell
    with bell.waiter() as rung:
        while True:
            rung.clear()
            claims = await run_in_threadpool(take)
            left = deadline - time.monotonic()
            if claims or left <= 0:
                return ClaimsOut(claims=[ClaimOut.of(c) for c in claims])
            with suppress(TimeoutError):
                await asyncio.wait_for(rung.wait(), min(RECHECK_SECONDS, left))
            if await request.is_disconnected():
                # Claiming now would lease inputs to a worker that went away.
                return ClaimsOut(claims=[])


@router.post("/work/heartbeat", response_model=HeartbeatOut, summary="Renew leases")
def heartbeat(body: HeartbeatIn, request: Request, caller: Caller) -> HeartbeatOut:
    """Report the worker alive, renew its leases on ``input_ids``, and mark ``started``
    RUNNING."""
    stop, waiting = remote.heartbeat(
        store_of(request),
        caller,
        body.info(),
        body.input_ids,
        body.started,
        lease_seconds=_lease_seconds(request),
    )
    return HeartbeatOut(stop=stop, work=waiting)


@router.get("/work/parts/{blob_key:path}", response_class=Response, summary="An input's part")
def part(
    blob_key: str,
    request: Request,
    caller: Caller,
    worker: Annotated[str, Query(min_length=1, max_length=MAX_NAME)],
) -> Response:
    """The bytes of one part of an input the worker holds a lease on."""
    data = remote.read_part(store_of(request), caller, worker, blob_key)
    return Response(data, media_type="application/octet-stream")


@router.post(
    "/work/complete",
    response_model=CompleteOut,
    summary="Report outcomes",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "description": "a part 'report' (JSON: worker, outcomes) and each "
                        "output file as a part named '<input_id>/<file name>'",
                    }
                }
            },
            "required": True,
        }
    },
)
async def complete(request: Request, caller: Caller) -> CompleteOut:
    """Store how inputs ended, with their output files; the request's size is capped by the
    server's request limit (413 names it)."""
    report, files = await _read_report(request)
    done = [
        (
            Lease(item.input_id, item.job_id, item.job_identifier, item.lease_owner),
            Outcome(
                status=item.status,
                started_at=item.started_at,
                finished_at=item.finished_at,
                cpu_seconds=item.cpu_seconds,
                outputs=item.outputs,
                files=files.pop(item.input_id, {}),
                error=item.error,
                peak_memory_kib=item.peak_memory_kib,
            ),
        )
        for item in report.outcomes
    ]
    if files:
        stray = ", ".join(str(input_id) for input_id in sorted(files))
        raise InvalidRequest(f"file parts name inputs the report does not: {stray}", param="files")
    store = store_of(request)
    accepted = await run_in_threadpool(remote.complete, store, caller, report.worker, done)
    return CompleteOut(accepted=accepted)


@router.get("/workers", response_model=WorkersOut, summary="Workers (admin)")
def list_workers(request: Request, caller: Caller) -> WorkersOut:
    """Every registered worker: embedded and remote, live and recently gone."""
    at = datetime.now(UTC)
    found = workers.listing(store_of(request), caller)
    return WorkersOut(workers=[WorkerOut.of(record, at) for record in found])


def _lease_seconds(request: Request) -> float:
    settings: Settings = request.app.state.settings
    return settings.lease_seconds


async def _read_report(request: Request) -> tuple[ReportIn, dict[int, dict[str, bytes]]]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest(
            "a report is multipart/form-data: a part 'report' and the output files",
            param="Content-Type",
        )
    report: ReportIn | None = None
    files: dict[int, dict[str, bytes]] = {}
    form = request.form(max_files=MAX_REPORT_PARTS, max_fields=MAX_REPORT_PARTS)
    async with form as parts:
        for key, value in parts.multi_items():
            data = await value.read() if isinstance(value, UploadFile) else value.encode()
            if key == "report":
                report = _parse_report(data)
                continue
            input_id, slash, name = key.partition("/")
            if not (slash and input_id.isdigit() and name):
                raise InvalidRequest(
                    f"part {key!r} is neither 'report' nor named '<input_id>/<file name>'",
                    param=key,
                )
            files.setdefault(int(input_id), {})[name] = data
    if report is None:
        raise InvalidRequest("the part 'report' (JSON) is missing", param="report")
    _check_statuses(report)
    return report, files


def _parse_report(data: bytes) -> ReportIn:
    return parsed(ReportIn, data, "report", "report")


def _check_statuses(report: ReportIn) -> None:
    for position, item in enumerate(report.outcomes):
        if not item.status.terminal:
            ended = [s.value for s in InputStatus if s.terminal]
            raise InvalidRequest(
                f"outcomes.{position}.status: {item.status.value!r} is not how an input ends; "
                f"accepted: {', '.join(ended)}",
                param=f"outcomes.{position}.status",
                accepted=ended,
            )
    reported = Counter(item.input_id for item in report.outcomes)
    twice = sorted(input_id for input_id, times in reported.items() if times > 1)
    if twice:
        raise InvalidRequest(f"inputs reported twice: {twice}", param="outcomes", inputs=twice)
