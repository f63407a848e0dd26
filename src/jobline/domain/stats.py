"""Stats over the history: the same filter as a history page, summed up per group (DESIGN §3).

A :class:`StatsQuery` is a :class:`~jobline.domain.history.HistoryQuery` (only its filters count:
order and paging mean nothing to a sum) plus what to group by. Each :class:`StatsGroup` answers
for one combination of group values: how many jobs and inputs, how the inputs ended, the CPU time
spent, and the median and 95th percentile of queue and elapsed time.

>>> query = parse_stats({"group_by": "model,DAY", "status": "TERMINATED", "tz": "Europe/Paris"})
>>> [group.value for group in query.group_by], query.echo()["tz"]
(['model', 'day'], 'Europe/Paris')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from jobline.domain.history import ORDER_PARAMS, PAGE_PARAMS, HistoryQuery, Params, parse_history
from jobline.domain.ordering import invalid_query

__all__ = [
    "PERCENTILES",
    "GroupBy",
    "Stats",
    "StatsGroup",
    "StatsQuery",
    "bucket_start",
    "parse_stats",
    "percentile",
]


PERCENTILES = (0.5, 0.95)
"""The percentiles of queue and elapsed time every group carries (p50, p95)."""

# The keys of HistoryQuery.echo() that describe a listing's order and page.
_LISTING_ECHO = ("sort", "direction", "per_page", "max_per_page", "with_total", "page", "cursor")


class GroupBy(StrEnum):
    """What stats can be grouped by; the values are the API spellings of ``group_by``."""

    status = "status"
    model = "model"
    user = "user"
    access_key = "access_key"
    account = "account"
    day = "day"
    week = "week"
    month = "month"

    @property
    def is_time(self) -> bool:
        """Whether this groups by a period of the query's time field, in the query's zone."""
        return self in _TIME_GROUPS


_TIME_GROUPS = frozenset({GroupBy.day, GroupBy.week, GroupBy.month})


@dataclass(frozen=True)
class StatsQuery:
    """A stats request, validated: the history filters and the groups, in the order asked.

    No groups means one group over everything the filters match, there even when nothing
    matches (with zero jobs).
    """

    filters: HistoryQuery
    group_by: tuple[GroupBy, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.group_by)) != len(self.group_by):
            shown = ", ".join(group.value for group in self.group_by)
            raise invalid_query("group_by", shown, "a group is named twice", _GROUP_NAMES)

    def echo(self) -> dict[str, Any]:
        """The effective query as JSON-able snake_case: the filters and the groups.

        When a time group is asked for, the time field and zone its periods are cut in are
        always shown, window or not.
        """
        echoed = {
            name: value for name, value in self.filters.echo().items() if name not in _LISTING_ECHO
        }
        if any(group.is_time for group in self.group_by):
            echoed.update(time_field=self.filters.time_field.value, tz=self.filters.tz)
        echoed["group_by"] = [group.value for group in self.group_by]
        return echoed


@dataclass(frozen=True, slots=True)
class StatsGroup:
    """The figures of one group: ``key`` holds its values in the order of ``group_by``.

    A time group's value is the first day of its period as ``YYYY-MM-DD`` (weeks start on
    Monday); a job submitted without an access key has ``None`` as its ``access_key``.
    Percentiles are None when no job of the group has the time yet (it never started).
    """

    key: tuple[str | None, ...]
    jobs: int
    inputs: int
    succeeded: int
    failed: int
    canceled: int
    timed_out: int
    cpu_seconds: float
    queue_seconds_p50: float | None
    queue_seconds_p95: float | None
    elapsed_seconds_p50: float | None
    elapsed_seconds_p95: float | None


@dataclass(frozen=True, slots=True)
class Stats:
    """Every group a stats query produced, ordered by key (missing values last)."""

    group_by: tuple[GroupBy, ...]
    groups: tuple[StatsGroup, ...]
    echo: dict[str, Any]


_GROUP_NAMES = [group.value for group in GroupBy]


def parse_stats(params: Params, *, now: datetime | None = None) -> StatsQuery:
    """The StatsQuery that raw wire parameters (native snake_case names) ask for.

    The filters are read by :func:`~jobline.domain.history.parse_history`, so they accept
    exactly what the history accepts; the order and page parameters are left out. ``group_by``
    may repeat or hold a comma list, case-insensitive. Raises InvalidQuery naming the parameter.
    """
    listing = set(ORDER_PARAMS + PAGE_PARAMS + ("group_by",))
    filters = parse_history({k: v for k, v in params.items() if k not in listing}, now=now)
    raw = params.get("group_by", ())
    values = (raw,) if isinstance(raw, str) else tuple(raw)
    words = [word.strip() for value in values for word in value.split(",") if word.strip()]
    groups: list[GroupBy] = []
    for word in words:
        try:
            group = GroupBy(word.lower())
        except ValueError as exc:
            raise invalid_query("group_by", word, "unknown group", _GROUP_NAMES) from exc
        if group not in groups:
            groups.append(group)
    return StatsQuery(filters=filters, group_by=tuple(groups))


def bucket_start(moment: datetime, group: GroupBy, zone: tzinfo) -> date:
    """The first day of the ``group`` period (day, week from Monday, month) holding ``moment``,
    as a calendar in ``zone`` sees it. A naive ``moment`` is taken as UTC, as the store keeps it.

    >>> from datetime import UTC
    >>> bucket_start(datetime(2024, 5, 2, 23, 30, tzinfo=UTC), GroupBy.week, UTC).isoformat()
    '2024-04-29'
    """
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    day = moment.astimezone(zone).date()
    if group is GroupBy.week:
        return day - timedelta(days=day.weekday())
    if group is GroupBy.month:
        return day.replace(day=1)
    return day


def percentile(ranked: dict[int, float], count: int, fraction: float) -> float:
    """The ``fraction`` percentile of ``count`` sorted values, interpolated between the two
    nearest ranks exactly as PostgreSQL's ``percentile_cont`` does.

    ``ranked`` maps 0-based ranks to values and needs only the ranks ``floor(fraction *
    (count - 1))`` and the one after it (when the position falls between them).

    >>> percentile({1: 2.0, 2: 4.0}, 4, 0.5)
    3.0
    """
    position = fraction * (count - 1)
    below = int(position)
    value = ranked[below]
    if position > below:
        value += (position - below) * (ranked[below + 1] - value)
    return value
