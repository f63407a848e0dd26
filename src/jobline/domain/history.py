"""The history query: one validated value every front-end builds and the store executes.

DESIGN §3. The native API, the Modzy and JESS dialects, the dashboard, the CLI and the SDK all
end up with a :class:`HistoryQuery`; dialects first rename their own parameters to the native
snake_case names and then call :func:`parse_history`, so every rule about what a filter, a time,
a sort or a page may be lives here, once (times in :mod:`~jobline.domain.times`, the order in
:mod:`~jobline.domain.ordering`, the keyset cursor in :mod:`~jobline.domain.cursor`; their public
names are importable from here too). Bad input stops here with :class:`InvalidQuery` naming the
parameter, the value received and what is accepted; it never reaches SQL.

>>> query = parse_history({"status": "pending", "sort": "-createdAt", "per_page": "20"})
>>> query.sort, query.descending, query.per_page
(<SortField.createdAt: 'createdAt'>, True, 20)
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from jobline.domain.conditions import CountCondition, parse_count_condition
from jobline.domain.cursor import Cursor, CursorValue
from jobline.domain.ordering import (
    SORT_ALIASES,
    SortField,
    direction_name,
    invalid_query,
    parse_order,
)
from jobline.domain.status import ACCEPTED_STATUS_NAMES, ALL, JobStatus, statuses_matching
from jobline.domain.times import TimeField, parse_time, parse_time_field, parse_zone, to_utc

__all__ = [
    "DEFAULT_PER_PAGE",
    "FILTER_PARAMS",
    "MAX_PER_PAGE",
    "ORDER_PARAMS",
    "PAGE_PARAMS",
    "PARAMS",
    "SORT_ALIASES",
    "Cursor",
    "CursorValue",
    "HistoryQuery",
    "SortField",
    "TimeField",
    "parse_history",
    "parse_time",
]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
# A start this far ahead of the server clock is still taken as "now": client clocks drift.
FUTURE_START_GRACE_SECONDS = 60.0
# ASCII only: str.isdigit and \d also take other scripts' digits, which int() may refuse.
_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class HistoryQuery:
    """One history request, validated: who, what, state, when, order and page (DESIGN §3).

    Every default means "no filter". Times are aware and the window is inclusive at both ends.
    Visibility is not part of the query: the core ANDs it in from the caller's identity.
    """

    users: tuple[str, ...] = ()  # similar match on username, first/last/full name or email
    user_ids: tuple[str, ...] = ()
    access_keys: tuple[str, ...] = ()  # key prefixes
    accounts: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    model_versions: tuple[str, ...] = ()
    job_identifiers: tuple[str, ...] = ()  # lowercase UUIDs
    serials: tuple[int, ...] = ()
    name_contains: str | None = None
    search: str | None = None  # in name, description, message and the inputs' error texts
    labels: tuple[str, ...] = ()
    counts: tuple[CountCondition, ...] = ()  # e.g. failed>=1, completed<total
    statuses: frozenset[JobStatus] | None = None  # None: every status
    time_field: TimeField = TimeField.submitted
    start: datetime | None = None
    end: datetime | None = None
    tz: str = "UTC"  # how naive and date-only times were read, and how the echo shows them
    sort: SortField = SortField.submittedAt
    descending: bool = True
    page: int | None = None  # 1-based offset paging; None for the first page or a cursor
    per_page: int = DEFAULT_PER_PAGE
    cursor: Cursor | None = None
    with_total: bool = False
    max_per_page: int = MAX_PER_PAGE  # the cap per_page was checked against

    def __post_init__(self) -> None:
        parse_zone(self.tz)
        if not 1 <= self.per_page <= self.max_per_page:
            accepted = f"an integer from 1 to {self.max_per_page}"
            raise invalid_query("per_page", self.per_page, "out of range", accepted)
        if self.page is not None and self.page < 1:
            raise invalid_query("page", self.page, "pages start at 1", "an integer of at least 1")
        self._check_window()
        self._check_cursor()

    def _check_window(self) -> None:
        for param, bound in (("start", self.start), ("end", self.end)):
            if bound is not None and bound.utcoffset() is None:
                raise invalid_query(param, bound.isoformat(), "no time zone", "an aware datetime")
        if self.start is not None and self.end is not None and self.end < self.start:
            problem = f"before start {self.start.isoformat()}"
            raise invalid_query("end", self.end.isoformat(), problem, "a time at or after start")

    def _check_cursor(self) -> None:
        if self.cursor is None:
            return
        if self.page is not None and self.page > 1:
            raise invalid_query(
                "page", self.page, "cannot be combined with a cursor", "one of them"
            )
        if (self.cursor.sort, self.cursor.descending) != (self.sort, self.descending):
            made_for = f"{self.cursor.sort.value} {direction_name(self.cursor.descending)}"
            problem = (
                f"made for sort {made_for}, not {self.sort.value} {direction_name(self.descending)}"
            )
            raise invalid_query(
                "cursor", self.cursor.encode(), problem, "a cursor from the same sort and direction"
            )

    @property
    def offset(self) -> int:
        """How many rows offset paging skips (0 with a cursor or on the first page)."""
        return (self.page - 1) * self.per_page if self.page else 0

    @property
    def zone(self) -> tzinfo:
        """The query's time zone."""
        return parse_zone(self.tz)

    def cursor_after(self, value: CursorValue | datetime, serial: int) -> Cursor:
        """The cursor for the page after a row with this sort key and serial.

        A naive datetime is taken as UTC, the time zone the store keeps.
        """
        if isinstance(value, datetime):
            value = to_utc(value, UTC).isoformat()
        return Cursor(self.sort, self.descending, value, serial)

    def echo(self) -> dict[str, Any]:
        """The effective query as JSON-able snake_case, so nothing is silently narrowed.

        Filters that are not set are left out; the window is shown in the query's time zone.
        """
        echoed: dict[str, Any] = {}
        for name in _LIST_FILTERS:
            if values := getattr(self, name):
                echoed[name] = list(values)
        if self.name_contains:
            echoed["name_contains"] = self.name_contains
        if self.search:
            echoed["search"] = self.search
        if self.counts:
            echoed["counts"] = [str(condition) for condition in self.counts]
        if self.statuses is not None:
            echoed["statuses"] = sorted(status.value for status in self.statuses)
        echoed.update(self._echo_window())
        echoed.update(
            sort=self.sort.value,
            direction=direction_name(self.descending),
            per_page=self.per_page,
            max_per_page=self.max_per_page,
            with_total=self.with_total,
        )
        if self.cursor is not None:
            echoed["cursor"] = True
        else:
            echoed["page"] = self.page or 1
        return echoed

    def _echo_window(self) -> dict[str, Any]:
        if self.start is None and self.end is None:
            return {}
        window: dict[str, Any] = {"time_field": self.time_field.value, "tz": self.tz}
        for name, bound in (("start", self.start), ("end", self.end)):
            if bound is not None:
                window[name] = bound.astimezone(self.zone).isoformat()
        return window


