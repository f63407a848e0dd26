"""What the commands share: settings and store from flags or ``JOBLINE_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobline.settings import Settings
from jobline.store import Store

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="JOBLINE_DATA_DIR", help="data folder (default: .jobline)"),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="JOBLINE_DATABASE_URL",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: SQLite in the data dir)",
    ),
]


def load_settings(data_dir: Path | None, database_url: str | None) -> Settings:
    """Settings from the environment, with the command's flags on top."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    return Settings(**overrides)  # type: ignore[arg-type]


def open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.resolved_database_url(), settings.blob_dir)
