"""The dashboard's routes over the ASGI app, without a browser: what works with JavaScript off.

Login and sessions, the history page's filters, sort and paging as plain links, its export links,
404s for jobs that are not the viewer's, forms that say what is wrong, and the admin pages.
The session cookie also works on the native API, where a Bearer key still wins.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from jobline.core import auth, jobs, paging, sessions
from jobline.domain.history import parse_history
from jobline.domain.records import Job, Principal, Role, UserStatus
from jobline.domain.workers import WorkerInfo
from jobline.errors import NotAuthenticated
from jobline.settings import Settings
from jobline.store import Store
from jobline.store import users as user_store
from jobline.store import workers as workers_store
from tests.asgi import ASGITransport
from tests.conftest import MakeUser

Browse = Callable[[], httpx.Client]
Drain = Callable[[], int]


@pytest.fixture
def browse(app: FastAPI) -> Iterator[Browse]:
    """A cookie-keeping HTTP client on the app that does not follow redirects."""
    opened: list[httpx.Client] = []

    def make() -> httpx.Client:
        client = httpx.Client(transport=ASGITransport(app), base_url="http://testserver")
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def logged_in(browse: Browse, username: str) -> httpx.Client:
    client = browse()
    response = client.post(
        "/login", data={"email": f"{username}@example.com", "password": f"pw-{username}"}
    )
    assert response.status_code == 303, response.text
    return client


def caller(store: Store, make_user: MakeUser, username: str, role: Role = Role.MEMBER) -> Principal:
    return auth.authenticate_key(store, make_user(username, role=role)[1])


def submit(store: Store, who: Principal, model: str, *texts: str, name: str = "") -> Job:
    inputs = {str(n): {"input": text.encode()} for n, text in enumerate(texts, 1)}
    return jobs.submit(store, who, jobs.Submission(model=model, inputs=inputs, name=name))


def serials(page: httpx.Response) -> list[int]:
    return [int(s) for s in re.findall(r'data-serial="(\d+)"', page.text)]


def link(page: httpx.Response, rel: str) -> str | None:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', page.text)
    return html.unescape(found.group(1)) if found else None


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found, "the page has no form"
    return found.group(1)


def test_pages_need_a_login_and_come_back_after_it(browse: Browse, make_user: MakeUser) -> None:
    make_user("ann")
    client = browse()
    response = client.get("/jobs?status=ERROR")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fjobs%3Fstatus%3DERROR"
    wrong = client.post("/login", data={"email": "ann@example.com", "password": "nope"})
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    assert 'value="ann@example.com"' in wrong.text
    empty = client.post("/login", data={"email": "", "password": ""})
    assert empty.status_code == 400 and "Enter your email and your password" in empty.text
    response = client.post(
        "/login",
        data={"email": "ANN@example.com", "password": "pw-ann", "next": "/jobs?status=ERROR"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/jobs?status=ERROR"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session_token=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax", "Max-Age=28800"):
        assert attribute in cookie
    assert client.get("/jobs").status_code == 200
    polled = browse().get("/jobs/1/live", headers={"HX-Request": "true"})
    assert polled.status_code == 204  # htmx moves the whole page to the login
    assert polled.headers["HX-Redirect"] == "/login?next=%2Fjobs%2F1%2Flive"
    out = client.post("/logout")
    assert out.status_code == 303 and 'session_token=""' in out.headers["set-cookie"]
    assert client.get("/jobs").status_code == 303


def test_login_never_redirects_off_the_site(browse: Browse, make_user: MakeUser) -> None:
    make_user("ann")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = browse().post(
            "/login", data={"email": "ann@example.com", "password": "pw-ann", "next": target}
        )
        assert response.headers["location"] == "/jobs"


def test_sessions_expire_and_end_with_the_user(store: Store, make_user: MakeUser) -> None:
    user, _ = make_user("ann")
    secret = "s" * 40
    session = sessions.login(store, "ann@example.com", "pw-ann", secret, hours=1)
    assert sessions.authenticate_session(store, session.token, secret).user.id == user.id
    assert sessions.authenticate_session(store, session.token, secret).key_prefix is None
    with pytest.raises(NotAuthenticated, match="invalid session"):
        sessions.authenticate_session(store, session.token, "another secret" * 3)
    with pytest.raises(NotAuthenticated, match="invalid session"):
        sessions.authenticate_session(store, session.token[:-2] + "xx", secret)
    gone = sessions.open_session(store, user, secret, hours=-1)
    with pytest.raises(NotAuthenticated, match="expired"):
        sessions.authenticate_session(store, gone.token, secret)
    with store.write() as conn:  # a new password voids the sessions opened before it
        conn.execute(
            user_store.users.update()
            .where(user_store.users.c.id == user.id)
            .values(password_hash=auth.hash_password("new password"))
        )
    with pytest.raises(NotAuthenticated, match="session has ended"):
        sessions.authenticate_session(store, session.token, secret)
    session = sessions.login(store, "ann@example.com", "new password", secret, hours=1)
    with store.write() as conn:
        user_store.set_user_status(conn, user.id, UserStatus.DISABLED)
    with pytest.raises(NotAuthenticated, match="disabled"):
        sessions.authenticate_session(store, session.token, secret)
    claims = jwt.decode(
        session.token, options={"verify_signature": False}, algorithms=[sessions.ALGORITHM]
    )
    assert claims["sub"] == user.identifier and claims["sid"] == session.session_id


def test_logging_out_voids_the_token_and_only_that_one(browse: Browse, make_user: MakeUser) -> None:
    make_user("ann")
    first, second = browse(), browse()
    for client in (first, second):
        client.post("/login", data={"email": "ann@example.com", "password": "pw-ann"})
    copied = first.cookies["session_token"]
    first.post("/logout")
    stolen = browse()
    stolen.cookies.set("session_token", copied)
    assert stolen.get("/jobs").headers["location"].startswith("/login")
    assert stolen.get("/v1/jobs").status_code == 401
    assert second.get("/jobs").status_code == 200


def test_the_native_api_takes_the_session_cookie(
    browse: Browse, store: Store, make_user: MakeUser
) -> None:
    ann = caller(store, make_user, "ann")
    _, bob_key = make_user("bob")
    mine = submit(store, ann, "echo", "x")
    client = logged_in(browse, "ann")
    assert [j["serial"] for j in client.get("/v1/jobs").json()["jobs"]] == [mine.id]
    as_bob = client.get("/v1/jobs", headers={"Authorization": f"Bearer {bob_key}"})
    assert as_bob.json()["jobs"] == []  # an explicit key wins over the cookie
    forged = browse()
    forged.cookies.set("session_token", "not.a.token")
    response = forged.get("/v1/jobs")
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    ended = forged.get("/jobs")
    assert ended.headers["location"] == "/login?next=%2Fjobs&ended=1"
    assert 'session_token=""' in ended.headers["set-cookie"]
    assert "Your session has ended" in forged.get(ended.headers["location"]).text


def test_history_filters_sort_and_pages_with_plain_links(
    browse: Browse, store: Store, make_user: MakeUser, drain: Drain
) -> None:
    ann = caller(store, make_user, "ann")
    good = [submit(store, ann, "echo", *["x"] * n, name=f"good {n}") for n in (1, 2, 3, 4)]
    bad = [submit(store, ann, "fail", "x", name=f"bad {n}") for n in (1, 2, 3)]
    drain()
    client = logged_in(browse, "ann")
    page = client.get("/jobs")
    assert page.status_code == 200 and serials(page) == [j.id for j in reversed(good + bad)]
    assert serials(client.get("/jobs?status=ERROR")) == [j.id for j in reversed(bad)]
    assert serials(client.get("/jobs?status=error,completed&name=good+4")) == [good[3].id]
    blank = client.get("/jobs?user=&status=ERROR&search=")
    assert blank.status_code == 303 and blank.headers["location"] == "/jobs?status=ERROR"
    page = client.get("/jobs?status=COMPLETED")
    sort = re.search(r'href="([^"]+)"[^>]*data-sort="total"', page.text)
    assert sort is not None
    most_first = client.get(html.unescape(sort.group(1)))  # numbers sort largest first
    assert serials(most_first) == [j.id for j in reversed(good)]
    assert most_first.url.params["status"] == "COMPLETED"  # sorting keeps the filters

    pages: list[list[int]] = []
    page = client.get("/jobs?per_page=3")
    while True:
        pages.append(serials(page))
        ahead = link(page, "next")
        if ahead is None:
            break
        page = client.get(ahead)
    newest_first = [j.id for j in reversed(good + bad)]
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:]]
    back = client.get(link(page, "prev") or "")
    assert serials(back) == newest_first[3:6]
    assert serials(client.get(link(back, "prev") or "")) == newest_first[0:3]
    offset = client.get("/jobs?per_page=3&page=2")
    assert serials(offset) == newest_first[3:6]
    assert link(offset, "prev") == "/jobs?per_page=3" and link(offset, "next") is not None


def test_history_says_what_is_wrong_with_a_filter(browse: Browse, make_user: MakeUser) -> None:
    make_user("ann")
    client = logged_in(browse, "ann")
    page = client.get("/jobs?start=yesterday")
    assert page.status_code == 400
    assert "Invalid start &#39;yesterday&#39;" in page.text and 'role="alert"' in page.text
    assert 'value="yesterday"' in page.text  # the form keeps what was typed
    page = client.get("/jobs?status=FINSHED")
    assert page.status_code == 400 and "unknown status" in page.text
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert "in the future" in client.get(f"/jobs?start={tomorrow}").text


def test_quick_ranges_are_dates_in_the_url(browse: Browse, make_user: MakeUser) -> None:
    make_user("ann")
    page = logged_in(browse, "ann").get("/jobs?status=ERROR&end=2030-01-01&per_page=10")
    week_ago = (datetime.now(UTC).date() - timedelta(days=6)).isoformat()
    found = re.search(r'href="([^"]+)" class="chip"\s*>7 days<', page.text)
    assert found is not None
    assert html.unescape(found.group(1)) == f"/jobs?status=ERROR&per_page=10&start={week_ago}"


def test_export_links_carry_the_filters_and_return_those_jobs(
    browse: Browse, store: Store, make_user: MakeUser, drain: Drain
) -> None:
    ann = caller(store, make_user, "ann")
    made = [submit(store, ann, "echo", "x", name=f"ok {n}") for n in range(3)]
    submit(store, ann, "fail", "x", name="broken")
    drain()
    client = logged_in(browse, "ann")
    page = client.get("/jobs?status=COMPLETED&sort=name&direction=ASC&per_page=2&cursor=")
    page = client.get(page.headers["location"])
    found = re.search(r'href="([^"]+)" id="export-csv"', page.text)
    assert found is not None
    url = html.unescape(found.group(1))
    assert url == "/v1/jobs/export?status=COMPLETED&sort=name&direction=ASC&format=csv"
    exported = client.get(url)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(row["serial"]) for row in rows] == [job.id for job in made]
    ndjson = client.get(url.replace("format=csv", "format=ndjson"))
    assert len(ndjson.text.splitlines()) == 3


def test_another_members_job_is_not_found(
    browse: Browse, store: Store, make_user: MakeUser
) -> None:
    make_user("ann")
    bob = caller(store, make_user, "bob")
    theirs = submit(store, bob, "echo", "private", name="bob's secret")
    client = logged_in(browse, "ann")
    for url in (f"/jobs/{theirs.id}", f"/jobs/{theirs.identifier}", "/jobs/999", "/jobs/nope"):
        page = client.get(url)
        assert page.status_code == 404 and "404 · Not found" in page.text
        assert "bob&#39;s secret" not in page.text
    assert client.get(f"/jobs/{theirs.id}/live").status_code == 404
    token = form_token(client.get("/submit"))
    canceled = client.post(f"/jobs/{theirs.id}/cancel", data={"form_token": token})
    assert canceled.status_code == 404
    assert jobs.get(store, bob, theirs.id).status.value == "SUBMITTED"


def test_job_page_cancel_and_rerun(
    browse: Browse, store: Store, make_user: MakeUser, drain: Drain
) -> None:
    ann = caller(store, make_user, "ann")
    job = submit(store, ann, "echo", "first", "second", name="twice")
    client = logged_in(browse, "ann")
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and 'hx-trigger="every 2s"' in page.text
    assert client.post(f"/jobs/{job.id}/cancel").status_code == 401  # no form token
    assert "form is out of date" in client.post(f"/jobs/{job.id}/cancel").text
    response = client.post(f"/jobs/{job.id}/cancel", data={"form_token": form_token(page)})
    assert response.status_code == 303 and response.headers["location"] == f"/jobs/{job.id}"
    page = client.get(f"/jobs/{job.id}")
    assert 'id="job-status">CANCELED' in page.text and "hx-trigger" not in page.text
    response = client.post(f"/jobs/{job.id}/rerun", data={"form_token": form_token(page)})
    again = int(response.headers["location"].rsplit("/", 1)[1])
    drain()
    rerun, items = jobs.results(store, ann, again)
    assert rerun.name == "twice" and rerun.status.value == "COMPLETED"
    assert [i.outputs["results.json"]["text"] for i in items] == ["first", "second"]
    assert f"rerun of job {job.id}" in client.get(f"/jobs/{again}").text


def test_submit_form_validates_then_lands_on_the_job(
    browse: Browse, store: Store, make_user: MakeUser
) -> None:
    ann = caller(store, make_user, "ann")
    client = logged_in(browse, "ann")
    page = client.get("/submit?model=sentiment")
    assert 'name="part:input"' in page.text and "One input per line" in page.text
    token = form_token(page)
    form = {"form_token": token, "model": "sentiment", "version": "1.0.0"}
    missing = client.post("/submit", data=form)
    assert missing.status_code == 400 and "input &#39;input&#39; is required" in missing.text
    bad = client.post("/submit", data={**form, "part:input": "hi", "timeout": "-1"})
    assert bad.status_code == 400 and "timeout must be a number of seconds above 0" in bad.text
    assert client.get("/submit?model=nope").status_code == 400
    done = client.post(
        "/submit",
        data={**form, "part:input": "good\n\nbad\n", "split_lines": "1", "labels": "a, b"},
    )
    assert done.status_code == 303
    job = jobs.get(store, ann, done.headers["location"].rsplit("/", 1)[1])
    assert job.counters.total == 2 and job.labels == ("a", "b") and job.key_prefix is None
    uploaded = client.post(
        "/submit",
        data={"form_token": token, "model": "echo"},
        files={"file:input": ("note.txt", b"from a file", "text/plain")},
    )
    _, items = jobs.results(store, ann, uploaded.headers["location"].rsplit("/", 1)[1])
    assert store.blobs.get(items[0].parts["input"]) == b"from a file"


def test_usage_page_charts_the_filtered_jobs(
    browse: Browse, store: Store, make_user: MakeUser, drain: Drain
) -> None:
    ann = caller(store, make_user, "ann")
    submit(store, ann, "echo", "x", "y")
    submit(store, ann, "fail", "x")
    drain()
    client = logged_in(browse, "ann")
    page = client.get("/usage")
    assert page.status_code == 200 and "showing the last 30 days" in page.text
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page.text)
    assert data is not None and '"COMPLETED": [1]' in data.group(1)
    assert '"ERROR": [1]' in data.group(1)
    only = client.get("/usage?status=ERROR&start=2020-01-01")
    assert "<strong>1</strong> jobs" in only.text and "last 30 days" not in only.text
    assert client.get("/usage?group_by=day").status_code == 200  # ignores what it sets itself
    assert client.get("/usage?end=bad").status_code == 400


def test_admin_pages_are_for_admins_and_show_a_new_key_once(
    browse: Browse, store: Store, make_user: MakeUser
) -> None:
    make_user("ann")
    make_user("root", role=Role.ADMIN)
    member = logged_in(browse, "ann")
    for url in ("/admin/users", "/admin/models", "/admin/workers"):
        page = member.get(url)
        assert page.status_code == 403 and "only an admin may do this" in page.text
    admin = logged_in(browse, "root")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "ann@example.com" in page.text
    short = admin.post(
        "/admin/users",
        data={"form_token": form_token(page), "email": "cy@example.com", "password": "short"},
    )
    assert short.status_code == 400 and "at least 8 characters" in short.text
    made = admin.post(
        "/admin/users",
        data={
            "form_token": form_token(page),
            "email": "cy@example.com",
            "password": "long enough",
            "role": "manager",
            "account": "acme",
        },
    )
    token = re.search(r'<code id="new-key" class="token">([^<]+)</code>', made.text)
    assert made.status_code == 200 and token is not None
    cy = auth.authenticate_key(store, token.group(1))
    assert (cy.user.email, cy.role, cy.user.account_identifier) == (
        "cy@example.com",
        Role.MANAGER,
        "acme",
    )
    assert token.group(1) not in admin.get("/admin/users").text  # shown once
    prefix = token.group(1).split(".")[0]
    revoked = admin.post(f"/admin/keys/{prefix}/revoke", data={"form_token": form_token(page)})
    assert revoked.status_code == 303
    with pytest.raises(NotAuthenticated, match="revoked"):
        auth.authenticate_key(store, token.group(1))
    again = admin.post(f"/admin/keys/{prefix}/revoke", data={"form_token": form_token(page)})
    assert again.status_code == 404
    assert "sentiment" in admin.get("/admin/models").text
    assert "No worker has reported yet" in admin.get("/admin/workers").text
    info = WorkerInfo("far-away:1", "far-away", 1, ("echo",), 4, 1)
    now = datetime.now(UTC)
    with store.write() as conn:
        workers_store.save(conn, info, key_prefix="", started_at=now, seen_at=now)
    listed = admin.get("/admin/workers").text
    assert "far-away:1" in listed and "alive" in listed


def test_static_files_are_served_with_their_licences(browse: Browse, settings: Settings) -> None:
    client = browse()
    for path in (
        "/static/app.css",
        "/static/app.js",
        "/static/vendor/htmx-2.0.11/htmx.min.js",
        "/static/vendor/htmx-2.0.11/LICENSE",
        "/static/vendor/uplot-1.6.32/uPlot.iife.min.js",
        "/static/vendor/uplot-1.6.32/LICENSE",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/").headers["location"] == "/jobs"


@pytest.mark.parametrize(
    "sort", ["-submittedAt", "finishedAt", "-finishedAt", "name", "-cpuTime", "status"]
)
def test_previous_pages_retrace_the_next_pages_exactly(
    store: Store, make_user: MakeUser, drain: Drain, sort: str
) -> None:
    ann = caller(store, make_user, "ann")
    for n in range(8):
        submit(store, ann, "echo", "x", name=f"job {n % 3}")  # names tie: serials decide
    drain()
    for n in range(3):
        submit(store, ann, "echo", "x", name=f"waiting {n}")  # never finished: NULL sort keys
    forward: list[tuple[str | None, list[int]]] = []
    cursor: str | None = None
    while True:
        params = {"sort": sort, "per_page": "3", **({"cursor": cursor} if cursor else {})}
        found = jobs.history(store, ann, parse_history(params))
        forward.append((cursor, [job.id for job in found.jobs]))
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert sorted(s for _, page in forward for s in page) == list(range(1, 12))
    for (before, _), (here, _) in itertools.pairwise(forward):
        query = parse_history({"sort": sort, "per_page": "3", "cursor": here or ""})
        assert paging.previous_cursor(store, ann, query) == before
    assert paging.previous_cursor(store, ann, parse_history({"sort": sort})) is None
