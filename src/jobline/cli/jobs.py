"""Client-side commands: ``submit``, ``status``, ``cancel``, ``results`` and ``history``.

They talk to a running server through the SDK (:class:`jobline.Client`), so they work the same
against a laptop's ``jobline serve`` and a shared installation. API errors arrive as the server's
own :mod:`jobline.errors` class and end the command with ``error: <message>`` and exit code 1.

This module also holds the output helpers the server-side commands share (:func:`table`,
:func:`local_minute`, :func:`fail`, :func:`reported`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import httpx
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
from jobline.cli.output import fail, local_minute, reported, table
from jobline.client import TERMINAL, Client, Inputs
from jobline.errors import InvalidInputs, UnknownModel

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_LIMIT = 50  # history rows printed unless --limit says otherwise
NAME_WIDTH = 32  # characters of a job name the history table shows; names may run to 200

Url = Annotated[str, typer.Option("--url", envvar="JOBLINE_URL", help="the jobline server")]
Key = Annotated[str, typer.Option("--key", envvar="JOBLINE_KEY", help="your access key")]
JobRef = Annotated[str, typer.Argument(metavar="JOB", help="job UUID or serial number")]
AsJson = Annotated[bool, typer.Option("--json", help="print the server's JSON")]
Wait = Annotated[bool, typer.Option("--wait", help="wait for the job to end (progress on stderr)")]

PartSpec = tuple[str, str | None, str | bytes]  # source, input name (None: the only one), value


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    ndjson = "ndjson"


JOB_COLUMNS = tuple("SERIAL IDENTIFIER NAME MODEL USER STATUS TOTAL OK FAILED SUBMITTED".split())
# The fields of `history --format csv`, in order: counts spread out, model split in two.
CSV_COLUMNS = tuple(
    "serial identifier name description model model_version account user user_identifier"
    " access_key status category message total queued running succeeded failed canceled"
    " timed_out labels explain timeout_seconds args created_at submitted_at started_at"
    " finished_at updated_at queue_seconds elapsed_seconds cpu_seconds submission_bytes"
    " result_bytes".split()
)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    for command in (submit, status, cancel, results, download, history):
        app.command()(command)


@contextmanager
def connected(url: str, key: str) -> Iterator[Client]:
    """An SDK client for one command; API and network errors end the command."""
    with reported():
        try:
            with Client(url, key) as client:
                yield client
        except httpx.ConnectError:
            fail(f"cannot reach jobline at {url}")
        except httpx.HTTPError as exc:
            fail(f"request to {url} failed: {exc}")


def submit(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="model identifier, e.g. sentiment")],
    texts: Annotated[
        Repeated,
        typer.Argument(metavar="TEXT", help="texts for a one-input model: sources 0, 1, 2..."),
    ] = None,
    *,
    key: Key,
    url: Url = DEFAULT_URL,
    files: Annotated[
        Repeated,
        typer.Option(
            "--file",
            metavar="SOURCE[:NAME]=PATH",
            help="a file as input SOURCE (NAME may be left out for a one-input model); repeatable",
        ),
    ] = None,
    parts: Annotated[
        Repeated,
        typer.Option(
            "--input",
            metavar="SOURCE[:NAME]=TEXT",
            help="a text as part NAME of input SOURCE; repeatable",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="job name")] = "",
    version: Annotated[
        str | None, typer.Option(help="model version; the latest when left out")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="seconds per input; the model's default when left out")
    ] = None,
    labels: Annotated[Repeated, typer.Option("--label", help="repeatable")] = None,
    wait: Wait = False,
    as_json: AsJson = False,
) -> None:
    """Submit a job; prints its serial, identifier and status."""
    given: list[PartSpec] = [
        *((str(i), None, text) for i, text in enumerate(texts or ())),
        *(_file_part(spec) for spec in files or ()),
        *(_parse_part("--input", spec) for spec in parts or ()),
    ]
    with connected(url, key) as client:
        inputs: Inputs
        if files or parts:
            inputs = _named(client, model, version, given)
        else:
            inputs = texts or []  # the SDK numbers them and finds the model's one input
        job = client.submit(
            model, inputs, version=version, name=name, timeout=timeout, labels=labels or ()
        )
        if wait:
            job = _wait(client, job["identifier"])
    _show(job, as_json)


def status(
    job: JobRef, *, key: Key, url: Url = DEFAULT_URL, wait: Wait = False, as_json: AsJson = False
) -> None:
    """Show a job's status and input counts."""
    with connected(url, key) as client:
        found = _wait(client, job) if wait else client.get(job)
    _show(found, as_json)


