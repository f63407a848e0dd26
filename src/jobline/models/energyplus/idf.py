"""Rewriting the RunPeriod of an EnergyPlus IDF model, to run its year as twelve monthly cases.

IDF is a plain text format: objects are comma-separated fields ended by ``;``, the first field
names the object's class, and ``!`` starts a comment that runs to the end of the line. There is
no quoting, so those three characters always mean the same. The file is read as Latin-1, which
maps every byte to one character and back, so everything but the rewritten objects keeps its
exact bytes whatever the file's real encoding.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from jobline.models.base import ModelError

MONTHS = tuple(f"{month:02d}" for month in range(1, 13))
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Any year that is not a leap year: TMY weather files have no 29 February.
_COMMON_YEAR = 2023
# The field names of RunPeriod in EnergyPlus 25.2, after the class name.
_LABELS = (
    "Name",
    "Begin Month",
    "Begin Day of Month",
    "Begin Year",
    "End Month",
    "End Day of Month",
    "End Year",
    "Day of Week for Start Day",
    "Use Weather File Holidays and Special Days",
    "Use Weather File Daylight Saving Period",
    "Apply Weekend Holiday Rule",
    "Use Weather File Rain Indicators",
    "Use Weather File Snow Indicators",
    "Treat Weather as Actual",
    "First Hour Interpolation Starting Values",
)
_NAME, _BEGIN_MONTH, _BEGIN_DAY, _BEGIN_YEAR, _END_MONTH, _END_DAY, _END_YEAR, _WEEKDAY = range(8)
_TOKEN = re.compile(r"![^\n]*|[,;]|[^!,;]+")
_LINE_REST = re.compile(r"[ \t]*(?:![^\r\n]*)?")


@dataclass(frozen=True, slots=True)
class IdfObject:
    """One object of an IDF file: where its text starts and ends, and its fields without
    comments or surrounding blanks (the first is the class name)."""

    start: int
    end: int
    fields: tuple[str, ...]


def objects(text: str) -> Iterator[IdfObject]:
    """Every object of an IDF text, in file order."""
    start: int | None = None
    fields: list[str] = []
    current: list[str] = []
    for token in _TOKEN.finditer(text):
        value = token.group()
        if value.startswith("!"):
            continue
        if start is None and value.strip():
            start = token.start() + len(value) - len(value.lstrip())
        if value in (",", ";"):
            fields.append("".join(current).strip())
            current = []
            if value == ";":
                yield IdfObject(
                    start if start is not None else token.start(), token.end(), tuple(fields)
                )
                start, fields = None, []
        else:
            current.append(value)


def monthly_cases(idf: bytes) -> dict[str, bytes]:
    """Twelve copies of `idf`, ``"01"`` to ``"12"``, each simulating one month of the year.

    The first RunPeriod is rewritten with the month's first and last day and any others are
    removed. Its other fields are kept. Without a begin year, each month gets the weekday it
    has in the original run, so weekday schedules agree with a whole-year run; with one, the
    year is kept and EnergyPlus derives the weekdays from it.
    """
    text = idf.decode("latin-1")
    periods = [o for o in objects(text) if o.fields[0].lower() == "runperiod"]
    if not periods:
        raise ModelError(
            "input 'idf' has no RunPeriod object, so it cannot be split into months; add one "
            "(for a year: 'RunPeriod,Year,1,1,,12,31,;') or submit it with split false"
        )
    first = periods[0]
    cases: dict[str, bytes] = {}
    for month in range(1, 13):
        pieces: list[str] = []
        cursor = 0
        for period in periods:
            pieces.append(text[cursor : period.start])
            if period is first:
                pieces.append(_render(_month_fields(first.fields, month)))
            else:
                name = period.fields[1] if len(period.fields) > 1 else ""
                pieces.append(f"! RunPeriod {name!r} left out of the monthly split")
            # The replacement ends in a comment: it takes the place of the old object's
            # trailing comment, and anything else on that line moves to the next one.
            rest = _LINE_REST.match(text, period.end)
            cursor = rest.end() if rest else period.end
            if cursor < len(text) and text[cursor] not in "\r\n":
                pieces.append("\n")
        pieces.append(text[cursor:])
        cases[f"{month:02d}"] = "".join(pieces).encode("latin-1")
    return cases


def _month_fields(fields: tuple[str, ...], month: int) -> list[str]:
    values = list(fields[1:])
    values += [""] * (len(_LABELS) - len(values))
    name = values[_NAME] or "RunPeriod"
    year = _integer(values[_BEGIN_YEAR], name, _BEGIN_YEAR) if values[_BEGIN_YEAR] else None
    if year is None:
        weekday = _weekday_of_first(values, month, name)
        last_day = calendar.monthrange(_COMMON_YEAR, month)[1]
    else:
        # EnergyPlus checks a given weekday against the year: leave the weekday to it.
        weekday = ""
        last_day = calendar.monthrange(year, month)[1]
    values[_BEGIN_MONTH], values[_BEGIN_DAY] = str(month), "1"
    values[_END_MONTH], values[_END_DAY] = str(month), str(last_day)
    values[_END_YEAR] = "" if year is None else str(year)
    values[_WEEKDAY] = weekday
    return values


def _weekday_of_first(values: list[str], month: int, name: str) -> str:
    """The weekday of the month's first day in the original run, which starts on its begin
    date with its start weekday (Sunday when none is given, as in EnergyPlus)."""
    start_weekday = values[_WEEKDAY] or "Sunday"
    matches = [i for i, day in enumerate(WEEKDAYS) if day.lower() == start_weekday.lower()]
    if not matches:
        raise ModelError(
            f"input 'idf': RunPeriod {name!r} has Day of Week for Start Day {start_weekday!r}; "
            f"accepted: {', '.join(WEEKDAYS)}"
        )
    try:
        begin = date(
            _COMMON_YEAR,
            _integer(values[_BEGIN_MONTH], name, _BEGIN_MONTH),
            _integer(values[_BEGIN_DAY], name, _BEGIN_DAY),
        )
    except ValueError as exc:
        raise ModelError(
            f"input 'idf': RunPeriod {name!r} has no valid begin date: {exc}"
        ) from None
    offset = (date(_COMMON_YEAR, month, 1) - begin).days
    return WEEKDAYS[(matches[0] + offset) % 7]


def _integer(value: str, name: str, index: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ModelError(
            f"input 'idf': RunPeriod {name!r} has {_LABELS[index]} {value!r}; it must be a number"
        ) from None


def _render(values: list[str]) -> str:
    # Trailing blank fields are dropped, as EnergyPlus's own editor does.
    while len(values) > _WEEKDAY + 1 and not values[-1]:
        values.pop()
    lines = ["RunPeriod,"]
    for index, value in enumerate(values):
        label = _LABELS[index] if index < len(_LABELS) else f"Field {index + 1}"
        end = ";" if index == len(values) - 1 else ","
        lines.append(f"  {value + end:<24} !- {label}")
    return "\n".join(lines)
