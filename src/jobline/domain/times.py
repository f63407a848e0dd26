"""Times in a history query: which timestamp the window bounds, and reading what callers send.

Every form a caller may send for ``start`` and ``end`` (DESIGN §3 "when") becomes an aware UTC
datetime here; naive and date-only times are read in the query's time zone.

>>> parse_time("1714557600000", param="start", tz=UTC, end=False).isoformat()
'2024-05-01T10:00:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobline.domain.ordering import invalid_query

TIME_FORMS = (
    "ISO 8601 with or without offset (2024-05-01T12:00:00+02:00, 2024-05-01T10:00:00Z, "
    "2024-05-01T12:00:00 in the query's time zone), a date YYYY-MM-DD (as start: its first "
    "instant; as end: the whole day), or epoch milliseconds (1714557600000)"
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ASCII only: \d also takes other scripts' digits, which int() may refuse. Shorter runs of
# digits are left to ISO 8601, which reads 20240501 as a date.
_EPOCH_MS_TEXT = re.compile(r"[0-9]{10,}")


class TimeField(StrEnum):
    """Which of a job's timestamps the ``start``/``end`` window bounds."""

    submitted = "submitted"
    created = "created"
    updated = "updated"
    finished = "finished"


_TIME_FIELD_LOOKUP: dict[str, TimeField] = {
    spelling: f for f in TimeField for spelling in (f.value, f"{f.value}at", f"{f.value}_at")
}


def parse_time_field(text: str | None) -> TimeField:
    """The TimeField a ``time_field`` word names (``submittedAt``, ``created_at``, ``updated``…)."""
    if text is None:
        return TimeField.submitted
    found = _TIME_FIELD_LOOKUP.get(text.casefold())
    if found is None:
        raise invalid_query("time_field", text, "unknown time field", [f.value for f in TimeField])
    return found


def parse_zone(name: str) -> tzinfo:
    """The time zone an IANA name stands for; raises InvalidQuery on ``tz`` if there is none."""
    if name == "UTC":
        return UTC  # the default must work even where no tz database is installed
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        accepted = "an IANA time zone name such as UTC or Europe/Paris"
        raise invalid_query("tz", name, "unknown time zone", accepted) from exc


def to_utc(moment: datetime, tz: tzinfo) -> datetime:
    """The moment in UTC, reading it in ``tz`` if it is naive."""
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def parse_time(
    value: str | int | float | date | datetime, *, param: str, tz: tzinfo, end: bool
) -> datetime:
    """An aware UTC datetime from any time form a caller may send (DESIGN §3 "when").

    Naive times are read in ``tz``. A date-only value as a start is that day's first instant;
    as an end (``end=True``) it is the day's last microsecond, so the whole day is included.

    >>> parse_time("2024-05-01", param="end", tz=UTC, end=True).isoformat()
    '2024-05-01T23:59:59.999999+00:00'
    """
    try:
        return _utc_time(value, tz, end)
    except (ValueError, OverflowError) as exc:  # unparseable, or beyond datetime's years 1-9999
        raise invalid_query(param, value, "not a time", TIME_FORMS) from exc


def _utc_time(value: object, tz: tzinfo, end: bool) -> datetime:
    if isinstance(value, datetime):
        return to_utc(value, tz)
    if isinstance(value, date):
        return _day_bound(value, tz, end)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _EPOCH + timedelta(milliseconds=value)
    if not isinstance(value, str):  # untyped callers: a bool, None, a list…
        raise ValueError(f"not a time type: {type(value).__name__}")
    text = value.strip()
    if _EPOCH_MS_TEXT.fullmatch(text):
        return _EPOCH + timedelta(milliseconds=int(text))
    try:
        # date.fromisoformat refuses anything with a time part, so this takes date-only text.
        day = date.fromisoformat(text)
    except ValueError:
        return to_utc(datetime.fromisoformat(text), tz)
    return _day_bound(day, tz, end)


def _day_bound(day: date, tz: tzinfo, end: bool) -> datetime:
    if not end:
        return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    # The next midnight minus one microsecond, so a day of 23 or 25 hours (DST) is whole too.
    next_midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return next_midnight.astimezone(UTC) - timedelta(microseconds=1)
