"""Server settings, read from ``JOBLINE_*`` variables; built once in an entry point, passed down."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Everything a jobline server or worker needs to know about its surroundings.

    Every field can be set by the variable of the same name with the ``JOBLINE_`` prefix, for
    example ``JOBLINE_DATABASE_URL=postgresql://postgres@127.0.0.1/jobline``.
    """

    model_config = SettingsConfigDict(env_prefix="JOBLINE_", extra="ignore")

    data_dir: Path = Field(default=Path(".jobline"), description="SQLite file, blobs, secret")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = 8000
    secret: str = Field(default="", description="signing secret; empty = kept in data_dir")
    worker_slots: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description="embedded worker threads in `serve`; 0 disables the embedded worker",
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a claimed input stays a worker's without a heartbeat, in seconds "
        "(workers heartbeat twice a second); then it runs again elsewhere",
    )
    input_memory_mib: int = Field(
        default=0,
        ge=0,
        description="the most memory (address space, MiB) the process running one input may "
        "map, with what it starts; 0 = no limit. An input past it fails saying so",
    )
    max_request_bytes: int = Field(default=100 * MIB, description="largest request body accepted")
    max_inputs_per_job: int = 10_000
    session_hours: float = Field(
        default=8.0, gt=0, description="how long a dashboard login (session cookie) lasts"
    )
    admin_email: str = "admin@jobline.local"
    admin_password: str = ""

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'jobline.db').resolve()}"

    def resolved_secret(self) -> str:
        """The signing secret: the configured one, or one generated once and kept in data_dir."""
        if self.secret:
            return self.secret
        path = self.data_dir / "secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
