"""The history's filters as command-line flags, shared by ``history``, ``stats`` and ``export``.

Each flag's parameter is named as the API's query parameter, so ``history_filters(ctx)`` hands
them to the SDK unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jobline.domain.history import FILTER_PARAMS

Repeated = list[str] | None  # values of a repeatable option or argument; None when not given


User = Annotated[
    Repeated, typer.Option("--user", help="username, name or email (part of it); repeatable")
]
AccessKey = Annotated[Repeated, typer.Option("--access-key", help="key prefix; repeatable")]
Account = Annotated[
    Repeated, typer.Option("--account", help="account (managers, admins); repeatable")
]
Model = Annotated[Repeated, typer.Option("--model", help="model identifier or name; repeatable")]
ModelVersion = Annotated[Repeated, typer.Option("--model-version", help="repeatable")]
JobId = Annotated[Repeated, typer.Option("--job", help="job UUID or serial; repeatable")]
Name = Annotated[str | None, typer.Option("--name", help="job name contains this")]
Search = Annotated[
    str | None, typer.Option("--search", help="in name, description, message and input errors")
]
Label = Annotated[Repeated, typer.Option("--label", help="repeatable")]
Count = Annotated[
    Repeated, typer.Option("--count", help="input counts, e.g. failed>=1 or completed<total")
]
Status = Annotated[
    Repeated, typer.Option("--status", help="a status, or PENDING / TERMINATED; repeatable")
]
TimeField = Annotated[
    str | None,
    typer.Option(
        "--time-field", help="what --start/--end bound: submitted, created, updated, finished"
    ),
]
Start = Annotated[
    str | None,
    typer.Option("--start", help="ISO 8601 time or date, or epoch milliseconds; inclusive"),
]
End = Annotated[str | None, typer.Option("--end", help="like --start; a date includes its day")]
Tz = Annotated[
    str | None,
    typer.Option("--tz", help="time zone of times without an offset and of days; UTC by default"),
]


def history_filters(ctx: typer.Context) -> dict[str, Any]:
    """The filter flags given to a command, by their API names."""
    # Click keeps every parsed flag under its parameter's name, which is the API's name.
    return {name: ctx.params.get(name) for name in FILTER_PARAMS}
