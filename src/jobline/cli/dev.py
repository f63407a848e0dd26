"""``jobline dev``: tools for developing and benchmarking jobline, not for production data."""

from __future__ import annotations

from typing import Annotated

import typer

from jobline.cli.common import DatabaseUrl, DataDir, load_settings, open_store
from jobline.cli.output import reported
from jobline.store.seed import SeedPlan, seed

PROGRESS_STEPS = 10  # progress lines while seeding


def register(app: typer.Typer) -> None:
    """Add the ``dev`` command group to ``app``."""
    dev = typer.Typer(help="Developer tools (open the database directly).", no_args_is_help=True)
    dev.command("seed")(dev_seed)
    app.add_typer(dev, name="dev")


def dev_seed(
    jobs: Annotated[int, typer.Option(help="how many jobs to make", min=0)],
    users: Annotated[int, typer.Option(help="users, one access key each", min=1)] = 1000,
    accounts: Annotated[int, typer.Option(help="accounts, one manager each", min=1)] = 50,
    models: Annotated[int, typer.Option(help="models running the echo model", min=1)] = 30,
    years: Annotated[float, typer.Option(help="how far back the history goes")] = 5.0,
    seed_value: Annotated[
        int, typer.Option("--seed", help="random seed: the same seed, the same history")
    ] = 42,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Load a synthetic job history fast (COPY on PostgreSQL), for benchmarks and demos.

    Migrates first; refuses a database with jobs. Seeded jobs have no inputs or events.
    """
    store = open_store(load_settings(data_dir, database_url))
    step, shown = max(1, jobs // PROGRESS_STEPS), 0

    def progress(done: int, seconds: float) -> None:
        nonlocal shown
        if done // step > shown // step:
            shown = done
            rate = done / seconds if seconds else 0.0
            typer.echo(f"  {done:>12,} / {jobs:,} jobs  {rate:>9,.0f} jobs/s")

    try:
        with reported():
            plan = SeedPlan(jobs, users, accounts, models, years, seed_value)
            report = seed(store, plan, progress)
    finally:
        store.close()
    typer.echo(
        f"seeded {report.jobs:,} jobs, {report.users:,} users in {report.accounts} accounts, "
        f"{report.models} models in {report.seconds:.1f} s ({report.jobs_per_second:,.0f} jobs/s), "
        f"then ANALYZE in {report.analyze_seconds:.1f} s"
    )
