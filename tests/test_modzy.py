"""The Modzy dialect over the ASGI app, on both databases: shapes, rules and errors.

The unmodified ``modzy-sdk`` against a real server is in ``test_modzy_sdk.py``; here plain HTTP
checks what the SDK does not look at closely: every field of the Job object against the seed's
schema, the open-job upload flow step by step, history parameters and error bodies.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from jobline.domain.records import Role
from jobline.domain.status import MODZY
from tests.asgi import ASGITransport
from tests.conftest import MakeUser

Drain = Callable[[], int]
MakeModzy = Callable[[str], httpx.Client]

# The Job object of Modzy's job history call (seeds/000_dad5c89e20bc2518.txt), except that
# status takes the SDK's spellings: the seed's enum lacks IN_PROGRESS and ERROR and spells
# CANCELLED, while the SDK and Modzy's job documentation use CANCELED.
_STRING = {"type": "string"}
JOB_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-06/schema#",
    "type": "array",
    "items": {"$ref": "#/definitions/Job"},
    "definitions": {
        "Job": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "jobIdentifier": {"type": "string", "format": "uuid"},
                "submittedBy": {"$ref": "#/definitions/SubmittedBy"},
                "accountIdentifier": {"$ref": "#/definitions/AccountIdentifier"},
                "model": {"$ref": "#/definitions/Model"},
                "status": {"$ref": "#/definitions/Status"},
                "createdAt": {"type": "string", "format": "date-time"},
                "updatedAt": {"type": "string", "format": "date-time"},
                "submittedAt": {"type": "string", "format": "date-time"},
                "total": {"type": "integer"},
                "pending": {"type": "integer"},
                "completed": {"type": "integer"},
                "failed": {"type": "integer"},
                "elapsedTime": {"type": "integer"},
                "queueTime": {"type": "integer"},
                "user": {"$ref": "#/definitions/User"},
                "jobInputs": {"type": "array", "items": {}},
                "explain": {"type": "boolean"},
            },
            "required": [
                "accountIdentifier",
                "completed",
                "createdAt",
                "explain",
                "failed",
                "jobIdentifier",
                "jobInputs",
                "model",
                "pending",
                "status",
                "submittedAt",
                "submittedBy",
                "total",
                "updatedAt",
            ],
        },
        "Model": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "identifier": _STRING,
                "version": {"$ref": "#/definitions/Version"},
                "name": _STRING,
            },
            "required": ["identifier", "name", "version"],
        },
        "User": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "identifier": {"type": "string", "format": "uuid"},
                "externalIdentifier": _STRING,
                "firstName": _STRING,
                "lastName": _STRING,
                "email": _STRING,
                "accessKeys": {"type": "array", "items": {"$ref": "#/definitions/AccessKey"}},
                "status": _STRING,
                "title": _STRING,
            },
            "required": [
                "accessKeys",
                "email",
                "externalIdentifier",
                "firstName",
                "identifier",
                "lastName",
                "status",
                "title",
            ],
        },
        "AccessKey": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"prefix": _STRING, "isDefault": {"type": "boolean"}},
            "required": ["isDefault", "prefix"],
        },
        "AccountIdentifier": _STRING,
        "Version": _STRING,
        "Status": {"type": "string", "enum": sorted(set(MODZY.values()))},
        "SubmittedBy": _STRING,
    },
}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
REMOTE_TYPES = ("aws-s3", "azureblob", "storage-grid", "jdbc")


def check_jobs(items: list[dict[str, Any]]) -> None:
    """Raise unless every item is a Job object of the seed's schema, times in RFC 3339 + ms."""
    jsonschema.validate(items, JOB_SCHEMA, format_checker=jsonschema.FormatChecker())
    for item in items:
        for name in ("createdAt", "updatedAt", "submittedAt"):
            assert TIME.fullmatch(item[name]), item[name]


