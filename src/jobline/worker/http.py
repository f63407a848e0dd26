"""A remote worker's ``WorkSource``: a jobline server's ``/v1/work`` API, over HTTP.

Claims long-poll: while the worker holds no input, a claim waits at the server (up to
``long_poll_seconds``) and is answered the moment work is queued, so the long poll is an idle
remote worker's wake-up; when it ends empty the worker is told to ask again at once. While
the worker holds inputs, claims return at once, and each heartbeat says whether more work
waits, which is how a busy worker with free slots hears of it.

Network trouble (no connection, a timeout, 502/503/504 from a proxy, or from a server whose
database is away) is retried with a growing pause and never raised, so no outcome is lost to
a blip. 401 and 403 mean the key is not (or no longer) one a worker may use: the error is kept
in ``refused`` and every later call raises it at once, so whoever runs the worker can stop it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from jobline import errors
from jobline.domain.status import InputStatus
from jobline.domain.work import Claim, Outcome
from jobline.domain.workers import WorkerInfo

log = logging.getLogger(__name__)

LONG_POLL_SECONDS = 20.0  # how long an idle worker's claim waits at the server for work
REQUEST_SECONDS = 60.0  # one request, uploads included (a long poll gets its wait on top)
FIRST_RETRY_SECONDS = 0.5  # pause after the first failed attempt; it doubles each time
MAX_RETRY_SECONDS = 15.0
RETRIED_STATUSES = frozenset({502, 503, 504})
REFUSED_STATUSES = frozenset({401, 403})
REPORT_BATCH = 100  # outcomes per completion request (the server caps a request's parts)
INTERRUPT_POLL_SECONDS = 0.1  # how often a long poll in progress checks for an interrupt


class HttpWorkSource:
    """Work from the jobline server at ``url``, with a worker key (or an admin's key).

    ``long_poll_seconds=0`` makes every claim return at once: what a worker in burst mode
    wants, since its last, empty claim would otherwise wait out the long poll.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        long_poll_seconds: float = LONG_POLL_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.long_poll_seconds = long_poll_seconds
        self.refused: errors.JoblineError | None = None
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=REQUEST_SECONDS,
            transport=transport,
        )
        self._listener: Callable[[], None] | None = None
        self._name = ""  # the worker's, from its first claim or heartbeat
        self._held: set[int] = set()  # inputs claimed and not reported yet
        self._interrupted = threading.Event()
        self._closed = threading.Event()

    def claim(self, worker: WorkerInfo, limit: int) -> list[Claim]:
        self._name = worker.name
        wait = 0.0 if self._held or self._interrupted.is_set() else self.long_poll_seconds
        body = {**_fields(worker), "limit": limit, "wait_seconds": wait}
        timeout = REQUEST_SECONDS + wait

        def ask() -> httpx.Response | None:
            try:
                return self._call("POST", "/v1/work/claim", json=body, timeout=timeout)
            except _GaveUp:
                return None

        response = self._interruptible(ask) if wait else ask()
        if response is None:
            return []
        claims = [Claim(**item) for item in response.json()["claims"]]
        self._held.update(claim.input_id for claim in claims)
        if not claims and wait:
            self._announce()  # the long poll ran out: start the next one at once
        return claims

    def read_part(self, blob_key: str) -> bytes:
        path = f"/v1/work/parts/{quote(blob_key, safe='/')}"
        return self._call("GET", path, params={"worker": self._name}).content

    def complete(self, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
        accepted: list[bool] = []
        try:
            for start in range(0, len(done), REPORT_BATCH):
                accepted += self._report(done[start : start + REPORT_BATCH])
        finally:
            # Reported, or lost to an error the worker loop logs: either way no longer held.
            self._held.difference_update(claim.input_id for claim, _ in done)
        if not self._held:
            self._announce()  # idle again: long-poll for work now, not on the next idle tick
        return accepted

    def heartbeat(
        self, worker: WorkerInfo, input_ids: Sequence[int], started: Sequence[int] = ()
    ) -> list[int]:
        self._name = worker.name
        body = {**_fields(worker), "input_ids": list(input_ids), "started": list(started)}
        try:
            answer = self._call("POST", "/v1/work/heartbeat", json=body).json()
        except _GaveUp:
            return []  # it holds nothing: no lease to keep, no input to stop
        if answer["work"]:
            self._announce()
        return [int(input_id) for input_id in answer["stop"]]

    def on_work(self, listener: Callable[[], None]) -> None:
        self._listener = listener

    def interrupt(self) -> None:
        """Stop waiting for work: a long poll in progress returns no work at once, and later
        claims do not wait (what a worker asked to stop wants)."""
        self._interrupted.set()

    def close(self) -> None:
        """Give up: calls retrying a lost connection end with ServiceUnavailable."""
        self._interrupted.set()
        self._closed.set()
        self._http.close()

    def _announce(self) -> None:
        if self._listener is not None:
            self._listener()

    def _report(self, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
        response = self._call(
            "POST", "/v1/work/complete", files=_report_parts(done), allow=frozenset({413})
        )
        if response.status_code != 413:
            return [bool(ok) for ok in response.json()["accepted"]]
        if len(done) > 1:
            half = len(done) // 2
            return self._report(done[:half]) + self._report(done[half:])
        (claim, outcome), limit = done[0], _error(response)
        if not outcome.files and not outcome.outputs:
            raise limit  # even the bare report is over the server's limit
        size = sum(len(data) for data in outcome.files.values())
        log.warning("outputs of input %s are too large to upload: %s", claim.input_id, limit)
        failed = replace(
            outcome,
            status=InputStatus.FAILED,
            outputs={},
            files={},
            error=f"its outputs ({size} bytes of files) could not be uploaded: {limit.message}",
        )
        return self._report([(claim, failed)])

    def _interruptible(self, call: Callable[[], httpx.Response | None]) -> httpx.Response | None:
        """``call`` in a helper thread, so ``interrupt`` can walk away from it (a long poll
        cannot be cut short from this side); None when interrupted."""
        answer: list[httpx.Response | Exception | None] = []
        finished = threading.Event()

        def run() -> None:
            try:
                answer.append(call())
            except Exception as exc:
                answer.append(exc)
            finished.set()

        threading.Thread(target=run, name="jobline-claim", daemon=True).start()
        while not finished.wait(INTERRUPT_POLL_SECONDS):
            if self._interrupted.is_set():
                return None
        if isinstance(answer[0], Exception):
            raise answer[0]
        return answer[0]

    def _call(
        self,
        method: str,
        path: str,
        *,
        allow: frozenset[int] = frozenset(),
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request, retried through network trouble (until closed, or, holding no
        input, until interrupted); other failures raise the server's error (as its
        :mod:`jobline.errors` class)."""
        pause = FIRST_RETRY_SECONDS
        while True:
            if self.refused is not None:
                raise self.refused
            if self._closed.is_set():
                raise errors.ServiceUnavailable(f"the worker stopped talking to {self.url}")
            try:
                response = self._http.request(
                    method, path, timeout=timeout or httpx.USE_CLIENT_DEFAULT, **kwargs
                )
            except httpx.TransportError as exc:
                trouble = f"cannot reach {self.url}: {exc or type(exc).__name__}"
            else:
                if response.is_success or response.status_code in allow:
                    return response
                error = _error(response)
                if response.status_code in REFUSED_STATUSES:
                    self.refused = error
                if response.status_code not in RETRIED_STATUSES:
                    raise error
                trouble = f"{self.url} answered {response.status_code}: {error.message}"
            if self._interrupted.is_set() and not self._held:
                raise _GaveUp(f"stopped while {self.url} was unreachable")
            log.warning("%s %s: %s; retrying in %.1f s", method, path, trouble, pause)
            # Results to report are worth waiting for until closed; anything else is not.
            (self._closed if self._held else self._interrupted).wait(pause)
            pause = min(pause * 2, MAX_RETRY_SECONDS)


class _GaveUp(errors.ServiceUnavailable):
    """The server could not be reached, and the worker, stopping and holding nothing, stopped
    trying."""


def _fields(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "worker": worker.name,
        "host": worker.host,
        "pid": worker.pid,
        "models": None if worker.models is None else list(worker.models),
        "slots": worker.slots,
        "busy": worker.busy,
    }


def _report_parts(done: Sequence[tuple[Claim, Outcome]]) -> list[tuple[str, Any]]:
    """The multipart body of a report: the outcomes as JSON, then each output file as a part
    named ``<input id>/<file name>``."""
    report = {
        "worker": done[0][0].lease_owner,
        "outcomes": [
            {
                "input_id": claim.input_id,
                "job_id": claim.job_id,
                "job_identifier": claim.job_identifier,
                "lease_owner": claim.lease_owner,
                "status": outcome.status.value,
                "started_at": outcome.started_at.isoformat(),
                "finished_at": outcome.finished_at.isoformat(),
                "cpu_seconds": outcome.cpu_seconds,
                "peak_memory_kib": outcome.peak_memory_kib,
                "outputs": outcome.outputs,
                "error": outcome.error,
            }
            for claim, outcome in done
        ],
    }
    parts: list[tuple[str, Any]] = [
        ("report", ("report.json", json.dumps(report).encode(), "application/json"))
    ]
    for claim, outcome in done:
        for name, data in outcome.files.items():
            parts.append((f"{claim.input_id}/{name}", (name, data, "application/octet-stream")))
    return parts


def _error(response: httpx.Response) -> errors.JoblineError:
    """The error an unsuccessful answer carries, as the server's own class."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return errors.from_dict(body)
    return errors.JoblineError(f"HTTP {response.status_code}: {response.text[:200]}")
