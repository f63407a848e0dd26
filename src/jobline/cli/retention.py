"""``jobline retention``: delete old terminated jobs, with a dry run that shows what would go.

Like the other administration commands it opens the database directly (``--database-url`` /
``--data-dir``), so it runs with or without a server. Jobs go with their inputs, events and
blob folders, a batch at a time (:mod:`jobline.core.retention`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from jobline.cli.admin import opened
from jobline.cli.common import DatabaseUrl, DataDir
from jobline.cli.output import local_minute, reported, table
from jobline.core import retention
from jobline.domain.retention import DURATION_FORMS, RetentionPlan, RetentionReport, RetentionRule
from jobline.domain.status import TERMINATED
from jobline.domain.times import TimeField

DEFAULT_BATCH = 1000  # jobs per transaction


def register(app: typer.Typer) -> None:
    """Add the ``retention`` command to ``app``."""
    app.command("retention")(retention_command)


def retention_command(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", metavar="AGE", help=f"age of the jobs to delete: {DURATION_FORMS}"
        ),
    ],
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="only jobs in this status or category, in any dialect's spelling; repeatable "
            "or comma-separated (default: every terminated job; pending jobs are never deleted)",
        ),
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            metavar="ACCOUNT",
            help="only this account's jobs; repeatable or comma-separated (default: all)",
        ),
    ] = None,
    time_field: Annotated[
        TimeField,
        typer.Option(
            "--time-field",
            help="the timestamp the age is measured by; jobs without it are never deleted",
        ),
    ] = TimeField.finished,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would be deleted; delete nothing")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="delete, after showing what will be deleted")
    ] = False,
    batch: Annotated[
        int, typer.Option(min=1, help="jobs deleted per transaction; smaller holds locks shorter")
    ] = DEFAULT_BATCH,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete terminated jobs older than --older-than, with their inputs, events and blobs."""
    if dry_run == apply:
        raise typer.BadParameter("give exactly one of --dry-run and --apply")
    with reported():
        rule = RetentionRule.parse(
            older_than, statuses=status or (), accounts=account or (), time_field=time_field
        )
    now = datetime.now(UTC)
    with opened(data_dir, database_url) as store:
        found = retention.plan(store, rule, now)
        for line in _summary(found, older_than):
            typer.echo(line)
        if not apply:
            if found.jobs:
                typer.echo(f"dry run: nothing deleted; --apply deletes these {found.jobs} jobs")
            return
        report = retention.apply(store, rule, now, batch, progress=_progress)
    typer.echo(
        f"deleted {report.jobs} jobs, {report.inputs} inputs, {report.events} events "
        f"and {report.blob_folders} blob folders in {report.batches} batches"
    )


def _summary(found: RetentionPlan, older_than: str) -> list[str]:
    rule = found.rule
    field = rule.time_field.value
    statuses = "all terminated" if rule.statuses == TERMINATED else _names(rule.statuses)
    lines = [
        f"selecting jobs {field} before {local_minute(found.cutoff)} "
        f"(older than {older_than.strip()}); statuses: {statuses or 'none'}; "
        f"accounts: {', '.join(rule.accounts) or 'all'}"
    ]
    if rule.ignored:
        lines.append(
            f"note: pending jobs are never deleted; ignoring {_names(rule.ignored)} from --status"
        )
    if not found.groups:
        return [*lines, "no jobs match: nothing to delete"]
    rows: list[tuple[object, ...]] = [
        (g.account, g.status, g.jobs, g.inputs, g.bytes) for g in found.groups
    ]
    rows.append(("TOTAL", "", found.jobs, found.inputs, found.bytes))
    headers = ("ACCOUNT", "STATUS", "JOBS", "INPUTS", "BYTES")
    lines += table(headers, rows, numeric=("JOBS", "INPUTS", "BYTES"))
    oldest, newest = local_minute(found.oldest), local_minute(found.newest)
    return [*lines, f"oldest {field}: {oldest}, newest {field}: {newest}"]


def _names(statuses: frozenset[str]) -> str:
    return ", ".join(sorted(statuses))


def _progress(done: RetentionReport) -> None:
    typer.echo(f"deleted {done.jobs} jobs so far ({done.batches} batches)", err=True)