_LIST_FILTERS = (
    "users",
    "user_ids",
    "access_keys",
    "accounts",
    "models",
    "model_versions",
    "job_identifiers",
    "serials",
    "labels",
)


# The wire names parse_history reads: what filters, what orders, what pages.
FILTER_PARAMS = (
    "user",
    "user_id",
    "access_key",
    "account",
    "model",
    "model_version",
    "job_id",
    "name",
    "search",
    "label",
    "count",
    "status",
    "time_field",
    "start",
    "end",
    "tz",
)
ORDER_PARAMS = ("sort", "direction")
PAGE_PARAMS = ("page", "per_page", "cursor", "total")
PARAMS = FILTER_PARAMS + ORDER_PARAMS + PAGE_PARAMS

Params = Mapping[str, str | Sequence[str]]


def parse_history(
    params: Params, *, now: datetime | None = None, max_per_page: int = MAX_PER_PAGE
) -> HistoryQuery:
    """The HistoryQuery that raw wire parameters (native snake_case names) ask for.

    A value may be one string or several (a repeated query parameter); blank values count as
    absent and unknown names are ignored (the API layer decides about those). ``now`` is the
    clock a start time must not be ahead of (defaults to the current time); ``max_per_page``
    caps ``per_page``. Raises InvalidQuery naming the parameter, value and accepted forms.
    """
    tz = _one(params, "tz") or "UTC"
    zone = parse_zone(tz)
    start = _time_param(params, "start", zone, end=False)
    _check_not_future(start, datetime.now(UTC) if now is None else now)
    sort, descending = parse_order(_one(params, "sort"), _one(params, "direction"))
    uuids, serials = _parse_job_ids(_many(params, "job_id"))
    return HistoryQuery(
        users=_many(params, "user"),
        user_ids=_many(params, "user_id"),
        access_keys=_many(params, "access_key"),
        accounts=_many(params, "account"),
        models=_many(params, "model"),
        model_versions=_many(params, "model_version"),
        job_identifiers=uuids,
        serials=serials,
        name_contains=_one(params, "name"),
        search=_one(params, "search"),
        labels=_many(params, "label"),
        counts=tuple(parse_count_condition(text) for text in _many(params, "count")),
        statuses=_parse_statuses(_many(params, "status")),
        time_field=parse_time_field(_one(params, "time_field")),
        start=start,
        end=_time_param(params, "end", zone, end=True),
        tz=tz,
        sort=sort,
        descending=descending,
        page=_parse_page(_one(params, "page")),
        per_page=_parse_int("per_page", _one(params, "per_page"), DEFAULT_PER_PAGE),
        cursor=_parse_cursor(_one(params, "cursor")),
        with_total=_parse_bool("total", _one(params, "total")),
        max_per_page=max_per_page,
    )