def cancel(job: JobRef, *, key: Key, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Cancel a job; its queued and running inputs stop."""
    with connected(url, key) as client:
        found = client.cancel(job)
    _show(found, as_json)


def results(job: JobRef, *, key: Key, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Show each input of a job: source, status, outputs (compact JSON) or error, output files."""
    with connected(url, key) as client:
        found = client.results(job)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    typer.echo(_summary(found["job"]))
    width = max((len(item["source"]) for item in found["inputs"]), default=0)
    for item in found["inputs"]:
        outputs = json.dumps(item["outputs"], separators=(",", ":")) if item["outputs"] else ""
        typer.echo(f"{item['source']:<{width}}  {item['status']:<9}  {item['error'] or outputs}")
        for file in item["files"]:
            link = url.rstrip("/") + file["url"]
            typer.echo(f"  file {file['name']}  {file['size']} bytes  {file['media_type']}  {link}")


def download(
    job: JobRef,
    *,
    key: Key,
    url: Url = DEFAULT_URL,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="where to write the zip; default job-<serial>.zip"),
    ] = None,
) -> None:
    """Download a job's result folder (inputs, outputs, files) as one zip archive."""
    with connected(url, key) as client:
        serial = client.get(job)["serial"]
        data = client.download(serial)
    target = output or Path(f"job-{serial}.zip")
    target.write_bytes(data)
    typer.echo(f"wrote {target} ({len(data)} bytes)")


def history(
    ctx: typer.Context,
    *,
    key: Key,
    url: Url = DEFAULT_URL,
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
    per_page: Annotated[int | None, typer.Option(help="jobs fetched per request")] = None,
    limit: Annotated[int, typer.Option(min=0, help="stop after this many jobs; 0 for all")] = (
        DEFAULT_LIMIT
    ),
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.table,
) -> None:
    """List the jobs you may see, newest first, with the server's history filters."""
    with connected(url, key) as client:
        found = client.history(
            **history_filters(ctx), sort=sort, direction=direction, per_page=per_page
        )
        for line in format_rows(islice(found, limit or None), fmt):
            typer.echo(line)


def format_rows(jobs: Iterable[Mapping[str, Any]], fmt: Format) -> Iterator[str]:
    """The lines that print ``jobs`` (native API job objects) in ``fmt``.

    Every format but ``table`` streams: a whole history prints in constant memory.
    """
    if fmt is Format.table:
        yield from table(
            JOB_COLUMNS, map(_job_row, jobs), numeric={"SERIAL", "TOTAL", "OK", "FAILED"}
        )
    elif fmt is Format.ndjson:
        yield from (json.dumps(job) for job in jobs)
    elif fmt is Format.csv:
        yield from _csv_lines(jobs)
    else:
        yield from _json_array_lines(jobs)


def _summary(job: Mapping[str, Any]) -> str:
    """One line about a job: serial, identifier, status, how many inputs ended and how."""
    counts = job["counts"]
    ended = {
        kind.replace("_", " "): counts[kind]
        for kind in ("succeeded", "failed", "canceled", "timed_out")
        if counts[kind]
    }
    line = f"job {job['serial']}  {job['identifier']}  {job['status']}"
    line += f"  {sum(ended.values())}/{counts['total']} inputs ended"
    if ended:
        line += " (" + ", ".join(f"{n} {kind}" for kind, n in ended.items()) + ")"
    return f"{line}: {job['message']}" if job["message"] else line


