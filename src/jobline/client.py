"""The jobline SDK: a small synchronous client for the native API, on httpx.

It imports only ``jobline.errors`` and ``jobline.domain``, so installing jobline for the SDK
needs no server stack::

    from jobline import Client

    with Client("http://127.0.0.1:8000", "<access key>") as client:
        job = client.submit("sentiment", ["I love it", "I hate it", "It is a chair"])
        job = client.wait(job["identifier"])
        for item in client.results(job["identifier"])["inputs"]:
            print(item["source"], item["status"], item["outputs"])
        for row in client.history(status="TERMINATED", model="sentiment"):
            print(row["serial"], row["status"])

Every API error is raised as the same ``jobline.errors`` class the server raised.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, overload

import httpx

from jobline import errors

DEFAULT_TIMEOUT = 30.0  # seconds, per HTTP request
POLL_INTERVAL = 0.25  # seconds between status checks in wait()
TERMINAL = frozenset({"COMPLETED", "ERROR", "CANCELED", "TIMEDOUT", "REJECTED"})
_CSV_LINE_END = "\r\n"  # how the server ends CSV records (RFC 4180)

Inputs = Mapping[str, Mapping[str, str | bytes]] | Sequence[str | bytes]
QueryValue = str | int | float | bool | date | datetime | Sequence[str | int] | None


class Client:
    """A connection to a jobline server, authenticated by an access key."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | None = None,
        name: str = "",
        description: str = "",
        explain: bool = False,
        timeout: float | None = None,
        job_timeout: float | None = None,
        labels: Iterable[str] = (),
        args: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Submit a job and return it.

        ``inputs`` is ``{source: {input name: text or bytes}}``, or, for a model with one
        input, a list of texts or bytes (sources "0", "1", ...).
        """
        body = {
            "model": model,
            "version": version,
            "name": name,
            "description": description,
            "explain": explain,
            "timeout": timeout,
            "job_timeout": job_timeout,
            "labels": list(labels),
            "args": dict(args or {}),
            "inputs": self._inputs(model, version, inputs),
        }
        return self._json("POST", "/v1/jobs", json=body)

    def _inputs(self, model: str, version: str | None, inputs: Inputs) -> dict[str, dict[str, Any]]:
        if isinstance(inputs, Mapping):
            return {
                str(source): {name: _wire(value) for name, value in parts.items()}
                for source, parts in inputs.items()
            }
        described = self.model(model)
        chosen = next(
            (
                v
                for v in described["versions"]
                if v["version"] == (version or described["latest_version"])
            ),
            described["versions"][-1],
        )
        names = [spec["name"] for spec in chosen["inputs"]]
        if len(names) != 1:
            raise errors.InvalidInputs(
                f"model {model!r} takes several inputs ({', '.join(names)}); "
                "pass {source: {input name: value}}",
                param="inputs",
            )
        return {str(i): {names[0]: _wire(value)} for i, value in enumerate(inputs)}

    def get(self, job: str | int) -> dict[str, Any]:
        """A job by UUID or serial."""
        return self._json("GET", f"/v1/jobs/{job}")

    def wait(
        self,
        job: str | int,
        *,
        timeout: float = 600.0,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job ends and return it; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get(job)
            if progress is not None:
                progress(found)
            if found["status"] in TERMINAL:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job} is still {found['status']} after {timeout} s")
            time.sleep(POLL_INTERVAL)

    def cancel(self, job: str | int) -> dict[str, Any]:
        return self._json("POST", f"/v1/jobs/{job}/cancel")

    def results(self, job: str | int) -> dict[str, Any]:
        """The job and, per input, its status, outputs, files, error and timings."""
        return self._json("GET", f"/v1/jobs/{job}/results")

    def events(self, job: str | int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", f"/v1/jobs/{job}/events").json()
        return result

    def output_file(self, job: str | int, source: str, name: str) -> bytes:
        response = self._request("GET", f"/v1/jobs/{job}/inputs/{source}/outputs/{name}")
        return response.content

    def collected_file(self, job: str | int, name: str) -> bytes:
        """One file of a job's collected result (models that split and collect)."""
        return self._request("GET", f"/v1/jobs/{job}/outputs/{name}").content

    def download(self, job: str | int) -> bytes:
        """A job's result folder as a zip archive: each input's parts, outputs and files (a
        folder per input when there are several) and the collected files."""
        return self._request("GET", f"/v1/jobs/{job}/folder.zip").content

    def history_page(self, **query: QueryValue) -> dict[str, Any]:
        """One page of history: ``jobs``, ``has_more``, ``next_cursor``, ``total``, ``query``.

        Filters are the API's parameter names: ``user``, ``access_key``, ``start``, ``end``,
        ``status``, ``model``, ``job_id``, ``sort``, ``direction``, ``per_page``, ``cursor``...
        Lists become repeated parameters; dates and datetimes are sent as ISO 8601.
        """
        return self._json("GET", "/v1/jobs", params=_params(query))

    def history(self, **query: QueryValue) -> Iterator[dict[str, Any]]:
        """Every job matching the filters, across all pages (keyset cursor, stable while new
        jobs arrive)."""
        query.pop("page", None)
        while True:
            page = self.history_page(**query)
            yield from page["jobs"]
            if not page["has_more"]:
                return
            query["cursor"] = page["next_cursor"]

    def stats(self, group_by: str | Sequence[str] = (), **filters: QueryValue) -> dict[str, Any]:
        """Stats over the history's filters, grouped by ``group_by`` (``status``, ``model``,
        ``user``, ``access_key``, ``account``, ``day``, ``week``, ``month``; one or several).

        The answer has ``groups`` (each with its ``key``, ``jobs``, ``inputs``, the inputs'
        ends, ``cpu_seconds`` and ``p50``/``p95`` of ``queue_seconds`` and
        ``elapsed_seconds``) and the effective ``query``. Filters are those of :meth:`history`.
        """
        query = {"group_by": [group_by] if isinstance(group_by, str) else group_by, **filters}
        return self._json("GET", "/v1/jobs/stats", params=_params(query))

    @overload
    def export(
        self, format: Literal["ndjson"] = "ndjson", **filters: QueryValue
    ) -> Iterator[dict[str, Any]]: ...

    @overload
    def export(self, format: Literal["csv"], **filters: QueryValue) -> Iterator[str]: ...

    def export(self, format: str = "ndjson", **filters: QueryValue) -> Iterator[Any]:
        """Every job matching the filters (those of :meth:`history`, with ``sort`` and
        ``direction``), streamed: as job dicts for ``ndjson``, as CSV records for ``csv`` (the
        header first; a record is one line unless a quoted field holds a line break). Like
        any generator it sends the request, and raises an API error, when first iterated."""
        params = tuple(_params({"format": format, **filters}))
        with self._http.stream("GET", "/v1/jobs/export", params=params) as response:
            _check(response)
            if format == "csv":
                yield from _csv_records(response.iter_text())
            else:
                yield from (json.loads(line) for line in response.iter_lines() if line)

    def models(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/v1/models")["models"]
        return result

    def model(self, identifier: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/models/{identifier}")

    def workers(self) -> list[dict[str, Any]]:
        """Every worker registered with the server, embedded or remote (admins only): name,
        host, models (None: every model), slots, busy, last heartbeat, and whether it is
        alive (heard from within three heartbeat intervals)."""
        result: list[dict[str, Any]] = self._json("GET", "/v1/workers")["workers"]
        return result

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self._request(method, path, **kwargs).json()
        return body

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        _check(response)
        return response


def _check(response: httpx.Response) -> None:
    """Raise the error an unsuccessful response carries, as the server's own class."""
    if response.is_success:
        return
    response.read()  # a streamed response has not read its body yet
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        raise errors.from_dict(body)
    raise errors.JoblineError(f"HTTP {response.status_code}: {response.text[:200]}")


def _csv_records(text: Iterable[str]) -> Iterator[str]:
    """CSV records, without their line end, from streamed CSV text; a line end inside a quoted
    field (an odd number of quotes before it) belongs to the field."""
    pending = ""
    for chunk in text:
        pending += chunk
        start = 0
        while (end := pending.find(_CSV_LINE_END, start)) >= 0:
            if pending.count('"', 0, end) % 2:
                start = end + len(_CSV_LINE_END)
                continue
            yield pending[:end]
            pending = pending[end + len(_CSV_LINE_END) :]
            start = 0
    if pending:
        yield pending


def _wire(value: str | bytes) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _params(query: Mapping[str, QueryValue]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, date | datetime):
                params.append((name, item.isoformat()))
            elif isinstance(item, bool):
                params.append((name, "true" if item else "false"))
            else:
                params.append((name, str(item)))
    return params