@pytest.fixture
def make_modzy(app: FastAPI) -> Iterator[MakeModzy]:
    """Plain HTTP to the app in-process, as a Modzy client sends it (``ApiKey`` header)."""
    opened: list[httpx.Client] = []

    def make(key: str) -> httpx.Client:
        client = httpx.Client(
            base_url="http://testserver/api",
            transport=ASGITransport(app),
            headers={"Authorization": f"ApiKey {key}"},
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def ann(make_user: MakeUser, make_modzy: MakeModzy) -> httpx.Client:
    return make_modzy(make_user("ann")[1])


def ok(response: httpx.Response) -> Any:
    assert 200 <= response.status_code < 300, response.text
    return response.json()


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statusCode", "status", "message"}
    assert body["statusCode"] == status and body["status"] == httpx.codes.get_reason_phrase(status)
    message: str = body["message"]
    return message


def text_job(model: str, sources: dict[str, dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "model": {"identifier": model, "version": "1.0.0"},
        "explain": False,
        "input": {"type": "text", "sources": sources},
        **extra,
    }


def test_text_job_is_a_schema_job_object_and_its_results_read_like_modzy(
    ann: httpx.Client, drain: Drain
) -> None:
    sources = {"good": {"input": "I love this"}, "bad": {"input": "I hate this"}}
    job = ok(ann.post("/jobs", json=text_job("sentiment", sources)))
    check_jobs([job])
    assert job["status"] == "SUBMITTED" and job["total"] == 2 and job["pending"] == 2
    assert job["jobInputs"] == [{"identifier": "good"}, {"identifier": "bad"}]
    assert job["model"] == {
        "identifier": "sentiment",
        "version": "1.0.0",
        "name": "Sentiment Analysis",
    }
    unfinished = ok(ann.get(f"/results/{job['jobIdentifier']}"))
    assert unfinished["finished"] is False and unfinished["results"] == {}
    assert drain() == 2
    done = ok(ann.get(f"/jobs/{job['jobIdentifier']}"))
    check_jobs([done])
    assert done["status"] == "COMPLETED" and done["completed"] == 2 and done["pending"] == 0
    assert done["queueTime"] >= 0 and done["elapsedTime"] >= 0
    results = ok(ann.get(f"/results/{job['jobIdentifier']}"))
    assert results["finished"] is True and results["failures"] == {}
    assert list(results["results"]) == ["good", "bad"]
    good = results["results"]["good"]
    assert good["status"] == "SUCCESSFUL" and TIME.fullmatch(good["endTime"])
    first = good["results.json"]["data"]["result"]["classPredictions"][0]
    assert first["class"] == "positive"
    assert (
        results["results"]["bad"]["results.json"]["data"]["result"]["classPredictions"][0]["class"]
        == "negative"
    )


def test_failed_inputs_are_failures_with_their_error(ann: httpx.Client, drain: Drain) -> None:
    job = ok(ann.post("/jobs", json=text_job("fail", {"x": {"input": "anything"}})))
    drain()
    results = ok(ann.get(f"/results/{job['jobIdentifier']}"))
    assert results["finished"] is True and results["results"] == {}
    assert results["failures"]["x"]["status"] == "FAILED"
    assert "always fails" in results["failures"]["x"]["error"]
    assert ok(ann.get(f"/jobs/{job['jobIdentifier']}"))["status"] == "ERROR"


def test_embedded_inputs_are_data_uris(ann: httpx.Client, drain: Drain) -> None:
    payload = "naïve bytes".encode()
    uri = "data:application/octet-stream;base64," + base64.b64encode(payload).decode()
    body = {
        "model": {"identifier": "echo", "version": "1.0.0"},
        "explain": False,
        "input": {"type": "embedded", "sources": {"a": {"input": uri}}},
    }
    job = ok(ann.post("/jobs", json=body))
    drain()
    results = ok(ann.get(f"/results/{job['jobIdentifier']}"))
    assert results["results"]["a"]["results.json"]["text"] == "naïve bytes"
    body["input"]["sources"] = {"a": {"input": "data:text/plain;base64,%%%"}}  # type: ignore[index]
    assert "input.sources.a.input" in error(ann.post("/jobs", json=body), 400)
    body["input"]["sources"] = {"a": {"input": "plain text"}}  # type: ignore[index]
    assert "not a data URI" in error(ann.post("/jobs", json=body), 400)


@pytest.mark.parametrize("kind", REMOTE_TYPES)
def test_inputs_stored_elsewhere_are_refused(ann: httpx.Client, kind: str) -> None:
    body = {
        "model": {"identifier": "echo", "version": "1.0.0"},
        "explain": False,
        "input": {"type": kind, "sources": {"a": {"input": {"bucket": "b", "key": "/k"}}}},
    }
    message = error(ann.post("/jobs", json=body), 400)
    assert "input type not supported by this server" in message and kind in message


def test_bad_submissions_are_400_naming_what_is_wrong(ann: httpx.Client) -> None:
    message = error(ann.post("/jobs", json=text_job("nope", {"a": {"input": "x"}})), 400)
    assert "nope" in message and "sentiment" in message
    body = text_job("echo", {"a": {"input": "x"}})
    body["model"]["version"] = "9.9"
    assert "9.9" in error(ann.post("/jobs", json=body), 400)
    assert "missing ['input']" in error(ann.post("/jobs", json=text_job("echo", {"a": {}})), 400)
    assert "invalid job" in error(ann.post("/jobs", content=b"{not json"), 400)
    message = error(ann.post("/jobs", json={"explain": False}), 400)
    assert "model" in message
    late = text_job("echo", {"a": {"input": "x"}}, timeout=-5)
    assert "timeout" in error(ann.post("/jobs", json=late), 400)
    ok(ann.post("/jobs", json=text_job("echo", {"a": {"input": "x"}}, timeout=0)))  # 0: none


def test_open_job_takes_chunked_uploads_and_runs_only_once_closed(
    ann: httpx.Client, drain: Drain
) -> None:
    opened = ok(ann.post("/jobs", json={"model": {"identifier": "echo", "version": "1.0.0"}}))
    check_jobs([opened])
    ident = opened["jobIdentifier"]
    assert opened["status"] == "OPEN" and opened["total"] == 0
    features = ok(ann.get("/jobs/features"))
    assert re.fullmatch(r"\d+K", features["input_chunk_maximum_size"])
    for chunk in (b"Hello, ", b"world"):
        ok(ann.post(f"/jobs/{ident}/doc-1/input", files={"input": ("input", chunk)}))
    second = ok(ann.post(f"/jobs/{ident}/doc-2/input", files={"input": ("input", b"again")}))
    assert second["status"] == "OPEN"
    assert (second["total"], second["pending"]) == (2, 2)
    assert second["jobInputs"] == [{"identifier": "doc-1"}, {"identifier": "doc-2"}]
    assert drain() == 0  # nothing of an OPEN job runs
    closed = ok(ann.post(f"/jobs/{ident}/close"))
    assert closed["status"] == "SUBMITTED"
    assert closed["submittedAt"] >= closed["createdAt"]
    assert drain() == 2
    results = ok(ann.get(f"/results/{ident}"))
    assert results["results"]["doc-1"]["results.json"]["text"] == "Hello, world"
    assert results["results"]["doc-2"]["results.json"]["text"] == "again"
    assert results["inputSize"] == len(b"Hello, worldagain")
    assert "not OPEN" in error(ann.post(f"/jobs/{ident}/close"), 409)
    late = ann.post(f"/jobs/{ident}/doc-3/input", files={"input": ("input", b"late")})
    assert "COMPLETED" in error(late, 409)


def test_uploads_are_checked_against_the_model(ann: httpx.Client) -> None:
    ident = ok(ann.post("/jobs", json={"model": {"identifier": "echo"}}))["jobIdentifier"]
    wrong = ann.post(f"/jobs/{ident}/a/text", files={"input": ("input", b"x")})
    assert "unexpected ['text']" in error(wrong, 400)
    no_part = ann.post(f"/jobs/{ident}/a/input", files={"other": ("other", b"x")})
    assert "'input'" in error(no_part, 400)
    ok(ann.post(f"/jobs/{ident}/a/input", files={"input": ("input", b"x" * 600_000)}))
    too_big = ann.post(f"/jobs/{ident}/a/input", files={"input": ("input", b"x" * 600_000)})
    assert "1000000 bytes" in error(too_big, 413)
    job = ok(ann.get(f"/jobs/{ident}"))
    assert job["total"] == 1 and job["status"] == "OPEN"


def test_an_empty_open_job_cannot_be_closed_but_can_be_canceled(ann: httpx.Client) -> None:
    ident = ok(ann.post("/jobs", json={"model": {"identifier": "echo"}}))["jobIdentifier"]
    assert "at least one input" in error(ann.post(f"/jobs/{ident}/close"), 400)
    assert ok(ann.get(f"/jobs/{ident}"))["status"] == "OPEN"
    ok(ann.post(f"/jobs/{ident}/a/input", files={"input": ("input", b"x")}))
    canceled = ok(ann.delete(f"/jobs/{ident}"))
    assert canceled["status"] == "CANCELED" and canceled["pending"] == 0


def test_cancel_returns_the_job_canceled_or_as_it_ended(ann: httpx.Client, drain: Drain) -> None:
    queued = ok(ann.post("/jobs", json=text_job("echo", {"a": {"input": "x"}})))
    canceled = ok(ann.delete(f"/jobs/{queued['jobIdentifier']}"))
    check_jobs([canceled])
    assert canceled["status"] == "CANCELED"
    assert ok(ann.get(f"/results/{queued['jobIdentifier']}"))["failures"]["a"]["status"] == (
        "CANCELED"
    )
    done = ok(ann.post("/jobs", json=text_job("echo", {"a": {"input": "y"}})))
    drain()
    assert ok(ann.delete(f"/jobs/{done['jobIdentifier']}"))["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "access key is required"),
        ("Bearer AAAAAAAAAAAAAAAAAAAA.wrong", "ApiKey <prefix>.<secret>"),
        ("ApiKey not-a-key", "malformed"),
        ("ApiKey AAAAAAAAAAAAAAAAAAAA.wrong", "unknown access key"),
    ],
)
def test_missing_or_bad_keys_are_401_in_modzy_shape(
    app: FastAPI, header: str | None, fragment: str
) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as client:
        response = client.get("/api/jobs/history", headers=headers)
    assert fragment in error(response, 401)
    assert response.headers["WWW-Authenticate"] == "ApiKey"


def test_other_users_jobs_are_404_and_the_root_models_probe_fails(
    app: FastAPI, make_user: MakeUser, make_modzy: MakeModzy
) -> None:
    ann, bob = make_modzy(make_user("ann")[1]), make_modzy(make_user("bob")[1])
    ident = ok(ann.post("/jobs", json=text_job("echo", {"a": {"input": "x"}})))["jobIdentifier"]
    for call in (bob.get, bob.delete):
        assert ident in error(call(f"/jobs/{ident}"), 404)
    error(bob.get(f"/results/{ident}"), 404)
    error(bob.post(f"/jobs/{ident}/close"), 404)
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as client:
        probe = client.get("/models", headers=ann.headers)
    assert probe.status_code == 404  # so the SDK moves on to /api


def test_models_versions_and_samples(ann: httpx.Client, drain: Drain) -> None:
    listed = ok(ann.get("/models"))
    assert {m["modelId"] for m in listed} >= {"echo", "sentiment", "sleep", "fail"}
    assert [m["modelId"] for m in ok(ann.get("/models?name=sentiment+ana"))] == ["sentiment"]
    assert ok(ann.get("/models?isActive=False")) == []
    assert len(ok(ann.get("/models?per-page=2&page=1"))) == 2
    assert "author" in error(ann.get("/models?author=someone"), 400)
    assert ok(ann.get("/models/requirements/account")) == []
    model = ok(ann.get("/models/sentiment"))
    assert model["name"] == "Sentiment Analysis" and model["latestVersion"] == "1.0.0"
    assert [v["version"] for v in ok(ann.get("/models/sentiment/versions"))] == ["1.0.0"]
    version = ok(ann.get("/models/sentiment/versions/1.0.0"))
    assert version["inputs"][0]["name"] == "input"
    assert version["inputs"][0]["acceptedMediaTypes"] == "text/plain"
    assert version["outputs"][0]["mediaType"] == "application/json"
    assert version["timeout"]["run"] == 60_000
    sample = ok(ann.get("/models/sentiment/versions/1.0.0/sample-input"))
    job = ok(ann.post("/jobs", json=sample))  # the sample is a job body that is accepted as is
    assert drain() == 1
    assert ok(ann.get(f"/jobs/{job['jobIdentifier']}"))["status"] == "COMPLETED"
    output = ok(ann.get("/models/sentiment/versions/1.0.0/sample-output"))
    assert "results.json" in output["results"]["my-input"]
    assert "nope" in error(ann.get("/models/nope"), 404)
    assert "9.9" in error(ann.get("/models/sentiment/versions/9.9"), 404)


def _submit(client: httpx.Client, model: str = "echo", text: str = "x") -> str:
    job = ok(client.post("/jobs", json=text_job(model, {"a": {"input": text}})))
    return str(job["jobIdentifier"])


def test_history_pages_default_to_ten_oldest_first(ann: httpx.Client) -> None:
    ids = [_submit(ann) for _ in range(12)]
    first = ok(ann.get("/jobs/history?status=all"))
    check_jobs(first)
    assert [j["jobIdentifier"] for j in first] == ids[:10]
    assert all(j["jobInputs"] == [] for j in first)
    assert ok(ann.get("/jobs/history?page=0")) == ok(ann.get("/jobs/history?page=1"))
    assert [j["jobIdentifier"] for j in ok(ann.get("/jobs/history?page=2"))] == ids[10:]
    newest = ok(ann.get("/jobs/history?direction=desc&per-page=3"))
    assert [j["jobIdentifier"] for j in newest] == ids[::-1][:3]


def test_history_user_object_carries_the_access_keys(
    make_user: MakeUser, make_modzy: MakeModzy
) -> None:
    _, key = make_user("ann")
    ann = make_modzy(key)
    _submit(ann)
    [job] = ok(ann.get("/jobs/history"))
    check_jobs([job])
    assert job["submittedBy"] == key.split(".")[0]
    assert job["user"]["accessKeys"] == [{"prefix": key.split(".")[0], "isDefault": True}]
    assert (job["user"]["firstName"], job["user"]["email"]) == ("Ann", "ann@example.com")


def test_history_parameters_the_python_sdk_never_sends(ann: httpx.Client, drain: Drain) -> None:
    ids = [_submit(ann, "echo", "x" * n) for n in (1, 2, 3)]
    for query in (
        f"jobIdentifiers={ids[0]},{ids[2]}",
        f'jobIdentifiers=["{ids[0]}", "{ids[2]}"]',
        f"jobIdentifiers={ids[0]}&jobIdentifiers={ids[2]}",
    ):
        assert [j["jobIdentifier"] for j in ok(ann.get(f"/jobs/history?{query}"))] == [
            ids[0],
            ids[2],
        ]
    assert len(ok(ann.get("/jobs/history?perPage=2"))) == 2
    by_id = ok(ann.get("/jobs/history?sortBy=identifier&direction=DESC"))
    assert [j["jobIdentifier"] for j in by_id] == sorted(ids, reverse=True)
    assert "perPage" in error(ann.get("/jobs/history?perPage=0"), 400)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("endDate=2024-01-01T00:00:00.000", "endDate"),
        ("startDate=2999-01-01T00:00:00.000", "startDate"),
        ("startDate=soon", "startDate"),
        ("sort-by=colour", "sort-by"),
        ("status=sleeping", "TERMINATED"),
        ("per-page=5000", "1000"),
        ("page=-1", "page"),
        ("colour=blue", "per-page"),
        ("jobIdentifiers=nope", "jobIdentifiers"),
    ],
)
def test_bad_history_parameters_are_400_naming_the_modzy_parameter(
    ann: httpx.Client, query: str, fragment: str
) -> None:
    assert fragment in error(ann.get(f"/jobs/history?{query}"), 400)


