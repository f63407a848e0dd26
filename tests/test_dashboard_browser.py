"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real server.

The app runs under uvicorn in a background thread with an embedded worker on the same store, so
jobs really run while the page watches them. A failing test leaves a screenshot of the page in
``test-artifacts/``. ``make test`` installs Chromium with apt when it is missing; Playwright's own
browser download is never used.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright
from sqlalchemy import update

from jobline.api.app import create_app
from jobline.core import auth, jobs
from jobline.domain.records import Job, Principal
from jobline.settings import Settings
from jobline.store import Store
from jobline.store.tables import jobs as jobs_table
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource
from tests.conftest import MakeUser
from tests.servers import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
WAIT_MS = 20_000  # for a job to end while the page watches

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def server(store: Store, settings: Settings) -> Iterator[str]:
    """The root URL of a jobline server (API, dashboard and a worker) on a free port."""
    worker = Worker(LocalWorkSource(store), slots=2, name="browser-test")
    worker.start()
    try:
        with serving(create_app(store, settings)) as url:
            yield url
    finally:
        worker.stop()


@pytest.fixture
def page(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser tab on the server; a screenshot is saved when the test fails."""
    context = browser.new_context(base_url=server, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    failed_before = request.session.testsfailed
    yield opened
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
        opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def log_in(page: Page, username: str, target: str = "/jobs") -> None:
    page.goto(target)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def caller(store: Store, make_user: MakeUser, username: str) -> Principal:
    return auth.authenticate_key(store, make_user(username)[1])


def submit(store: Store, who: Principal, model: str, *texts: str, name: str = "") -> Job:
    inputs = {str(n): {"input": text.encode()} for n, text in enumerate(texts, 1)}
    return jobs.submit(store, who, jobs.Submission(model=model, inputs=inputs, name=name))


def wait_ended(store: Store, who: Principal, *made: Job) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not all(jobs.get(store, who, job.id).status.terminal for job in made):
        assert time.monotonic() < deadline, "the jobs did not end"
        time.sleep(0.05)


def follow(page: Page, target: Locator) -> None:
    """Click a link or button and wait for the page it leads to."""
    with page.expect_navigation():
        target.click()


def shown_serials(page: Page) -> list[int]:
    return [int(s) for s in page.locator("tr[data-serial]").evaluate_all(
        "rows => rows.map(r => r.dataset.serial)"
    )]  # fmt: skip


def test_log_in_and_out(page: Page, make_user: MakeUser) -> None:
    make_user("ann")
    page.goto("/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fjobs$"))
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    expect(page.get_by_label("Email")).to_have_value("ann@example.com")
    log_in(page, "ann")
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.get_by_role("heading", name="Job history")).to_be_visible()
    expect(page.get_by_text("Nothing has been submitted yet")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    page.goto("/jobs")
    expect(page).to_have_url(re.compile(r"/login"))


def test_filter_history_by_status_and_by_date(
    page: Page, store: Store, make_user: MakeUser
) -> None:
    ann = caller(store, make_user, "ann")
    good = [submit(store, ann, "echo", "hi", name=f"good {n}") for n in range(3)]
    bad = [submit(store, ann, "fail", "x", name=f"bad {n}") for n in range(2)]
    wait_ended(store, ann, *good, *bad)
    old = datetime.now(UTC) - timedelta(days=10)
    with store.write() as conn:
        conn.execute(
            update(jobs_table).where(jobs_table.c.id == good[0].id).values(submitted_at=old)
        )
    log_in(page, "ann")
    assert sorted(shown_serials(page)) == sorted(j.id for j in good + bad)

    page.get_by_label("ERROR").check()
    follow(page, page.get_by_role("button", name="Apply filters"))
    expect(page).to_have_url(re.compile(r"/jobs\?status=ERROR$"))
    assert sorted(shown_serials(page)) == sorted(j.id for j in bad)
    expect(page.get_by_label("ERROR")).to_be_checked()

    page.get_by_label("ERROR").uncheck()
    page.get_by_label("COMPLETED").check()
    follow(page, page.get_by_role("button", name="Apply filters"))
    assert sorted(shown_serials(page)) == sorted(j.id for j in good)
    follow(page, page.get_by_role("link", name="7 days"))
    assert sorted(shown_serials(page)) == sorted(j.id for j in good[1:])
    follow(page, page.get_by_role("link", name="30 days"))
    assert sorted(shown_serials(page)) == sorted(j.id for j in good)

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    page.get_by_label("To (inclusive)").fill(yesterday)
    follow(page, page.get_by_role("button", name="Apply filters"))
    assert shown_serials(page) == [good[0].id]
    page.get_by_label("To (inclusive)").fill("not a date")
    follow(page, page.get_by_role("button", name="Apply filters"))
    expect(page.get_by_role("alert")).to_contain_text("Invalid end 'not a date'")


def test_sort_by_a_column(page: Page, store: Store, make_user: MakeUser) -> None:
    ann = caller(store, make_user, "ann")
    made = [submit(store, ann, "echo", *(["x"] * n), name=f"{n} inputs") for n in (2, 5, 1, 3)]
    wait_ended(store, ann, *made)
    log_in(page, "ann")
    by_total = sorted(made, key=lambda job: job.counters.total)
    follow(page, page.get_by_role("link", name="Inputs", exact=True))
    expect(page).to_have_url(re.compile(r"sort=total&direction=DESC$"))
    assert shown_serials(page) == [job.id for job in reversed(by_total)]
    follow(page, page.get_by_role("link", name="Inputs", exact=True))
    expect(page).to_have_url(re.compile(r"sort=total&direction=ASC$"))
    assert shown_serials(page) == [job.id for job in by_total]
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Inputs ▲")


def test_page_forward_and_back(page: Page, store: Store, make_user: MakeUser) -> None:
    ann = caller(store, make_user, "ann")
    serials = [submit(store, ann, "echo", "x", name=f"job {n}").id for n in range(7)]
    newest_first = sorted(serials, reverse=True)
    log_in(page, "ann", "/jobs?per_page=3")
    assert shown_serials(page) == newest_first[0:3]
    follow(page, page.get_by_role("link", name="Next"))
    assert shown_serials(page) == newest_first[3:6]
    follow(page, page.get_by_role("link", name="Next"))
    assert shown_serials(page) == newest_first[6:]
    expect(page.get_by_role("link", name="Next")).to_have_count(0)
    follow(page, page.get_by_role("link", name="Previous"))
    assert shown_serials(page) == newest_first[3:6]
    follow(page, page.get_by_role("link", name="Previous"))
    assert shown_serials(page) == newest_first[0:3]
    expect(page.get_by_role("link", name="Previous")).to_have_count(0)


def test_open_a_job_and_watch_it_complete(page: Page, store: Store, make_user: MakeUser) -> None:
    ann = caller(store, make_user, "ann")
    job = submit(store, ann, "sleep", "2", "0", name="watched")
    log_in(page, "ann")
    page.get_by_role("link", name="watched").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{job.id}$"))
    status = page.locator("#job-status")
    expect(status).not_to_have_text("COMPLETED")
    expect(status).to_have_text("COMPLETED", timeout=WAIT_MS)
    expect(page.locator(".legend")).to_contain_text("2 succeeded")
    expect(page.get_by_text("updating every")).to_have_count(0)
    expect(page.locator(".timeline li")).to_have_count(3)  # submitted, in progress, completed


def test_cancel_a_running_job(page: Page, store: Store, make_user: MakeUser) -> None:
    ann = caller(store, make_user, "ann")
    job = submit(store, ann, "sleep", "6", name="long")
    log_in(page, "ann", f"/jobs/{job.id}")
    expect(page.locator("#job-status")).to_have_text("IN_PROGRESS", timeout=WAIT_MS)
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-status")).to_have_text("CANCELED")
    expect(page.get_by_text("canceled by ann").first).to_be_visible()
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    assert jobs.get(store, ann, job.id).status.value == "CANCELED"


def test_submit_a_sentiment_job_from_the_form(
    page: Page, store: Store, make_user: MakeUser
) -> None:
    ann = caller(store, make_user, "ann")
    log_in(page, "ann", "/submit?model=sentiment")
    page.get_by_label("Timeout (seconds)").fill("soon")
    page.get_by_label("Text").fill("What a lovely day\nThis is awful")
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_contain_text("timeout 'soon' is not a number")
    expect(page.get_by_label("Timeout (seconds)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Text")).to_have_value("What a lovely day\nThis is awful")

    page.get_by_label("Timeout (seconds)").fill("60")
    page.get_by_label("One input per line").check()
    page.get_by_label("Job name").fill("from the form")
    page.get_by_role("button", name="Submit job").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=WAIT_MS)
    page.locator("details summary", has_text="results.json").first.click()
    expect(page.locator("pre").first).to_contain_text('"positive"')
    serial = int(page.url.rsplit("/", 1)[1])
    job, items = jobs.results(store, ann, serial)
    assert (job.name, job.counters.total, job.timeout_seconds) == ("from the form", 2, 60.0)
    assert sorted(i.outputs["results.json"]["data"]["result"]["classPredictions"][0]["class"]
                  for i in items) == ["negative", "positive"]  # fmt: skip


def test_export_csv_of_what_is_shown(
    page: Page, store: Store, make_user: MakeUser, tmp_path: Path
) -> None:
    ann = caller(store, make_user, "ann")
    made = [submit(store, ann, "echo", "x", name=f"ok {n}") for n in range(3)]
    made.append(submit(store, ann, "fail", "x", name="broken"))
    wait_ended(store, ann, *made)
    log_in(page, "ann", "/jobs?status=COMPLETED&sort=name&direction=ASC&per_page=2")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [row["name"] for row in rows] == ["ok 0", "ok 1", "ok 2"]  # every page, in order
    assert {row["status"] for row in rows} == {"COMPLETED"}
    assert download.value.suggested_filename.endswith(".csv")


def test_a_member_cannot_open_another_members_job(
    page: Page, store: Store, make_user: MakeUser
) -> None:
    make_user("ann")
    bob = caller(store, make_user, "bob")
    theirs = submit(store, bob, "echo", "private", name="bob's secret")
    log_in(page, "ann")
    expect(page.get_by_text("bob's secret")).to_have_count(0)
    response = page.goto(f"/jobs/{theirs.id}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="404 · Not found")).to_be_visible()
    expect(page.get_by_text("bob's secret")).to_have_count(0)
    response = page.goto(f"/jobs/{theirs.identifier}")
    assert response is not None and response.status == 404