def _show(job: Mapping[str, Any], as_json: bool) -> None:
    typer.echo(json.dumps(job, indent=2) if as_json else _summary(job))


def _wait(client: Client, job: str) -> dict[str, Any]:
    shown = ""

    def progress(found: dict[str, Any]) -> None:
        nonlocal shown
        line = _summary(found)
        # The final state goes to stdout; stderr gets only the changes on the way there.
        if found["status"] not in TERMINAL and line != shown:
            typer.echo(line, err=True)
            shown = line

    # No time limit: whoever waits stops waiting with Ctrl-C.
    return client.wait(job, timeout=math.inf, progress=progress)


def _parse_part(option: str, spec: str) -> tuple[str, str | None, str]:
    left, equals, value = spec.partition("=")
    source, colon, name = left.partition(":")
    if not equals or not source or (colon and not name):
        raise typer.BadParameter(
            f"{spec!r} is neither SOURCE=VALUE nor SOURCE:NAME=VALUE", param_hint=option
        )
    return source, name or None, value


def _file_part(spec: str) -> PartSpec:
    source, name, path = _parse_part("--file", spec)
    try:
        return source, name, Path(path).read_bytes()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path!r}: {exc.strerror}", param_hint="--file"
        ) from exc


def _named(
    client: Client, model: str, version: str | None, given: Iterable[PartSpec]
) -> dict[str, dict[str, str | bytes]]:
    """``{source: {input name: value}}``, naming parts given without a name after the model's
    one input."""
    inputs: dict[str, dict[str, str | bytes]] = {}
    only: str | None = None
    for source, name, value in given:
        if name is None:
            only = only or _only_input(client, model, version)
            name = only
        if name in inputs.setdefault(source, {}):
            raise typer.BadParameter(f"input {source!r} part {name!r} is given twice")
        inputs[source][name] = value
    return inputs


def _only_input(client: Client, model: str, version: str | None) -> str:
    described = client.model(model)
    wanted = version or described["latest_version"]
    chosen = next((v for v in described["versions"] if v["version"] == wanted), None)
    if chosen is None:
        raise UnknownModel(f"model {model!r} has no version {wanted!r}", param="version")
    names = [spec["name"] for spec in chosen["inputs"]]
    if len(names) != 1:
        raise InvalidInputs(
            f"model {model!r} takes several inputs ({', '.join(names)}); "
            "name each part as SOURCE:NAME=...",
            param="input",
        )
    return str(names[0])


def _job_row(job: Mapping[str, Any]) -> tuple[object, ...]:
    counts = job["counts"]
    name = " ".join(job["name"].split())  # a newline or tab in a name would break the row
    if len(name) > NAME_WIDTH:
        name = name[: NAME_WIDTH - 1] + "…"
    return (
        job["serial"],
        job["identifier"][:8],
        name,
        job["model"]["identifier"],
        job["user"],
        job["status"],
        counts["total"],
        counts["succeeded"],
        counts["failed"],
        local_minute(job["submitted_at"]),
    )


def _flat(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job as one level of fields: counts spread out, model as identifier and version."""
    row = {field: value for field, value in job.items() if field not in ("counts", "model")}
    row.update(job["counts"])
    row.update(
        model=job["model"]["identifier"],
        model_version=job["model"]["version"],
        labels=",".join(job["labels"]),
        args=json.dumps(job["args"]) if job["args"] else "",
    )
    return row


def _csv_lines(jobs: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")

    def record() -> str:
        # One whole record (a quoted field may hold newlines), without its line end.
        text = buffer.getvalue()[:-1]
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writeheader()
    yield record()
    for job in jobs:
        writer.writerow(_flat(job))
        yield record()


def _json_array_lines(jobs: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    yield "["
    previous: str | None = None
    for job in jobs:
        if previous is not None:
            yield previous + ","
        previous = "  " + json.dumps(job)
    if previous is not None:
        yield previous
    yield "]"
