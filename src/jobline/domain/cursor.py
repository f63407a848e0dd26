"""The keyset cursor: where one history page ends and the next begins (DESIGN §3 "page")."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import datetime

from jobline.domain.ordering import NUMBER_SORTS, TIME_SORTS, SortField, invalid_query

CursorValue = str | int | float | None

_CURSOR_ACCEPTED = "the next_cursor of a previous page, unchanged"
_SORT_NAMES = frozenset(f.value for f in SortField)


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page ends: the sort key and the serial of its last row.

    Serials break ties, so pages never repeat or skip a job. Cursors are opaque to callers but
    not secret: a forged one can only move within what the caller may see anyway, because
    visibility is applied from the caller's identity.

    >>> Cursor.decode(Cursor(SortField.serial, True, 41, 41).encode()).serial
    41
    """

    sort: SortField
    descending: bool
    value: CursorValue
    serial: int

    def __post_init__(self) -> None:
        problem = _cursor_problem(self.sort, self.value, self.serial)
        if problem:
            raise invalid_query("cursor", self.value, problem, _CURSOR_ACCEPTED)

    def encode(self) -> str:
        """The cursor as URL-safe text (base64 of compact JSON, no padding)."""
        body = {
            "sort": self.sort.value,
            "desc": self.descending,
            "value": self.value,
            "serial": self.serial,
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor ``encode`` produced; anything else raises InvalidQuery on ``cursor``."""
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            body = json.loads(raw)
        except ValueError as exc:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
            raise invalid_query("cursor", text, "not a cursor", _CURSOR_ACCEPTED) from exc
        if not _cursor_shape_ok(body):
            raise invalid_query("cursor", text, "not a cursor", _CURSOR_ACCEPTED)
        sort = SortField(body["sort"])
        # Checked here too, not only in __post_init__, so the error shows the text received.
        problem = _cursor_problem(sort, body["value"], body["serial"])
        if problem:
            raise invalid_query("cursor", text, problem, _CURSOR_ACCEPTED)
        return cls(sort, body["desc"], body["value"], body["serial"])

    @property
    def key(self) -> str | int | float | datetime | None:
        """The sort key as the store compares it: a datetime for time sorts."""
        if self.sort in TIME_SORTS and isinstance(self.value, str):
            return datetime.fromisoformat(self.value)
        return self.value


def _cursor_shape_ok(body: object) -> bool:
    return (
        isinstance(body, dict)
        and body.keys() == {"sort", "desc", "value", "serial"}
        and isinstance(body["sort"], str)
        and body["sort"] in _SORT_NAMES
        and isinstance(body["desc"], bool)
    )


def _cursor_problem(sort: SortField, value: object, serial: object) -> str | None:
    """Why a cursor's parts cannot be a position in a ``sort`` ordering, or None if they can."""
    if not isinstance(serial, int) or isinstance(serial, bool):
        return "its serial is not an integer"
    if value is None:
        return None  # the last row had no value for a nullable column (e.g. finishedAt)
    if sort in TIME_SORTS:
        ok = isinstance(value, str) and _is_aware_iso(value)
    elif sort in NUMBER_SORTS:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, str)
    return None if ok else f"its value does not fit sort {sort.value}"


def _is_aware_iso(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False