def _many(params: Params, name: str) -> tuple[str, ...]:
    raw = params.get(name)
    if raw is None:
        return ()
    values = (raw,) if isinstance(raw, str) else tuple(raw)
    return tuple(value.strip() for value in values if value.strip())


def _one(params: Params, name: str) -> str | None:
    values = _many(params, name)
    if len(values) > 1:
        raise invalid_query(name, ", ".join(values), "given more than once", "a single value")
    return values[0] if values else None


def _split_commas(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _time_param(params: Params, name: str, zone: tzinfo, *, end: bool) -> datetime | None:
    text = _one(params, name)
    return None if text is None else parse_time(text, param=name, tz=zone, end=end)


def _check_not_future(start: datetime | None, now: datetime) -> None:
    # A start ahead of the clock can only match nothing; it is almost always a time zone slip.
    if start is not None and start > now + timedelta(seconds=FUTURE_START_GRACE_SECONDS):
        accepted = f"a time no later than now ({now.astimezone(UTC).isoformat()})"
        raise invalid_query("start", start.isoformat(), "in the future", accepted)


def _parse_statuses(values: tuple[str, ...]) -> frozenset[JobStatus] | None:
    words = _split_commas(values)
    if not words:
        return None
    found, unknown = statuses_matching(words)
    if unknown:
        raise invalid_query("status", ", ".join(unknown), "unknown status", ACCEPTED_STATUS_NAMES)
    return None if found == ALL else found


def _parse_job_ids(values: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Job UUIDs (lowercased) and serials, from plain, comma-separated or JSON-array values."""
    uuids: list[str] = []
    serials: list[int] = []
    for item in _split_commas(_expand_json_arrays(values)):
        if _DIGITS.fullmatch(item):
            serials.append(int(item))
            continue
        try:
            uuids.append(str(uuid.UUID(item)))
        except ValueError as exc:
            raise invalid_query("job_id", item, "not a job id", _JOB_ID_ACCEPTED) from exc
    return tuple(uuids), tuple(serials)


_JOB_ID_ACCEPTED = 'job UUIDs or serial numbers, repeated, comma-separated or as ["a", "b"]'


def _expand_json_arrays(values: Iterable[str]) -> list[str]:
    # Modzy's Java SDK sends jobIdentifiers as a JSON array inside one query value.
    expanded: list[str] = []
    for value in values:
        if not value.startswith("["):
            expanded.append(value)
            continue
        try:
            items = json.loads(value)
        except ValueError as exc:
            raise invalid_query("job_id", value, "not a JSON array", _JOB_ID_ACCEPTED) from exc
        if not isinstance(items, list) or not all(_is_id_item(item) for item in items):
            raise invalid_query("job_id", value, "not an array of ids", _JOB_ID_ACCEPTED)
        expanded.extend(str(item) for item in items)
    return expanded


def _is_id_item(item: object) -> bool:
    return isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool))


def _parse_int(param: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    if not _INTEGER.fullmatch(text):
        raise invalid_query(param, text, "not an integer", "a whole number")
    return int(text)


def _parse_page(text: str | None) -> int | None:
    page = _parse_int("page", text, 0)
    if page < 0:
        raise invalid_query(
            "page", text, "negative", "0 or 1 for the first page, or a larger integer"
        )
    return page if page > 1 else None


def _parse_cursor(text: str | None) -> Cursor | None:
    return None if text is None else Cursor.decode(text)


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _parse_bool(param: str, text: str | None) -> bool:
    if text is None:
        return False
    found = _BOOLEANS.get(text.lower())
    if found is None:
        raise invalid_query(param, text, "not a boolean", list(_BOOLEANS))
    return found
