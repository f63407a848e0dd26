"""How a history page is ordered: the sort fields, their other spellings, and the direction.

This is the bottom of the history query's modules (``times``, ``cursor`` and ``history`` build on
it), so it also holds :func:`invalid_query`, the one way they all report bad input.

>>> parse_order("-created_at", None)
(<SortField.createdAt: 'createdAt'>, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from jobline.errors import InvalidQuery


def invalid_query(
    param: str, value: object, problem: str, accepted: str | Sequence[str]
) -> InvalidQuery:
    """The error for bad input, built one way so every message has the same parts."""
    shown = str(value)
    listed = accepted if isinstance(accepted, str) else ", ".join(accepted)
    return InvalidQuery(
        f"Invalid {param} {shown!r}: {problem}. Accepted: {listed}.",
        param=param,
        value=shown,
        accepted=accepted if isinstance(accepted, str) else list(accepted),
    )


class SortField(StrEnum):
    """What a history page can be ordered by; the values are the API spellings."""

    identifier = "identifier"
    serial = "serial"
    name = "name"
    submittedBy = "submittedBy"
    user = "user"
    status = "status"
    createdAt = "createdAt"
    updatedAt = "updatedAt"
    submittedAt = "submittedAt"
    finishedAt = "finishedAt"
    total = "total"
    completed = "completed"
    failed = "failed"
    model = "model"
    elapsedTime = "elapsedTime"
    queueTime = "queueTime"
    cpuTime = "cpuTime"


_ALIAS_SPELLINGS: dict[str, SortField] = {
    "created_at": SortField.createdAt,
    "submitted_at": SortField.submittedAt,
    "updated_at": SortField.updatedAt,
    "finished_at": SortField.finishedAt,
    "elapsed_time": SortField.elapsedTime,
    "queue_time": SortField.queueTime,
    "cpu_time": SortField.cpuTime,
    "submitted_by": SortField.submittedBy,
    # The Modzy docs' own spellings (seeds/000), sent verbatim by Modzy clients.
    "submitedAt": SortField.submittedAt,
    "submittedJobs": SortField.submittedAt,
    "fail": SortField.failed,
    "succeeded": SortField.completed,
    "id": SortField.identifier,
    "jobIdentifier": SortField.identifier,
    "job_SN": SortField.serial,
}

SORT_ALIASES: dict[str, SortField] = {k.casefold(): v for k, v in _ALIAS_SPELLINGS.items()}
"""Other spellings of sort fields, keyed case-folded: look a word up as ``word.casefold()``."""

_SORT_LOOKUP: dict[str, SortField] = {**{f.casefold(): f for f in SortField}, **SORT_ALIASES}

TIME_SORTS = frozenset(
    {SortField.createdAt, SortField.updatedAt, SortField.submittedAt, SortField.finishedAt}
)
"""The sorts whose keys are timestamps."""

NUMBER_SORTS = frozenset(
    {
        SortField.serial,
        SortField.total,
        SortField.completed,
        SortField.failed,
        SortField.elapsedTime,
        SortField.queueTime,
        SortField.cpuTime,
    }
)
"""The sorts whose keys are numbers; the rest are text."""


def parse_order(sort_text: str | None, direction_text: str | None) -> tuple[SortField, bool]:
    """The sort field and whether it is descending, from the ``sort`` and ``direction`` words.

    A sign on the sort word (``-createdAt``) is a direction too; the two must then agree.
    Without either, a page is newest submitted first.
    """
    sort, signed = _parse_sort(sort_text) if sort_text else (SortField.submittedAt, None)
    direction = _parse_direction(direction_text) if direction_text else None
    if signed is None:
        return sort, True if direction is None else direction
    if direction is not None and direction != signed:
        raise invalid_query(
            "direction", direction_text, f"contradicts sort {sort_text!r}", "ASC or DESC"
        )
    return sort, signed


def direction_name(descending: bool) -> str:
    """The ``direction`` word for an order: ``DESC`` or ``ASC``."""
    return "DESC" if descending else "ASC"


def _parse_sort(text: str) -> tuple[SortField, bool | None]:
    """The field a sort word names, and the direction its sign asks for (None: no sign)."""
    sign = text[0] if text[0] in "+-" else ""
    found = _SORT_LOOKUP.get(text.removeprefix(sign).strip().casefold())
    if found is None:
        problem = "unknown sort field (names are case-insensitive; a leading - sorts descending)"
        raise invalid_query("sort", text, problem, [f.value for f in SortField])
    return found, {"-": True, "+": False}.get(sign)


def _parse_direction(text: str) -> bool:
    word = text.upper()
    if word not in ("ASC", "DESC"):
        raise invalid_query("direction", text, "unknown direction", ["ASC", "DESC"])
    return word == "DESC"
