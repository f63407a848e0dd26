"""The unmodified ``modzy-sdk`` 0.11.6 against a real jobline server on a real port.

The SDK speaks ``requests``, so the app runs under uvicorn in a background thread with an
embedded worker on the same store; both stop at teardown. The request-size limit is small so
that ``submit_file`` really sends its files in several chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from modzy import ApiClient
from modzy.error import BadRequestError, NotFoundError, UnauthorizedError

from jobline.core import auth
from jobline.domain.records import Role
from jobline.settings import Settings
from jobline.store import Store
from jobline.store import users as user_store
from tests.conftest import MakeUser
from tests.servers import serving_with_worker
from tests.test_modzy import check_jobs

POLL_SECONDS = 0.05
WAIT_SECONDS = 60.0
# Small enough that a 40 kB file goes up in several chunks (the server says 14K per chunk).
MAX_REQUEST_BYTES = 80_000

pytestmark = pytest.mark.timeout(180)

Connect = Callable[[str], ApiClient]


@pytest.fixture
def server(store: Store, settings: Settings) -> Iterator[str]:
    """The root URL of a jobline server (API and worker) on a free port of 127.0.0.1."""
    with serving_with_worker(
        store, settings, max_request_bytes=MAX_REQUEST_BYTES, name="modzy-sdk-test"
    ) as url:
        yield url


@pytest.fixture
def connect(server: str) -> Connect:
    """An SDK client on the server's root URL, as a Modzy user would construct it."""

    def make(key: str) -> ApiClient:
        return ApiClient(base_url=server, api_key=key)

    return make


def wait(job: Any) -> Any:
    return job.block_until_complete(timeout=WAIT_SECONDS, poll_interval=POLL_SECONDS)


def test_start_up_probes_the_root_and_settles_on_api(
    server: str, make_user: MakeUser, connect: Connect
) -> None:
    _, key = make_user("ann")
    assert connect(key).base_url == f"{server}/api/"
    assert ApiClient(base_url=f"{server}/api", api_key=key).base_url == f"{server}/api"
    assert requests.get(f"{server}/models", timeout=5).status_code == 404


def test_text_job_blocks_until_complete_and_reads_its_outputs(
    make_user: MakeUser, connect: Connect
) -> None:
    client = connect(make_user("ann")[1])
    job = client.jobs.submit_text("sentiment", "1.0.0", {"input": "Modzy is great!"})
    wait(job)
    assert job.status == "COMPLETED" and job.completed == 1
    result = job.get_result()
    assert result.finished
    prediction = result.get_first_outputs()["results.json"]["data"]["result"]["classPredictions"]
    assert prediction[0]["class"] == "positive"
    assert result.get_source_outputs("job")["status"] == "SUCCESSFUL"
    again = client.results.block_until_complete(job, timeout=WAIT_SECONDS, poll_interval=0.05)
    assert again.job_identifier == job.job_identifier
    assert client.jobs.get(job.job_identifier).model.name == "Sentiment Analysis"


def test_embedded_and_file_jobs(make_user: MakeUser, connect: Connect, tmp_path: Path) -> None:
    client = connect(make_user("ann")[1])
    embedded = wait(client.jobs.submit_embedded("echo", "1.0.0", {"a": {"input": b"raw bytes"}}))
    assert embedded.get_result().get_source_outputs("a")["results.json"]["text"] == "raw bytes"
    big = tmp_path / "big.txt"
    big.write_text("0123456789" * 4000)  # 40 kB: three chunks of at most 14 kB
    job = client.jobs.submit_file(
        "echo", "1.0.0", {"file": {"input": big}, "bytes": {"input": b"hi"}}
    )
    assert job.status != "OPEN"  # closed, so block_until_complete polls
    result = wait(job).get_result()
    assert result.get_source_outputs("file")["results.json"]["length"] == 40_000
    assert result.get_source_outputs("file")["results.json"]["text"] == big.read_text()
    assert result.get_source_outputs("bytes")["results.json"]["text"] == "hi"


def test_cancel(make_user: MakeUser, connect: Connect) -> None:
    client = connect(make_user("ann")[1])
    job = client.jobs.submit_text("sleep", "1.0.0", {"a": {"input": "1"}, "b": {"input": "1"}})
    assert job.cancel().status == "CANCELED"
    done = wait(client.jobs.submit_text("echo", "1.0.0", {"input": "x"}))
    assert client.jobs.cancel(done).status == "COMPLETED"


def test_errors_come_back_as_the_sdk_exceptions(
    store: Store, server: str, make_user: MakeUser, connect: Connect
) -> None:
    _, ann_key = make_user("ann")
    ann, bob = connect(ann_key), connect(make_user("bob")[1])
    with pytest.raises(BadRequestError, match="nope"):
        ann.jobs.submit_text("nope", "1.0.0", {"input": "x"})
    job = ann.jobs.submit_text("echo", "1.0.0", {"input": "x"})
    with pytest.raises(NotFoundError):
        bob.jobs.get(job.job_identifier)
    with pytest.raises(NotFoundError):
        bob.results.block_until_complete(job.job_identifier, timeout=5, poll_interval=0.05)
    with pytest.raises(NotFoundError):
        ann.models.get("nope")
    with pytest.raises(BadRequestError, match="endDate"):
        ann.jobs.get_history(end_date=datetime(2024, 1, 1))
    with pytest.raises(BadRequestError, match="startDate"):
        ann.jobs.get_history(start_date=datetime.now(UTC) + timedelta(days=2))
    with store.write() as conn:
        user_store.revoke_key(conn, ann_key.split(".")[0])
    with pytest.raises(UnauthorizedError, match="revoked"):
        ann.jobs.get(job.job_identifier)
    with pytest.raises(ValueError, match="Cannot initialize"):
        ApiClient(base_url=server, api_key=ann_key)  # the SDK's own check of a bad key


