"""The history query: parsing every wire form into one HistoryQuery, and refusing bad input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobline.domain.history import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    SORT_ALIASES,
    Cursor,
    HistoryQuery,
    SortField,
    TimeField,
    parse_history,
    parse_time,
)
from jobline.domain.status import ACCEPTED_STATUS_NAMES, JobStatus
from jobline.errors import InvalidQuery, InvalidRequest

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
JOB_UUID = "14856eb1-0ad8-49e7-9da3-887acb80fea5"


def parse(**params: str | list[str]) -> HistoryQuery:
    return parse_history(params, now=NOW)


def refused(**params: str | list[str]) -> InvalidQuery:
    with pytest.raises(InvalidQuery) as caught:
        parse(**params)
    return caught.value


# --- time forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:30:00+02:00", datetime(2024, 1, 15, 8, 30, tzinfo=UTC)),
        ("2024-01-15T10:30:00Z", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15T10:30:00.831", datetime(2024, 1, 15, 10, 30, 0, 831000, tzinfo=UTC)),
        ("2024-01-15 10:30", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("1625569133430", datetime(2021, 7, 6, 10, 58, 53, 430000, tzinfo=UTC)),
    ],
)
def test_start_accepts_iso_and_epoch_milliseconds(text: str, expected: datetime) -> None:
    assert parse(start=text).start == expected


def test_a_time_without_offset_is_read_in_the_query_time_zone() -> None:
    winter = parse(start="2024-01-15T10:00:00", tz="Europe/Paris")
    summer = parse(start="2024-05-15T10:00:00", tz="Europe/Paris")
    assert winter.start == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert summer.start == datetime(2024, 5, 15, 8, 0, tzinfo=UTC)


def test_an_explicit_offset_wins_over_the_query_time_zone() -> None:
    query = parse(start="2024-01-15T10:00:00+00:00", tz="Asia/Tokyo")
    assert query.start == datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


def test_a_start_date_is_its_first_instant_and_an_end_date_includes_the_whole_day() -> None:
    query = parse(start="2024-01-15", end="2024-01-15")
    assert query.start == datetime(2024, 1, 15, 0, 0, tzinfo=UTC)
    assert query.end == datetime(2024, 1, 15, 23, 59, 59, 999999, tzinfo=UTC)


def test_date_only_bounds_follow_the_query_time_zone() -> None:
    query = parse(start="2024-01-15", end="2024-01-15", tz="Europe/Paris")
    assert query.start == datetime(2024, 1, 14, 23, 0, tzinfo=UTC)
    assert query.end == datetime(2024, 1, 15, 22, 59, 59, 999999, tzinfo=UTC)


def test_an_end_date_on_a_daylight_saving_day_still_covers_the_whole_local_day() -> None:
    # 2024-03-10 has 23 hours in New York: it ends at 04:00 UTC on the 11th, not 05:00.
    end = parse_time("2024-03-10", param="end", tz=NEW_YORK, end=True)
    assert end == datetime(2024, 3, 11, 3, 59, 59, 999999, tzinfo=UTC)


def test_parse_time_takes_sdk_objects() -> None:
    assert parse_time(date(2024, 1, 15), param="start", tz=PARIS, end=False) == datetime(
        2024, 1, 14, 23, 0, tzinfo=UTC
    )
    naive = datetime(2024, 1, 15, 10, 0)
    assert parse_time(naive, param="start", tz=PARIS, end=False) == datetime(
        2024, 1, 15, 9, 0, tzinfo=UTC
    )
    aware = datetime(2024, 1, 15, 10, 0, tzinfo=NEW_YORK)
    assert parse_time(aware, param="end", tz=PARIS, end=True) == datetime(
        2024, 1, 15, 15, 0, tzinfo=UTC
    )


def test_parse_time_takes_epoch_milliseconds_as_numbers() -> None:
    expected = datetime(2021, 7, 6, 10, 58, 53, 430000, tzinfo=UTC)
    assert parse_time(1625569133430, param="start", tz=UTC, end=False) == expected
    assert parse_time(1625569133430.0, param="start", tz=UTC, end=False) == expected


def test_parse_time_always_returns_utc() -> None:
    moment = parse_time("2024-01-15T10:00:00+05:30", param="start", tz=PARIS, end=False)
    assert moment.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "12345", "2024-13-01", "2024-01-15T25:00", ""])
def test_an_unreadable_time_names_the_parameter_value_and_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_time(text, param="start", tz=UTC, end=False)
    error = caught.value
    assert error.details["param"] == "start"
    assert error.details["value"] == text
    assert "start" in error.message
    assert "ISO 8601" in error.message
    assert "epoch milliseconds" in error.message
    assert "YYYY-MM-DD" in error.message


@pytest.mark.parametrize("value", [True, 10**20, float("nan")])
def test_parse_time_refuses_non_times_and_out_of_range_numbers(value: object) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_time(value, param="end", tz=UTC, end=True)  # type: ignore[arg-type]
    assert caught.value.details["param"] == "end"


def test_a_bad_end_is_reported_as_end() -> None:
    error = refused(end="not-a-date")
    assert error.details["param"] == "end"
    assert "'not-a-date'" in error.message


def test_an_unknown_time_zone_is_refused() -> None:
    error = refused(tz="Mars/Olympus_Mons")
    assert error.details == {
        "param": "tz",
        "value": "Mars/Olympus_Mons",
        "accepted": "an IANA time zone name such as UTC or Europe/Paris",
    }


def test_end_before_start_is_refused_on_end() -> None:
    error = refused(start="2024-02-01", end="2024-01-31")
    assert error.details["param"] == "end"
    assert "before start" in error.message


def test_a_start_in_the_future_is_refused() -> None:
    error = refused(start="2024-07-01")
    assert error.details["param"] == "start"
    assert "future" in error.message


def test_a_start_a_few_seconds_ahead_is_clock_drift_not_the_future() -> None:
    ahead = (NOW + timedelta(seconds=5)).isoformat()
    assert parse(start=ahead).start == NOW + timedelta(seconds=5)


def test_the_time_field_defaults_to_submission_and_accepts_other_spellings() -> None:
    assert parse().time_field is TimeField.submitted
    assert parse(time_field="finished").time_field is TimeField.finished
    assert parse(time_field="createdAt").time_field is TimeField.created
    assert parse(time_field="UPDATED_AT").time_field is TimeField.updated
    error = refused(time_field="started")
    assert error.details["accepted"] == ["submitted", "created", "updated", "finished"]


# --- statuses ---------------------------------------------------------------------------------


def test_no_status_and_all_mean_no_filter() -> None:
    assert parse().statuses is None
    assert parse(status="all").statuses is None
    assert parse(status="pending,terminated").statuses is None


def test_status_categories_expand() -> None:
    assert parse(status="PENDING").statuses == frozenset(
        {
            JobStatus.OPEN,
            JobStatus.SUBMITTED,
            JobStatus.IN_PROGRESS,
        }
    )
    assert parse(status="terminated").statuses == frozenset(
        {
            JobStatus.COMPLETED,
            JobStatus.ERROR,
            JobStatus.CANCELED,
            JobStatus.TIMEDOUT,
            JobStatus.REJECTED,
        }
    )


def test_statuses_are_case_insensitive_and_take_every_spelling() -> None:
    assert parse(status="completed").statuses == frozenset({JobStatus.COMPLETED})
    assert parse(status="Cancelled").statuses == frozenset({JobStatus.CANCELED})
    assert parse(status="FINISHED").statuses == frozenset({JobStatus.COMPLETED, JobStatus.ERROR})
    assert parse(status="in-progress").statuses == frozenset({JobStatus.IN_PROGRESS})


def test_statuses_may_be_repeated_and_comma_separated() -> None:
    query = parse(status=["COMPLETED, timedout", "error"])
    assert query.statuses == frozenset({JobStatus.COMPLETED, JobStatus.TIMEDOUT, JobStatus.ERROR})


def test_an_unknown_status_lists_the_accepted_names() -> None:
    error = refused(status="COMPLETED,DONE,bogus")
    assert error.details["param"] == "status"
    assert error.details["value"] == "DONE, bogus"
    assert error.details["accepted"] == list(ACCEPTED_STATUS_NAMES)
    assert "DONE" in error.message
    assert "CANCELLED" in error.message
    assert "TERMINATED" in error.message


# --- sort -------------------------------------------------------------------------------------


def test_the_default_order_is_newest_submission_first() -> None:
    query = parse()
    assert (query.sort, query.descending) == (SortField.submittedAt, True)


@pytest.mark.parametrize(
    ("word", "field"),
    [
        ("createdAt", SortField.createdAt),
        ("CREATEDAT", SortField.createdAt),
        ("created_at", SortField.createdAt),
        ("cpu_time", SortField.cpuTime),
        ("submitted_by", SortField.submittedBy),
        ("submitedAt", SortField.submittedAt),
        ("submittedJobs", SortField.submittedAt),
        ("fail", SortField.failed),
        ("succeeded", SortField.completed),
        ("id", SortField.identifier),
        ("jobIdentifier", SortField.identifier),
        ("job_SN", SortField.serial),
        ("serial", SortField.serial),
        ("elapsedTime", SortField.elapsedTime),
    ],
)
def test_sort_accepts_api_names_and_aliases(word: str, field: SortField) -> None:
    assert parse(sort=word).sort is field


def test_sort_aliases_are_keyed_case_folded() -> None:
    assert SORT_ALIASES["submitedat"] is SortField.submittedAt
    assert SORT_ALIASES["job_sn"] is SortField.serial
    assert all(key == key.casefold() for key in SORT_ALIASES)


def test_a_sign_on_the_sort_sets_the_direction() -> None:
    assert parse(sort="-createdAt").descending is True
    assert parse(sort="+name").descending is False
    assert parse(sort="-createdAt", direction="desc").descending is True


def test_direction_is_case_insensitive() -> None:
    assert parse(sort="model", direction="asc").descending is False
    assert parse(direction="DESC").descending is True


def test_a_sign_and_a_direction_that_disagree_are_refused() -> None:
    error = refused(sort="-createdAt", direction="ASC")
    assert error.details["param"] == "direction"


def test_an_unknown_sort_field_lists_the_allowed_fields() -> None:
    error = refused(sort="priority")
    assert error.details["param"] == "sort"
    assert error.details["value"] == "priority"
    assert error.details["accepted"] == [field.value for field in SortField]
    assert "cpuTime" in error.message
    assert "submittedAt" in error.message


def test_an_unknown_direction_is_refused() -> None:
    error = refused(direction="up")
    assert error.details["accepted"] == ["ASC", "DESC"]


# --- pages ------------------------------------------------------------------------------------


def test_page_zero_and_one_are_the_first_page() -> None:
    for page in ("0", "1"):
        query = parse(page=page, per_page="10")
        assert query.page is None
        assert query.offset == 0


def test_a_later_page_skips_the_earlier_ones() -> None:
    query = parse(page="3", per_page="20")
    assert (query.page, query.per_page, query.offset) == (3, 20, 40)


def test_a_negative_page_is_refused() -> None:
    error = refused(page="-1")
    assert error.details["param"] == "page"
    assert error.details["value"] == "-1"


def test_a_page_that_is_not_a_number_is_refused() -> None:
    assert refused(page="two").details["param"] == "page"


def test_per_page_defaults_and_is_capped_with_the_cap_in_the_message() -> None:
    assert parse().per_page == DEFAULT_PER_PAGE
    assert parse(per_page=str(MAX_PER_PAGE)).per_page == 1000
    error = refused(per_page="1001")
    assert error.details["param"] == "per_page"
    assert "1000" in error.message
    assert "1001" in error.message


@pytest.mark.parametrize("text", ["0", "-5", "ten", "1_000", "2.5", "\u0663"])
def test_per_page_must_be_a_positive_integer(text: str) -> None:
    error = refused(per_page=text)
    assert (error.details["param"], error.details["value"]) == ("per_page", text)


def test_the_cap_is_configurable() -> None:
    assert parse_history({"per_page": "2000"}, now=NOW, max_per_page=5000).per_page == 2000
    with pytest.raises(InvalidQuery, match="1 to 100"):
        parse_history({"per_page": "101"}, now=NOW, max_per_page=100)


def test_total_is_a_boolean() -> None:
    assert parse().with_total is False
    assert parse(total="true").with_total is True
    assert parse(total="1").with_total is True
    assert parse(total="FALSE").with_total is False
    assert refused(total="maybe").details["param"] == "total"


# --- cursors ----------------------------------------------------------------------------------


def test_a_cursor_survives_the_round_trip_as_url_safe_text() -> None:
    query = parse(sort="createdAt")
    cursor = query.cursor_after(datetime(2024, 1, 15, 10, 0, tzinfo=PARIS), 41)
    text = cursor.encode()
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert Cursor.decode(text) == cursor
    assert cursor.key == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)


def test_a_cursor_continues_the_same_order() -> None:
    first = parse(sort="-total")
    cursor = first.cursor_after(12, 7)
    following = parse(sort="-total", cursor=cursor.encode())
    assert following.cursor == cursor
    assert following.offset == 0
    assert following.cursor is not None
    assert following.cursor.key == 12


def test_a_cursor_from_a_naive_datetime_reads_it_as_utc() -> None:
    cursor = parse().cursor_after(datetime(2024, 1, 15, 10, 0), 3)
    assert cursor.value == "2024-01-15T10:00:00+00:00"


def test_a_cursor_may_hold_no_value_for_a_nullable_column() -> None:
    cursor = parse(sort="finishedAt").cursor_after(None, 9)
    assert Cursor.decode(cursor.encode()).key is None


def _encoded(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "not a cursor",
        "eyJzb3J0Ijo",  # a cut-off cursor
        _encoded([1, 2]),
        _encoded({"sort": "createdAt", "desc": True, "value": None}),
        _encoded({"sort": "priority", "desc": True, "value": None, "serial": 1}),
        _encoded({"sort": "createdAt", "desc": "yes", "value": None, "serial": 1}),
        _encoded({"sort": "createdAt", "desc": True, "value": "yesterday", "serial": 1}),
        _encoded({"sort": "createdAt", "desc": True, "value": "2024-01-15T10:00", "serial": 1}),
        _encoded({"sort": "total", "desc": True, "value": "12", "serial": 1}),
        _encoded({"sort": "name", "desc": True, "value": 12, "serial": 1}),
        _encoded({"sort": "name", "desc": True, "value": "a", "serial": True}),
        _encoded({"sort": "name", "desc": True, "value": "a", "serial": "1"}),
    ],
)
def test_a_malformed_or_tampered_cursor_is_refused(text: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        Cursor.decode(text)
    assert caught.value.details["param"] == "cursor"
    assert caught.value.details["value"] == text


def test_a_cursor_with_a_flipped_character_is_refused() -> None:
    text = parse().cursor_after(datetime(2024, 1, 15, tzinfo=UTC), 5).encode()
    tampered = text[:3] + ("A" if text[3] != "A" else "B") + text[4:]
    with pytest.raises(InvalidQuery):
        Cursor.decode(tampered)


def test_a_cursor_made_for_another_order_is_refused() -> None:
    cursor = parse(sort="createdAt").cursor_after(datetime(2024, 1, 15, tzinfo=UTC), 5)
    other_sort = refused(sort="updatedAt", cursor=cursor.encode())
    other_direction = refused(sort="createdAt", direction="ASC", cursor=cursor.encode())
    assert other_sort.details["param"] == "cursor"
    assert other_direction.details["param"] == "cursor"
    assert "createdAt DESC" in other_direction.message


def test_a_cursor_and_a_later_page_are_refused_together() -> None:
    cursor = parse().cursor_after(datetime(2024, 1, 15, tzinfo=UTC), 5).encode()
    assert parse(page="1", cursor=cursor).cursor is not None
    assert refused(page="2", cursor=cursor).details["param"] == "page"


# --- who and what -----------------------------------------------------------------------------


def test_job_ids_mix_uuids_and_serials_in_every_form() -> None:
    query = parse(job_id=[JOB_UUID.upper(), "12, 13", '["{0}", 14]'.replace("{0}", JOB_UUID)])
    assert query.job_identifiers == (JOB_UUID, JOB_UUID)
    assert query.serials == (12, 13, 14)


def test_job_uuids_are_normalised() -> None:
    query = parse(job_id=JOB_UUID.replace("-", "").upper())
    assert query.job_identifiers == (JOB_UUID,)


@pytest.mark.parametrize("text", ["job-12", "-3", "\u00b2", '["a", {"b": 1}]', "[1, 2", "[true]"])
def test_a_bad_job_id_is_refused(text: str) -> None:
    error = refused(job_id=text)
    assert error.details["param"] == "job_id"
    assert "UUID" in error.message


def test_who_and_what_filters_are_collected() -> None:
    query = parse(
        user=["Sarah Connor", "kyle@example.com"],
        user_id="u-1",
        access_key="jU7q896uSReJcXXDOS6P",
        account="acme",
        model=["sentiment", "Language"],
        model_version="1.0.2",
        name=" monthly run ",
        label=["nightly", "eplus"],
    )
    assert query.users == ("Sarah Connor", "kyle@example.com")
    assert query.user_ids == ("u-1",)
    assert query.access_keys == ("jU7q896uSReJcXXDOS6P",)
    assert query.accounts == ("acme",)
    assert query.models == ("sentiment", "Language")
    assert query.model_versions == ("1.0.2",)
    assert query.name_contains == "monthly run"
    assert query.labels == ("nightly", "eplus")


def test_blank_values_and_unknown_names_are_ignored() -> None:
    assert parse(user="", status=" ", sort="", colour="blue") == HistoryQuery()


def test_a_single_valued_parameter_given_twice_is_refused() -> None:
    error = refused(sort=["name", "model"])
    assert error.details["param"] == "sort"
    assert "more than once" in error.message


# --- direct construction ----------------------------------------------------------------------


def test_a_query_built_directly_is_validated_too() -> None:
    with pytest.raises(InvalidQuery, match="per_page"):
        HistoryQuery(per_page=MAX_PER_PAGE + 1)
    with pytest.raises(InvalidQuery, match="time zone"):
        HistoryQuery(start=datetime(2024, 1, 1))
    with pytest.raises(InvalidQuery, match="page"):
        HistoryQuery(page=0)
    with pytest.raises(InvalidQuery, match="tz"):
        HistoryQuery(tz="Nowhere/Else")


def test_an_invalid_query_is_a_bad_request_that_travels_as_json() -> None:
    error = refused(per_page="5000")
    assert isinstance(error, InvalidRequest)
    body = json.loads(json.dumps(error.to_dict()))
    assert body["error"] == "invalid_query"
    assert body["details"]["param"] == "per_page"


# --- echo -------------------------------------------------------------------------------------


def test_the_echo_of_an_empty_query_shows_only_order_and_page() -> None:
    assert parse().echo() == {
        "sort": "submittedAt",
        "direction": "DESC",
        "per_page": 50,
        "max_per_page": 1000,
        "with_total": False,
        "page": 1,
    }


def test_the_echo_shows_the_resolved_query() -> None:
    query = parse(
        user="sarah",
        job_id=f"{JOB_UUID},7",
        status="finished",
        start="2024-01-01",
        end="2024-01-31",
        tz="Europe/Paris",
        time_field="created",
        sort="fail",
        direction="asc",
        page="2",
        per_page="25",
        total="1",
    )
    assert query.echo() == {
        "users": ["sarah"],
        "job_identifiers": [JOB_UUID],
        "serials": [7],
        "statuses": ["COMPLETED", "ERROR"],
        "time_field": "created",
        "tz": "Europe/Paris",
        "start": "2024-01-01T00:00:00+01:00",
        "end": "2024-01-31T23:59:59.999999+01:00",
        "sort": "failed",
        "direction": "ASC",
        "per_page": 25,
        "max_per_page": 1000,
        "with_total": True,
        "page": 2,
    }


def test_the_echo_flags_a_cursor_instead_of_a_page() -> None:
    cursor = parse().cursor_after(datetime(2024, 1, 15, tzinfo=UTC), 5).encode()
    echoed = parse(cursor=cursor).echo()
    assert echoed["cursor"] is True
    assert "page" not in echoed


def test_the_echo_is_json() -> None:
    query = parse(status="pending", start="1625569133430", name="run")
    assert json.loads(json.dumps(query.echo())) == query.echo()