def test_history_filters_and_sorts_as_modzy_spells_them(
    make_user: MakeUser, make_modzy: MakeModzy, drain: Drain
) -> None:
    ann = make_modzy(make_user("ann")[1])
    bob = make_modzy(make_user("bob")[1])
    boss = make_modzy(make_user("boss", role=Role.MANAGER)[1])
    before = datetime.now(UTC) - timedelta(seconds=1)
    mine = [_submit(ann, "sentiment", "good"), _submit(ann, "fail")]
    theirs = _submit(bob)
    drain()
    pending = _submit(bob)

    def ids(query: str) -> list[str]:
        return [j["jobIdentifier"] for j in ok(boss.get(f"/jobs/history?{query}"))]

    assert ids("user=ANN") == mine
    assert ids("model=Sentiment+Analysis") == [mine[0]]
    assert ids("status=pending") == [pending]
    assert ids("status=terminated") == [*mine, theirs]
    assert ids("status=ERROR") == [mine[1]]
    assert ids("status=CANCELLED") == []
    start = before.isoformat(timespec="milliseconds").replace("+", "%2B")
    assert ids(f"startDate={start}") == [*mine, theirs, pending]
    assert ids(f"startDate=2020-01-01&endDate={start}") == []
    assert ids("sort-by=fail&direction=desc")[0] == mine[1]
    assert ids("sort-by=submitedAt&direction=desc") == [pending, theirs, *mine[::-1]]
    assert ids("sort-by=submittedJobs") == [*mine, theirs, pending]
