"""Bad input gets a clear 4xx naming the parameter, and nothing is half-written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from jobline import errors
from jobline.core import auth
from jobline.store import Store
from jobline.store.tables import inputs, jobs
from tests.asgi import ASGITransport
from tests.conftest import MakeClient, MakeUser


@pytest.fixture
def http(app: FastAPI, make_user: MakeUser) -> Iterator[httpx.Client]:
    _, key = make_user("ann")
    with httpx.Client(
        base_url="http://testserver",
        transport=ASGITransport(app),
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    message: str = body["message"]
    return message


def test_unknown_model_or_version_names_the_available_ones(http: httpx.Client) -> None:
    message = _error(http.post("/v1/jobs", json={"model": "nope", "inputs": {"a": {}}}), 400)
    assert "nope" in message and "sentiment" in message and "echo" in message
    body = {"model": "echo", "version": "9.9", "inputs": {"a": {"input": "x"}}}
    message = _error(http.post("/v1/jobs", json=body), 400)
    assert "9.9" in message and "1.0.0" in message


def test_missing_unexpected_or_no_inputs(http: httpx.Client) -> None:
    body = {"model": "echo", "inputs": {"a": {"text": "x"}}}
    message = _error(http.post("/v1/jobs", json=body), 400)
    assert "unexpected ['text']" in message and "takes: input" in message
    message = _error(http.post("/v1/jobs", json={"model": "echo", "inputs": {"a": {}}}), 400)
    assert "missing ['input']" in message
    message = _error(http.post("/v1/jobs", json={"model": "echo", "inputs": {}}), 400)
    assert "at least one input" in message
    message = _error(http.post("/v1/jobs", json={"model": "echo"}), 400)
    assert "inputs" in message
    message = _error(http.post("/v1/jobs", content=b"{not json", headers={}), 400)
    assert "invalid job" in message


def test_an_input_over_the_model_limit_is_413_with_the_limit(http: httpx.Client) -> None:
    body = {"model": "echo", "inputs": {"a": {"input": "x" * 1_000_001}}}
    assert "1000000 bytes" in _error(http.post("/v1/jobs", json=body), 413)


def test_a_body_over_the_server_limit_is_413_with_the_limit(
    store: Store, make_user: MakeUser
) -> None:
    from jobline.api.app import create_app
    from jobline.settings import Settings

    _, key = make_user("ann")
    app = create_app(store, Settings(max_request_bytes=2048, worker_slots=0))
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as client:
        body = {"model": "echo", "inputs": {"a": {"input": "y" * 4096}}}
        response = client.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {key}"})
    assert "2048" in _error(response, 413)


@pytest.mark.parametrize(
    ("query", "param", "fragment"),
    [
        ("sort=colour", "sort", "submittedAt"),
        ("start=yesterday-ish", "start", "ISO 8601"),
        ("start=2024-05-02&end=2024-05-01", "end", "start"),
        ("page=-1", "page", "-1"),
        ("per_page=5000", "per_page", "1000"),
        ("status=SLEEPING", "status", "TERMINATED"),
        ("colour=blue", "colour", "per_page"),
        ("cursor=garbage!", "cursor", "cursor"),
    ],
)
def test_bad_history_queries_name_the_parameter(
    http: httpx.Client, query: str, param: str, fragment: str
) -> None:
    response = http.get(f"/v1/jobs?{query}")
    message = _error(response, 400)
    assert response.json()["details"]["param"] == param
    assert fragment in message


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "access key is required"),
        ("Bearer", "Bearer <access key>"),
        ("Basic abc", "Bearer <access key>"),
        ("Bearer not-a-key", "malformed"),
        ("Bearer AAAAAAAAAAAAAAAAAAAA.wrong", "unknown access key"),
    ],
)
def test_missing_malformed_or_unknown_keys_are_401(
    app: FastAPI, header: str | None, fragment: str
) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as client:
        response = client.get("/v1/jobs", headers=headers)
    assert fragment in _error(response, 401)


def test_revoked_key_and_disabled_user_are_401(
    store: Store, make_user: MakeUser, make_client: MakeClient
) -> None:
    user, key = make_user("ann")
    client = make_client(key)
    client.models()
    from jobline.domain.records import UserStatus
    from jobline.store import users

    with store.write() as conn:
        users.revoke_key(conn, key.split(".")[0])
    with pytest.raises(errors.NotAuthenticated, match="revoked"):
        client.models()
    second = make_client(auth.create_key(store, user).token)
    with store.write() as conn:
        users.set_user_status(conn, user.id, UserStatus.DISABLED)
    with pytest.raises(errors.NotAuthenticated, match="disabled"):
        second.models()


def test_unknown_job_and_output_are_404(make_user: MakeUser, make_client: MakeClient) -> None:
    client = make_client(make_user("ann")[1])
    with pytest.raises(errors.JobNotFound):
        client.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(errors.JobNotFound):
        client.results(999999)
    job = client.submit("echo", ["x"])
    with pytest.raises(errors.OutputNotFound):
        client.output_file(job["identifier"], "0", "nothing.bin")


def test_a_failing_submission_leaves_nothing_behind(
    store: Store, make_user: MakeUser, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(make_user("ann")[1])
    real_write = Path.write_bytes
    written: list[Path] = []

    def write_until_disk_full(path: Path, data: bytes) -> int:
        written.append(path)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        return real_write(path, data)

    # Fault injection at the filesystem edge: the third input cannot be written.
    monkeypatch.setattr(Path, "write_bytes", write_until_disk_full)
    with pytest.raises(errors.ServiceUnavailable, match="No space left"):
        client.submit("echo", ["a", "b", "c"])
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(inputs)).scalar_one() == 0
    assert not written[0].parent.exists()


def test_nul_characters_are_refused_on_every_database(http: httpx.Client) -> None:
    body = {"model": "echo", "name": "a\u0000b", "inputs": {"a": {"input": "x"}}}
    assert "name must not contain NUL" in _error(http.post("/v1/jobs", json=body), 400)


def test_too_many_inputs_is_413_with_the_limit(store: Store, make_user: MakeUser) -> None:
    from jobline.api.app import create_app
    from jobline.settings import Settings

    _, key = make_user("ann")
    app = create_app(store, Settings(max_inputs_per_job=2, worker_slots=0))
    body = {"model": "echo", "inputs": {str(i): {"input": "x"} for i in range(3)}}
    with httpx.Client(base_url="http://t", transport=ASGITransport(app)) as client:
        response = client.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {key}"})
    assert "at most 2 inputs" in _error(response, 413)
