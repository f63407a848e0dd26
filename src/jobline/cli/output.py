"""How commands print: plain tables, local times, and errors that end the command."""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NoReturn

import typer

from jobline.errors import JoblineError


def fail(message: str) -> NoReturn:
    """End the command with ``error: message`` on stderr and exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def reported() -> Iterator[None]:
    """Turn any jobline error raised inside into :func:`fail`."""
    try:
        yield
    except JoblineError as exc:
        fail(exc.message)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Container[str] = ()
) -> Iterator[str]:
    """Lines of a plain-text table, columns aligned; those named in ``numeric`` to the right."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        padded = (
            cell.rjust(width) if header in numeric else cell.ljust(width)
            for header, cell, width in zip(headers, row, widths, strict=True)
        )
        yield "  ".join(padded).rstrip()


def local_minute(value: datetime | str | None) -> str:
    """A time in the local time zone to the minute (``2024-05-01 14:03``); ``-`` for none."""
    if value is None:
        return "-"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # the server and the store keep UTC
    return when.astimezone().replace(tzinfo=None).isoformat(sep=" ", timespec="minutes")
