"""Native reports over the history: ``/v1/jobs/stats`` and ``/v1/jobs/export``.

Both take the history's filters (``GET /v1/jobs``) by the same names. The app includes this
router before the ``/v1`` one, whose ``/v1/jobs/{job}`` would otherwise take "stats" for a job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from pydantic_core import to_json, to_jsonable_python

from jobline.api.auth import principal, store_of
from jobline.api.v1 import HISTORY_PARAMS, query_lists
from jobline.core import reports
from jobline.domain.history import ORDER_PARAMS, PAGE_PARAMS, HistoryQuery, parse_history
from jobline.domain.ordering import invalid_query
from jobline.domain.records import JobRow, Principal
from jobline.domain.stats import Stats, parse_stats
from jobline.domain.status import JobStatus
from jobline.store import Store

router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(principal)]

STATS_PARAMS = (
    *(name for name in HISTORY_PARAMS if name not in ORDER_PARAMS + PAGE_PARAMS),
    "group_by",
)
EXPORT_PARAMS = (*(name for name in HISTORY_PARAMS if name not in PAGE_PARAMS), "format")

# The fields of a CSV export, in order: a job's flat fields, its counts spread out.
EXPORT_COLUMNS = tuple(
    "identifier serial name model model_version account user access_key status total queued"
    " running succeeded failed canceled timed_out created_at submitted_at started_at"
    " finished_at updated_at queue_seconds elapsed_seconds cpu_seconds submission_bytes"
    " result_bytes labels".split()
)
# Rows per chunk handed to the server: each chunk of a sync iterator costs a thread hop, which
# the lines PostgreSQL writes (~1 KB each, ~10 us a job) made count: 200 a chunk cost ~10%.
EXPORT_CHUNK_ROWS = 2000


class Percentiles(BaseModel):
    p50: float | None
    p95: float | None


class StatsGroupOut(BaseModel):
    key: dict[str, str | None] = Field(description="the group's value for each group_by name")
    jobs: int
    inputs: int = Field(description="the jobs' inputs, in every status")
    succeeded: int
    failed: int
    canceled: int
    timed_out: int
    cpu_seconds: float
    queue_seconds: Percentiles = Field(description="submission to first input started")
    elapsed_seconds: Percentiles = Field(description="first input started to job ended")


class StatsOut(BaseModel):
    group_by: list[str]
    groups: list[StatsGroupOut]
    query: dict[str, Any] = Field(description="the effective query, as the server applied it")

    @classmethod
    def of(cls, stats: Stats) -> StatsOut:
        names = [group.value for group in stats.group_by]
        return cls(
            group_by=names,
            groups=[
                StatsGroupOut(
                    key=dict(zip(names, group.key, strict=True)),
                    jobs=group.jobs,
                    inputs=group.inputs,
                    succeeded=group.succeeded,
                    failed=group.failed,
                    canceled=group.canceled,
                    timed_out=group.timed_out,
                    cpu_seconds=group.cpu_seconds,
                    queue_seconds=Percentiles(
                        p50=group.queue_seconds_p50, p95=group.queue_seconds_p95
                    ),
                    elapsed_seconds=Percentiles(
                        p50=group.elapsed_seconds_p50, p95=group.elapsed_seconds_p95
                    ),
                )
                for group in stats.groups
            ],
            query=stats.echo,
        )


@router.get("/jobs/stats", response_model=StatsOut, summary="Job stats")
def stats(request: Request, caller: Caller) -> StatsOut:
    """Jobs, inputs, CPU time and queue/elapsed time percentiles over the history's filters,
    grouped by ``group_by`` (``status``, ``model``, ``user``, ``access_key``, ``account``,
    ``day``, ``week``, ``month``; several may be given). Time groups cut the query's
    ``time_field`` in its ``tz``."""
    query = parse_stats(query_lists(request, STATS_PARAMS))
    return StatsOut.of(reports.stats(store_of(request), caller, query))


@router.get(
    "/jobs/export",
    response_class=StreamingResponse,
    summary="Export the history",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export(request: Request, caller: Caller) -> StreamingResponse:
    """Every job matching the history's filters, in the history's order (``sort``,
    ``direction``), streamed as ``format=ndjson`` (the default: one history job object a line)
    or ``format=csv`` (a header line, then one line a job)."""
    params = query_lists(request, EXPORT_PARAMS)
    fmt = _export_format(params.pop("format", []))
    media_type, encode = _FORMATS[fmt]
    lines = encode(store_of(request), caller, parse_history(params))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _chunks(lines),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="jobline-jobs-{stamp}.{fmt}"'},
    )


def _export_format(values: list[str]) -> str:
    if len(values) > 1:
        raise invalid_query("format", ", ".join(values), "given more than once", list(_FORMATS))
    fmt = values[0].strip().lower() if values else "ndjson"
    if fmt not in _FORMATS:
        raise invalid_query("format", values[0], "unknown export format", list(_FORMATS))
    return fmt


def job_object(row: JobRow) -> dict[str, Any]:
    """The history's job object (``JobOut``'s JSON, key for key) of an exported row,
    as a plain dict: a pydantic model per row cost an export more than reading it did.

    PostgreSQL writes the same object itself (:func:`jobline.store.export.job_json`, the wire
    format's second definition): a field added here or to ``JobOut`` goes there too, and
    ``test_export_lines_are_the_history_job_json_byte_for_byte`` ties them byte for byte."""
    return {
        "identifier": row.identifier,
        "serial": row.id,
        "name": row.name,
        "description": row.description,
        "model": {
            "identifier": row.model_identifier,
            "name": row.model_name,
            "version": row.model_version,
        },
        "account": row.account_identifier,
        "user": row.username,
        "user_identifier": row.user_identifier,
        "access_key": row.key_prefix,
        "explain": row.explain,
        "timeout_seconds": row.timeout_seconds,
        "labels": row.labels,
        "args": row.args,
        "status": row.status,
        "category": JobStatus(row.status).category,
        "message": row.message,
        "counts": {
            "total": row.total,
            "queued": row.queued,
            "running": row.running,
            "succeeded": row.succeeded,
            "failed": row.failed,
            "canceled": row.canceled,
            "timed_out": row.timed_out,
        },
        "created_at": row.created_at,
        "submitted_at": row.submitted_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "updated_at": row.updated_at,
        "queue_seconds": row.queue_seconds,
        "elapsed_seconds": row.elapsed_seconds,
        "cpu_seconds": row.cpu_seconds,
        "submission_bytes": row.submission_bytes,
        "result_bytes": row.result_bytes,
    }


def ndjson_export(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[str]:
    """The NDJSON lines of an export: on PostgreSQL the lines the database wrote, joined;
    elsewhere each row's :func:`job_object` serialised here."""
    written = reports.export_lines(store, principal, query)
    if written is None:
        return ndjson_lines(reports.export_rows(store, principal, query))
    return (line + "\n" for line in written)


def ndjson_lines(rows: Iterable[JobRow]) -> Iterator[str]:
    for row in rows:
        yield to_json(job_object(row)).decode() + "\n"


def _csv_export(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[str]:
    return _csv_lines(reports.export_rows(store, principal, query))


def _csv_lines(rows: Iterable[JobRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\r\n")

    def written() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writeheader()
    yield written()  # an empty export is still a CSV with its header
    for row in rows:
        out = to_jsonable_python(job_object(row))
        writer.writerow(
            {
                **out,
                **out["counts"],
                "model": out["model"]["identifier"],
                "model_version": out["model"]["version"],
                "labels": ",".join(out["labels"]),
            }
        )
        yield written()


_FORMATS: dict[str, tuple[str, Callable[[Store, Principal, HistoryQuery], Iterator[str]]]] = {
    "csv": ("text/csv; charset=utf-8", _csv_export),
    "ndjson": ("application/x-ndjson", ndjson_export),
}


def _chunks(lines: Iterator[str]) -> Iterator[str]:
    while chunk := "".join(islice(lines, EXPORT_CHUNK_ROWS)):
        yield chunk
