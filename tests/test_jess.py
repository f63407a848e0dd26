"""The JESS dialect driven the way JESS's own notebooks do: Python ``requests`` against a real
jobline server on a real port, with real EnergyPlus runs by an embedded worker.

Log in, keep the cookie, upload the shoebox example (IDF + EPW) as multipart with the text
fields sent as file parts (as ``requests``' ``files=`` list sends them), poll the status, list
with a JSON body, download the zip; split runs, cancel, rerun; sessions; hostile uploads.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import update

from jobline.core import jobs, sessions
from jobline.domain.records import Principal
from jobline.models.energyplus import engine
from jobline.settings import Settings
from jobline.store import Store
from jobline.store.tables import jobs as jobs_table
from tests.conftest import MakeUser
from tests.servers import serving_with_worker

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

SHOEBOX = (Path(__file__).parents[1] / "examples" / "shoebox.idf").read_bytes()
CHICAGO = "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3"
EPW = (engine.WEATHER_FOLDER / f"{CHICAGO}.epw").read_bytes()
MAX_REQUEST_BYTES = 4_000_000  # room for the shoebox and its weather, small for the limits
WAIT_SECONDS = 120.0
FINISHED = "Job finished. Results collected into tables."


@pytest.fixture
def server(store: Store, settings: Settings) -> Iterator[str]:
    """A jobline server with an embedded worker of two slots; its root URL."""
    with serving_with_worker(
        store, settings, max_request_bytes=MAX_REQUEST_BYTES, name="jess-test"
    ) as url:
        yield url


class Jess:
    """A JESS user's session, as the notebooks keep it: a ``requests`` session with cookies."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.http = requests.Session()

    def login(self, email: str, password: str) -> requests.Response:
        body = {"email": email, "password": password}
        return self.http.post(f"{self.root}/users/api/auth", json=body, timeout=10)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(f"{self.root}/jess_web/api/{path}", timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(f"{self.root}/jess_web/api/{path}", timeout=30, **kwargs)

    def submit(self, *, split: bool = False, title: str = "Python test case", **extra: Any) -> int:
        files = [
            ("file", ("shoebox.idf", SHOEBOX)),
            ("file", ("in.epw", EPW)),
            ("title", title),
            ("desc", "the shoebox example"),
            ("split", "TRUE" if split else "FALSE"),
        ]
        answer = self.post("job", files=files, **extra)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ok"] is True and body["status"] == f"Job {body['data']} is created"
        return int(body["data"])

    def wait(self, job: int, until: str = "FINISHED") -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            status = self.get(f"job/status/{job}").json()["data"]
            if status["status"] == until or time.monotonic() > deadline:
                assert status["status"] == until, status
                return dict(status)
            time.sleep(0.1)

    def listed(self, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        answer = self.get("jobs", json=body) if body is not None else self.get("jobs")
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is True
        return list(answer.json()["data"])


@pytest.fixture
def ann(server: str, make_user: MakeUser) -> Jess:
    make_user("ann")
    client = Jess(server)
    assert client.login("ann@example.com", "pw-ann").status_code == 200
    return client


def zipped(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_info_needs_no_login(server: str) -> None:
    info = requests.get(f"{server}/jess_web/api/info", timeout=5).json()
    assert info["Title"] == "JESS Web API" and isinstance(info["Major"], int)
    users = requests.get(f"{server}/users/api/info", timeout=5).json()
    assert users["Title"] == "Users Web API"


def test_log_on_sets_the_session_cookie_for_both_apis(server: str, make_user: MakeUser) -> None:
    make_user("ann")
    client = Jess(server)
    answer = client.login("ann@example.com", "pw-ann")
    assert answer.json() == {
        "ok": True,
        "status": "Logged in successfully!",
        "jwt": "Session token in cookie",
        "user": "ann",
        "role": "member",
        "email": "ann@example.com",
    }
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("session_token=") and "HttpOnly" in cookie and "Path=/" in cookie
    assert client.get("session").json() == {
        "ok": True,
        "status": "JESS session key is valid.",
        "data": None,
    }
    assert (
        client.http.post(
            f"{server}/users/api/logon",
            json={"email": "ann@example.com", "password": "pw-ann"},
            timeout=5,
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body",
    [{"email": "ann@example.com", "password": "wrong"}, {"email": "nobody@x.org", "password": "x"}],
)
def test_a_wrong_password_is_refused_without_a_cookie(
    server: str, make_user: MakeUser, body: dict[str, str]
) -> None:
    make_user("ann")
    answer = requests.post(f"{server}/users/api/auth", json=body, timeout=5)
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert answer.json()["ok"] is False and "password" in answer.json()["status"]


def test_no_bad_or_expired_token_gets_anything(
    server: str, make_user: MakeUser, store: Store, settings: Settings
) -> None:
    user, _ = make_user("ann")
    secret = settings.resolved_secret()
    expired = sessions.open_session(store, user, secret, hours=-0.01).token
    tampered = sessions.open_session(store, user, secret, hours=1).token[:-4] + "AAAA"
    for cookies in (
        {},
        {"session_token": "nonsense"},
        {"session_token": expired},
        {"session_token": tampered},
    ):
        for path in ("jobs", "job/status/1", "job/dir/1", "job/file/1", "account", "usage"):
            answer = requests.get(f"{server}/jess_web/api/{path}", cookies=cookies, timeout=5)
            assert answer.status_code == 401, (path, cookies, answer.text)
            assert answer.json()["ok"] is False and answer.json()["data"] is None
    answer = requests.post(
        f"{server}/users/api/checkin", cookies={"session_token": expired}, timeout=5
    )
    assert answer.status_code == 401 and "expired" in answer.json()["status"]


def test_checkin_renews_and_logout_voids_the_token(ann: Jess) -> None:
    old = ann.http.cookies["session_token"]
    renewed = ann.http.post(f"{ann.root}/users/api/checkin", json={}, timeout=5)
    assert renewed.json()["status"] == "Session renewed successfully!"
    new = ann.http.cookies["session_token"]
    assert new != old
    assert ann.get("session").status_code == 200
    out = ann.http.post(f"{ann.root}/users/api/logout", timeout=5)
    assert out.json()["status"] == "Logged out successfully!"
    for token in (new,):
        answer = requests.get(
            f"{ann.root}/jess_web/api/jobs", cookies={"session_token": token}, timeout=5
        )
        assert answer.status_code == 401 and "logged out" in answer.json()["status"]


def test_a_cookie_sent_twice_is_judged_by_the_token_that_validates(ann: Jess, server: str) -> None:
    good = ann.http.cookies["session_token"]
    for header in (
        f"session_token=stale; session_token={good}",
        f"session_token={good}; session_token=x",
    ):
        answer = requests.get(f"{server}/jess_web/api/jobs", headers={"Cookie": header}, timeout=5)
        assert answer.status_code == 200, header


def test_a_shoebox_job_runs_from_upload_to_result_zip(ann: Jess) -> None:
    job = ann.submit()
    status = ann.wait(job)
    assert status["job_ID"] == job and status["status_Info"] == FINISHED
    assert status["progress"] == "1, 0, 0, 0, 0, 0, 1" and status["cancel_Flag"] is False
    assert status["completion_Time"] >= status["last_Update"] - 1000 > 0

    (record,) = ann.listed({"status": "FINISHED"})
    assert record["job_SN"] == job and record["job_Type"] == "EP_IDF"
    assert record["job_Name"] == "Python test case" and record["job_Desc"] == "the shoebox example"
    assert record["njobs"] == 1 and record["username"] == "ann" and record["message"] == FINISHED
    assert record["submissionSize"] == len(SHOEBOX) + len(EPW)
    assert record["storageSize"] > record["submissionSize"] and record["cputime"] >= 0
    assert 0 < record["received"] <= record["simulated"] and record["cancelled"] == 0

    answer = ann.get(f"job/file/{job}")
    assert answer.headers["content-type"] == "application/zip"
    assert f'filename="{job}.zip"' in answer.headers["content-disposition"]
    files = zipped(answer.content)
    assert files["in.idf"] == SHOEBOX and files["in.epw"] == EPW
    assert b"EnergyPlus Completed Successfully" in files["eplusout.err"]
    assert {"eplusout.csv", "eplustbl.htm", "results.json"} <= set(files)
    only = zipped(ann.get(f"job/file/{job}", params={"ext": "err,csv"}).content)
    assert only and {name.rpartition(".")[2] for name in only} == {"err", "csv"}

    err = ann.get(f"job/file/{job}/eplusout.err")
    assert err.status_code == 200 and err.content == files["eplusout.err"]
    tree = ann.get(f"job/dir/{job}").json()["data"]
    assert tree["text"] == f"{job} [*]" and tree["type"] == "root"
    leaves = {node["data"]["fullPath"]: node for node in tree["children"]}
    assert leaves["/eplusout.err"]["data"]["size"] == len(files["eplusout.err"])
    assert leaves["/eplusout.err"]["type"] == "err"
    size = len(files["eplustbl.htm"])
    assert leaves["/eplustbl.htm"]["text"] == f"eplustbl.htm ({size / 1000:.2f} kB)"

    again = ann.post("job", json={"cmd": "Create", "jobRef": job, "caption": "again"})
    rerun = int(again.json()["data"])
    assert rerun != job and ann.wait(rerun)["status"] == "FINISHED"
    assert [r["job_Name"] for r in ann.listed()] == ["Python test case", "again"]


def test_a_split_job_runs_twelve_months_and_collects_the_year(ann: Jess) -> None:
    job = ann.submit(split=True)
    status = ann.wait(job)
    assert status["progress"] == "12, 0, 0, 0, 0, 0, 12" and status["status_Info"] == FINISHED
    (record,) = ann.listed()
    assert record["njobs"] == 12 and record["job_Type"] == "EP_IDF_SPLIT"
    # The twelve months share one stored copy of the weather.
    assert len(EPW) < record["submissionSize"] < len(EPW) + 13 * len(SHOEBOX)
    files = zipped(ann.get(f"job/file/{job}").content)
    year = list(csv.reader(io.StringIO(files["collected.csv"].decode())))
    assert len(year) == 1 + 8760  # a header and every hour of the year
    assert {f"{month:02d}/eplusout.err" for month in range(1, 13)} <= set(files)


def test_cancel_stops_a_running_split_job(ann: Jess) -> None:
    job = ann.submit(split=True)
    deadline = time.monotonic() + WAIT_SECONDS
    while ann.get(f"job/status/{job}").json()["data"]["progress"].split(", ")[5] == "0":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = ann.post(f"job/{job}", json={"cmd": "Cancel"}).json()
    assert answer["ok"] is True and answer["status"] == f"Cancel flag has been set for {job}"
    assert answer["data"]["cancel_Flag"] is True
    status = ann.wait(job, until="CANCELED")
    assert status["status_Info"] == "Job is cancelled"
    total, failed, timed_out, canceled, queued, running, succeeded = (
        int(n) for n in status["progress"].split(", ")
    )
    assert total == 12 and canceled >= 1 and failed + timed_out + queued == 0
    assert canceled + running + succeeded == 12
    again = ann.post(f"job/{job}", json={"cmd": "Cancel"})
    assert again.status_code == 409 and "not cancellable" in again.json()["status"]
    assert ann.post(f"job/{job}", json={"cmd": "Explode"}).status_code == 400


def _principal(store: Store, email: str) -> Principal:
    from jobline.store import users as user_store

    with store.read() as conn:
        return Principal(user_store.get_user(conn, email=email), key_prefix=None)


def _dated_jobs(store: Store, email: str) -> dict[str, int]:
    """Three jobs of the user, submitted on given days, ending in three statuses.

    The third sleeps for an hour (four bytes, as the others send), so that it is surely
    canceled, not done.
    """
    caller = _principal(store, email)
    made: dict[str, int] = {}
    for day, model, text in (
        ("2024-01-10", "echo", b"0.01"),
        ("2024-01-20", "fail", b"0.01"),
        ("2024-02-05", "sleep", b"3600"),
    ):
        job = jobs.submit(store, caller, jobs.Submission(model, {"a": {"input": text}}))
        moment = datetime.fromisoformat(day).replace(hour=23, minute=30, tzinfo=UTC)
        with store.write() as conn:
            conn.execute(
                update(jobs_table).where(jobs_table.c.id == job.id).values(submitted_at=moment)
            )
        made[day] = job.id
    jobs.cancel(store, caller, made["2024-02-05"])
    return made


def _drained(store: Store) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    caller = _principal(store, "ann@example.com")
    while any(not jobs.get(store, caller, job).status.terminal for job in (1, 2)):
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("body", "days"),
    [
        ({}, ["2024-01-10", "2024-01-20", "2024-02-05"]),
        ({"since": "2024-01-10", "till": "2024-01-20"}, ["2024-01-10", "2024-01-20"]),
        ({"since": "2024-01-11"}, ["2024-01-20", "2024-02-05"]),
        ({"till": "2024-01-10"}, ["2024-01-10"]),
        ({"status": "FINISHED"}, ["2024-01-10", "2024-01-20"]),
        ({"status": "CANCELLED"}, ["2024-02-05"]),
        ({"status": "canceled,FINISHED", "since": "2024-01-15"}, ["2024-01-20", "2024-02-05"]),
        ({"status": "QUEUED,ACCEPTED,UNPACKED"}, []),
        ({"since": "", "till": None, "status": ""}, ["2024-01-10", "2024-01-20", "2024-02-05"]),
    ],
)
def test_the_job_list_filters_by_a_json_body(
    ann: Jess, store: Store, body: dict[str, Any], days: list[str]
) -> None:
    made = _dated_jobs(store, "ann@example.com")
    _drained(store)
    assert [r["job_SN"] for r in ann.listed(body)] == [made[day] for day in days]
    posted = ann.post("jobs", json=body).json()["data"]
    assert [r["job_SN"] for r in posted] == [made[day] for day in days]
    statuses = {r["job_SN"]: r["status"] for r in ann.listed()}
    assert statuses == {
        made["2024-01-10"]: "FINISHED",
        made["2024-01-20"]: "FINISHED",
        made["2024-02-05"]: "CANCELED",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"status": "DONE"}, "status"),
        ({"since": "01/12/2020"}, "since"),
        ({"since": "2024-02-01", "till": "2024-01-01"}, "till"),
        ({"since": "2999-01-01"}, "since"),
        ({"from": "2024-01-01"}, "from"),
        ({"since": 20240101}, "since"),
        (["FINISHED"], "body"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_field(ann: Jess, body: Any, param: str) -> None:
    answer = ann.get("jobs", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["ok"] is False and param in answer.json()["status"]
    assert (
        ann.get("jobs", data=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )


def test_one_user_never_sees_another_users_jobs_or_files(
    ann: Jess, server: str, make_user: MakeUser, store: Store
) -> None:
    job = _dated_jobs(store, "ann@example.com")["2024-01-10"]
    _drained(store)
    make_user("bob")
    bob = Jess(server)
    bob.login("bob@example.com", "pw-bob")
    assert bob.listed() == []
    for path in (
        f"job/status/{job}",
        f"job/dir/{job}",
        f"job/file/{job}",
        f"job/file/{job}/results.json",
        "job/status/999999",
        "job/status/abc",
    ):
        answer = bob.get(path)
        assert answer.status_code == 404, path
        assert (
            answer.json()["ok"] is False
            and "not accessible to user bob@" in answer.json()["status"]
        )
    assert bob.post(f"job/{job}", json={"cmd": "Cancel"}).status_code == 404
    assert bob.post("job", json={"cmd": "Create", "jobRef": job}).status_code == 404
    assert ann.get(f"job/file/{job}/results.json").status_code == 200


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("files", "fields", "status", "words"),
    [
        ([("file", ("up.zip", _zip({"../evil.idf": SHOEBOX, "in.epw": b"x"})))], [], 400, "'..'"),
        ([("file", ("up.zip", _zip({"/etc/evil.idf": SHOEBOX})))], [], 400, "absolute"),
        ([("file", ("up.zip", _zip({"a.idf": b"0" * 5_000_000})))], [], 413, "unpacks to more"),
        (
            [("file", ("up.zip", _zip({f"{n}.txt": b"" for n in range(1001)})))],
            [],
            413,
            "1000 files",
        ),
        ([("file", ("up.zip", b"PK not a zip"))], [], 400, "not a valid zip"),
        ([("file", ("in.epw", b"weather"))], [], 400, "no IDF model"),
        ([("file", ("a.idf", SHOEBOX))], [], 400, "no weather"),
        ([("file", ("a.idf", SHOEBOX))], [("weather", "Atlantis")], 400, "Atlantis"),
        (
            [("file", ("a.idf", SHOEBOX)), ("file", ("b.epw", b"w"))],
            [("model", "c.idf")],
            400,
            "c.idf",
        ),
        ([("file", ("a.idf", SHOEBOX))], [("type", "JEP")], 400, "EnergyPlus simulations only"),
        ([("file", ("a.idf", SHOEBOX))], [("type", "RAD"), ("program", "rtrace")], 400, "type RAD"),
        (
            [("file", ("a.idf", SHOEBOX))],
            [("split", "maybe"), ("weather", "Chicago")],
            400,
            "split",
        ),
        ([("file", ("a.idf", SHOEBOX))], [("colour", "red")], 400, "unknown field 'colour'"),
        ([("file", ("big.idf", b"!" * (MAX_REQUEST_BYTES + 1)))], [], 413, "limit"),
        ([], [("title", "nothing")], 400, "no files"),
    ],
)
def test_hostile_or_broken_uploads_are_refused_and_store_nothing(
    ann: Jess,
    store: Store,
    files: list[tuple[str, Any]],
    fields: list[tuple[str, str]],
    status: int,
    words: str,
) -> None:
    plain = [(name, (None, value)) for name, value in fields]  # text parts without a file name
    answer = ann.post("job", files=[*files, *plain])
    assert answer.status_code == status, answer.text
    assert answer.json()["ok"] is False and answer.json()["data"] is None
    assert words in answer.json()["status"], answer.json()["status"]
    assert ann.listed() == []
    assert not any(store.blobs.root.iterdir())


def test_a_path_outside_the_job_folder_is_refused(ann: Jess, store: Store) -> None:
    job = _dated_jobs(store, "ann@example.com")["2024-01-10"]
    _drained(store)
    for path in ("..%2F..%2Fsecret", "a/..%2F..%2F..%2Fetc/passwd", "%2E%2E/x"):
        answer = ann.get(f"job/file/{job}/{path}")
        assert answer.status_code in (400, 404), path
        assert answer.json()["ok"] is False
    missing = ann.get(f"job/file/{job}/nothing.txt")
    assert missing.status_code == 404 and "nothing.txt" in missing.json()["status"]


def test_a_zip_upload_with_a_bundled_weather_runs(ann: Jess) -> None:
    upload = _zip({"shoebox/model.idf": SHOEBOX, "shoebox/readme.txt": b"hello"})
    files = [("file", ("tosubmit.zip", upload)), ("weather", "Chicago"), ("type", "EP")]
    answer = ann.post("job", files=files).json()
    assert answer["ok"] is True
    assert ann.wait(int(answer["data"]))["status"] == "FINISHED"


def test_account_and_usage_describe_the_caller(ann: Jess, store: Store) -> None:
    _dated_jobs(store, "ann@example.com")
    _drained(store)
    account = ann.get("account").json()
    assert account["status"] == "ann account available"
    assert account["data"]["username"] == "ann" and account["data"]["email"] == "ann@example.com"
    assert account["data"]["suspended"] is False and isinstance(account["data"]["id"], int)
    (usage,) = ann.get("usage").json()["data"]
    assert usage["username"] == "ann" and usage["submissions"] == 3 and usage["jobs"] == 3
    assert usage["latest"] == int(datetime(2024, 2, 5, 23, 30, tzinfo=UTC).timestamp() * 1000)
    assert usage["upload"] == 3 * len(b"0.01")


def test_linking_the_jess_account_checks_the_users_own_credentials(ann: Jess) -> None:
    good = ann.post("session", json={"jessUser": "ann@example.com", "jessPwd": "pw-ann"}).json()
    assert good == {"ok": True, "status": "New JESS session key is assigned.", "data": None}
    for body in ({"jessUser": "ann", "jessPwd": "nope"}, {"jessUser": "bob", "jessPwd": "pw-ann"}):
        answer = ann.post("session", json=body)
        assert answer.status_code == 400 and "does not match" in answer.json()["status"]


def test_only_the_name_of_an_uploaded_file_counts(ann: Jess, store: Store) -> None:
    files = [
        ("file", ("C:\\Users\\me\\models\\shoebox.idf", SHOEBOX)),
        ("file", ("../../weather/in.epw", EPW)),
        ("model", "shoebox.idf"),
    ]
    answer = ann.post("job", files=files).json()
    assert answer["ok"] is True, answer
    job, (item,) = jobs.results(store, _principal(store, "ann@example.com"), int(answer["data"]))
    assert item.source == "shoebox" and set(item.parts) == {"idf", "epw"}
    assert store.blobs.get(item.parts["idf"]) == SHOEBOX
    ann.post(f"job/{job.id}", json={"cmd": "Cancel"})
