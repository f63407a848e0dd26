"""Conditions on a job's input counters, such as ``failed>=1`` or ``completed<total``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobline.domain.ordering import invalid_query

COUNTERS = ("total", "queued", "running", "succeeded", "failed", "canceled", "timed_out")
_COUNTER_ALIASES = {"completed": "succeeded", "timedout": "timed_out", "cancelled": "canceled"}
OPERATORS = (">=", "<=", "!=", "=", ">", "<")
_FORM = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|!=|==|=|>|<)\s*([a-z_]+|\d+)\s*$")
ACCEPTED = (
    "<counter><op><number or counter>, e.g. failed>=1 or completed<total; counters: "
    + ", ".join(COUNTERS)
    + " (completed = succeeded); operators: "
    + " ".join(OPERATORS)
)


@dataclass(frozen=True, slots=True)
class CountCondition:
    """``left op right``: ``left`` a counter, ``right`` a counter or a whole number."""

    left: str
    op: str
    right: str | int

    def __str__(self) -> str:
        return f"{self.left}{self.op}{self.right}"


def _counter(word: str, text: str) -> str:
    name = _COUNTER_ALIASES.get(word, word)
    if name not in COUNTERS:
        raise invalid_query("count", text, f"{word!r} is not a counter", ACCEPTED)
    return name


def parse_count_condition(text: str) -> CountCondition:
    """Parse one condition; InvalidQuery on ``count`` for anything else.

    >>> parse_count_condition("completed<total")
    CountCondition(left='succeeded', op='<', right='total')
    """
    match = _FORM.match(text.lower())
    if match is None:
        raise invalid_query("count", text, "not a counter condition", ACCEPTED)
    left, op, right = match.groups()
    op = "=" if op == "==" else op
    value: str | int = int(right) if right.isdigit() else _counter(right, text)
    return CountCondition(_counter(left, text), op, value)
