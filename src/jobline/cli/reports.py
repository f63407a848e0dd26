"""Client-side reports: ``stats`` (figures per group) and ``export`` (the whole history).

Both take the history's filters as flags, talk to a server through the SDK, and end with
``error: <message>`` and exit code 1 on an API error, like the other client-side commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from jobline.cli.filters import (
    AccessKey,
    Account,
    Count,
    End,
    JobId,
    Label,
    Model,
    ModelVersion,
    Name,
    Repeated,
    Search,
    Start,
    Status,
    TimeField,
    Tz,
    User,
    history_filters,
)
from jobline.cli.jobs import DEFAULT_URL, Key, Url, connected
from jobline.cli.output import table

STATS_FIGURES = tuple(
    "JOBS INPUTS OK FAILED CANCELED TIMEDOUT CPU_S"
    " QUEUE_P50 QUEUE_P95 ELAPSED_P50 ELAPSED_P95".split()
)


class StatsFormat(StrEnum):
    table = "table"
    json = "json"


class ExportFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command()(stats)
    app.command()(export)


def stats(
    ctx: typer.Context,
    *,
    key: Key,
    url: Url = DEFAULT_URL,
    group_by: Annotated[
        Repeated,
        typer.Option(
            "--group-by",
            help="status, model, user, access_key, account, day, week or month; repeatable",
        ),
    ] = None,
    user: User = None,
    access_key: AccessKey = None,
    account: Account = None,
    model: Model = None,
    model_version: ModelVersion = None,
    job_id: JobId = None,
    name: Name = None,
    search: Search = None,
    label: Label = None,
    count: Count = None,
    status: Status = None,
    time_field: TimeField = None,
    start: Start = None,
    end: End = None,
    tz: Tz = None,
    fmt: Annotated[StatsFormat, typer.Option("--format", help="output format")] = (
        StatsFormat.table
    ),
) -> None:
    """Jobs, inputs, CPU time and queue/elapsed time percentiles of the jobs you may see,
    per group, with the history's filters."""
    with connected(url, key) as client:
        found = client.stats(group_by or (), **history_filters(ctx))
    if fmt is StatsFormat.json:
        typer.echo(json.dumps(found, indent=2))
        return
    for line in stats_lines(found):
        typer.echo(line)


def stats_lines(found: Mapping[str, Any]) -> Iterator[str]:
    """The table that shows a stats answer of the API: one row a group, seconds to the ms."""
    names = [name.upper() for name in found["group_by"]]
    rows = (
        [
            *(value if value is not None else "-" for value in group["key"].values()),
            group["jobs"],
            group["inputs"],
            group["succeeded"],
            group["failed"],
            group["canceled"],
            group["timed_out"],
            _seconds(group["cpu_seconds"]),
            _seconds(group["queue_seconds"]["p50"]),
            _seconds(group["queue_seconds"]["p95"]),
            _seconds(group["elapsed_seconds"]["p50"]),
            _seconds(group["elapsed_seconds"]["p95"]),
        ]
        for group in found["groups"]
    )
    yield from table([*names, *STATS_FIGURES], rows, numeric=STATS_FIGURES)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def export(
    ctx: typer.Context,
    *,
    key: Key,
    url: Url = DEFAULT_URL,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="output format")] = (
        ExportFormat.ndjson
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
    ] = None,
    user: User = None,
    access_key: AccessKey = None,
    account: Account = None,
    model: Model = None,
    model_version: ModelVersion = None,
    job_id: JobId = None,
    name: Name = None,
    search: Search = None,
    label: Label = None,
    count: Count = None,
    status: Status = None,
    time_field: TimeField = None,
    start: Start = None,
    end: End = None,
    tz: Tz = None,
    sort: Annotated[
        str | None, typer.Option(help="e.g. submittedAt, serial, status, elapsedTime")
    ] = None,
    direction: Annotated[str | None, typer.Option(help="ASC or DESC")] = None,
) -> None:
    """Every job you may see that matches the history's filters, streamed as CSV or NDJSON
    (one history job object a line), newest first unless --sort says otherwise."""
    filters = {"sort": sort, "direction": direction, **history_filters(ctx)}
    written = 0
    with connected(url, key) as client:
        if fmt is ExportFormat.csv:
            lines = client.export("csv", **filters)
        else:
            lines = (json.dumps(job) for job in client.export("ndjson", **filters))
        with _opened(output) as out:
            for line in lines:
                out.write(line + "\n")
                written += 1
    if output is not None:
        jobs = written - 1 if fmt is ExportFormat.csv else written  # the header is no job
        typer.echo(f"exported {jobs} jobs to {output}", err=True)


@contextmanager
def _opened(path: Path | None) -> Iterator[TextIO]:
    """The file ``path`` opened for writing, or stdout (left open) when there is none."""
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as file:
        yield file
