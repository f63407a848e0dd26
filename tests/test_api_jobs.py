"""The native API end to end, through the SDK over the ASGI app, on both databases."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from jobline import errors
from jobline.domain.records import Role
from jobline.store import Store
from tests.asgi import ASGITransport
from tests.conftest import MakeClient, MakeUser

TEXTS = ["I love this, it is wonderful", "This is terrible and I hate it", "It is a chair"]


def test_sentiment_job_runs_and_reports_per_input_results(
    make_user: MakeUser, make_client: MakeClient, drain: Callable[[], int]
) -> None:
    _, key = make_user("ann")
    client = make_client(key)
    job = client.submit("sentiment", TEXTS, name="three texts")
    assert job["status"] == "SUBMITTED"
    assert job["counts"]["total"] == 3 and job["counts"]["queued"] == 3
    assert drain() == 3
    done = client.wait(job["identifier"], timeout=5)
    assert done["status"] == "COMPLETED"
    assert done["counts"]["succeeded"] == 3
    assert done["queue_seconds"] is not None and done["elapsed_seconds"] is not None
    results = client.results(job["serial"])
    classes = [
        item["outputs"]["results.json"]["data"]["result"]["classPredictions"][0]["class"]
        for item in results["inputs"]
    ]
    assert classes == ["positive", "negative", "neutral"]
    assert [item["source"] for item in results["inputs"]] == ["0", "1", "2"]
    assert all(item["started_at"] and item["finished_at"] for item in results["inputs"])
    events = [e["to_status"] for e in client.events(job["identifier"])]
    assert events == ["SUBMITTED", "IN_PROGRESS", "COMPLETED"]


def test_history_lists_own_jobs_newest_first_with_echo(
    make_user: MakeUser, make_client: MakeClient
) -> None:
    _, key = make_user("ann")
    client = make_client(key)
    ids = [client.submit("echo", [f"job {i}"])["identifier"] for i in range(3)]
    page = client.history_page(per_page=2)
    assert [j["identifier"] for j in page["jobs"]] == ids[::-1][:2]
    assert page["has_more"] is True
    assert page["query"]["sort"] == "submittedAt" and page["query"]["direction"] == "DESC"
    assert [j["identifier"] for j in client.history(per_page=1)] == ids[::-1]


def test_inputs_as_base64_and_as_multipart_files(
    make_user: MakeUser, make_client: MakeClient, app: object, drain: Callable[[], int]
) -> None:
    _, key = make_user("ann")
    client = make_client(key)
    job = client.submit("echo", {"a": {"input": b"bytes in"}})
    http = httpx.Client(base_url="http://testserver", transport=ASGITransport(app))  # type: ignore[arg-type]
    with http:
        response = http.post(
            "/v1/jobs",
            headers={"Authorization": f"Bearer {key}"},
            data={"model": "echo", "name": "files"},
            files={"doc-1/input": ("a.txt", b"from a file", "text/plain")},
        )
    assert response.status_code == 201, response.text
    drain()
    outputs = client.results(job["identifier"])["inputs"][0]["outputs"]
    assert outputs["results.json"]["text"] == "bytes in"
    second = client.results(response.json()["identifier"])["inputs"][0]
    assert second["source"] == "doc-1"
    assert second["outputs"]["results.json"]["text"] == "from a file"


def test_members_see_only_their_jobs_managers_their_account_admins_all(
    make_user: MakeUser, make_client: MakeClient
) -> None:
    ann = make_client(make_user("ann", account="acme")[1])
    bob = make_client(make_user("bob", account="acme")[1])
    eve = make_client(make_user("eve", account="other")[1])
    boss = make_client(make_user("boss", role=Role.MANAGER, account="acme")[1])
    root = make_client(make_user("root", role=Role.ADMIN, account="ops")[1])
    ann_job = ann.submit("echo", ["a"])
    bob.submit("echo", ["b"])
    eve.submit("echo", ["e"])
    with pytest.raises(errors.JobNotFound):
        bob.get(ann_job["identifier"])
    with pytest.raises(errors.JobNotFound):
        eve.cancel(ann_job["serial"])
    assert {j["user"] for j in ann.history()} == {"ann"}
    assert {j["user"] for j in boss.history()} == {"ann", "bob"}
    assert {j["user"] for j in root.history()} == {"ann", "bob", "eve"}
    assert boss.get(ann_job["identifier"])["user"] == "ann"


def test_cancel_ends_queued_inputs_at_once(
    make_user: MakeUser, make_client: MakeClient, drain: Callable[[], int]
) -> None:
    client = make_client(make_user("ann")[1])
    job = client.submit("echo", ["a", "b"])
    canceled = client.cancel(job["identifier"])
    assert canceled["status"] == "CANCELED"
    assert canceled["counts"]["canceled"] == 2 and canceled["counts"]["queued"] == 0
    assert drain() == 0
    assert client.cancel(job["identifier"])["status"] == "CANCELED"  # idempotent


def test_health_readiness_and_openapi(app: object, store: object) -> None:
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as http:  # type: ignore[arg-type]
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        spec = http.get("/openapi.json").json()
        assert "/v1/jobs" in spec["paths"] and "/v1/jobs/{job}/results" in spec["paths"]
        assert http.get("/docs").status_code == 200


def test_readiness_fails_when_the_schema_is_behind(app: object, store: Store) -> None:
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as http:  # type: ignore[arg-type]
        response = http.get("/readyz")
    assert response.status_code == 503 and "jobline db upgrade" in response.json()["reason"]