def test_models(make_user: MakeUser, connect: Connect) -> None:
    client = connect(make_user("ann")[1])
    assert {m.model_id for m in client.models.get_all()} >= {"echo", "sentiment"}
    model = client.models.get_by_name("Sentiment Analysis")
    assert model.model_id == "sentiment" and model.latest_version == "1.0.0"
    [version] = client.models.get_versions(model)
    assert version.version == "1.0.0"
    details = client.models.get_version("sentiment", "1.0.0")
    assert [i.name for i in details.inputs] == ["input"] and details.timeout.run == 60_000
    sample = client.models.get_version_input_sample("sentiment", "1.0.0")
    assert sample["input"]["type"] == "text"


def test_history_filters_sorts_and_pages(
    store: Store, server: str, make_user: MakeUser, connect: Connect
) -> None:
    ann_user, ann_key = make_user("ann")
    second_key = auth.create_key(store, ann_user).token
    _, bob_key = make_user("bob")
    boss_key = make_user("boss", role=Role.MANAGER)[1]
    ann, ann2, bob, boss = (connect(k) for k in (ann_key, second_key, bob_key, boss_key))
    start = datetime.now(UTC) - timedelta(seconds=1)
    happy = wait(ann.jobs.submit_text("sentiment", "1.0.0", {"input": "I love it"}))
    sad = wait(ann.jobs.submit_text("sentiment", "1.0.0", {"input": "I hate it"}))
    echo = wait(ann2.jobs.submit_text("echo", "1.0.0", {"input": "x"}))
    middle = datetime.now(UTC)
    failed = wait(bob.jobs.submit_text("fail", "1.0.0", {"input": "x"}))
    opened = requests.post(
        f"{server}/api/jobs",
        json={"model": {"identifier": "echo", "version": "1.0.0"}},
        headers={"Authorization": f"ApiKey {bob_key}"},
        timeout=10,
    ).json()["jobIdentifier"]
    everything = [j.job_identifier for j in (happy, sad, echo, failed)] + [opened]

    def ids(**filters: Any) -> list[str]:
        return [job.job_identifier for job in boss.jobs.get_history(**filters)]

    assert ids() == everything
    assert ids(user="ann") == everything[:3]
    assert ids(access_key=second_key.split(".")[0]) == [echo.job_identifier]
    assert ids(start_date=start, end_date=middle) == everything[:3]
    assert ids(start_date=middle.replace(tzinfo=None)) == everything[3:]  # naive: UTC
    assert ids(start_date=start.isoformat(timespec="milliseconds")) == everything
    assert ids(model="Sentiment Analysis") == everything[:2]
    assert ids(status="pending") == [opened]
    assert ids(status="terminated") == everything[:4]
    assert ids(status="error") == [failed.job_identifier]
    assert ids(status="COMPLETED") == everything[:3]
    assert ids(direction="desc") == everything[::-1]
    assert ids(sort_by="fail", direction="desc")[0] == failed.job_identifier
    models = [job.model.identifier for job in boss.jobs.get_history(sort_by="model")]
    assert models == sorted(models) and models[-1] == "sentiment"
    pages = [ids(sort_by="createdAt", page=page, per_page=2) for page in (1, 2, 3)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [ident for page in pages for ident in page] == everything
    history = boss.jobs.get_history()
    assert history[0].submitted_by == ann_key.split(".")[0] and history[0].user.first_name == "Ann"
    raw = requests.get(
        f"{server}/api/jobs/history",
        headers={"Authorization": f"ApiKey {boss_key}"},
        timeout=10,
    ).json()
    check_jobs(raw)


def test_parameters_only_other_modzy_clients_send(
    server: str, make_user: MakeUser, connect: Connect
) -> None:
    _, key = make_user("ann")
    client = connect(key)
    ids = [
        client.jobs.submit_text("echo", "1.0.0", {"input": str(n)}).job_identifier for n in range(4)
    ]
    session = requests.Session()
    session.headers["Authorization"] = f"ApiKey {key}"

    def history(**params: Any) -> list[str]:
        response = session.get(f"{server}/api/jobs/history", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return [job["jobIdentifier"] for job in response.json()]

    assert history(jobIdentifiers=f"{ids[1]},{ids[3]}") == [ids[1], ids[3]]
    assert history(jobIdentifiers=f'["{ids[0]}", "{ids[2]}"]') == [ids[0], ids[2]]
    assert history(jobIdentifiers=[ids[3], ids[0]]) == [ids[0], ids[3]]
    assert history(perPage=3) == ids[:3]
    assert history(sortBy="submittedJobs", direction="DESC") == ids[::-1]
    assert history(sortBy="submitedAt", perPage=1, page=2) == [ids[1]]
    assert history(**{"per-page": 2, "sort-by": "identifier"}) == sorted(ids)[:2]


def test_the_readme_script_runs_with_only_url_and_key_changed(
    server: str, make_user: MakeUser, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Coming from Modzy", 1)[1].split("\n## ", 1)[0]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    _, key = make_user("ann")
    script = re.sub(r'^API_URL = ".*"', f'API_URL = "{server}"', script, count=1, flags=re.M)
    script = re.sub(r'^API_KEY = ".*"', f'API_KEY = "{key}"', script, count=1, flags=re.M)
    exec(compile(script, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("positive ")
    assert len(lines) == 2 and "COMPLETED" in lines[1] and key.split(".")[0] in lines[1]
