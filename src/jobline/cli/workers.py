"""``jobline workers``: the workers a server knows of, live and recently gone (admins only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from jobline.cli.jobs import DEFAULT_URL, AsJson, Key, Url, connected
from jobline.cli.output import table


def register(app: typer.Typer) -> None:
    """Add the ``workers`` command to ``app``."""
    app.command()(workers)


def workers(*, key: Key, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List the workers registered with the server: embedded and remote, their models,
    slots, busy slots, last heartbeat and whether they are alive. Needs an admin's key."""
    with connected(url, key) as client:
        found = client.workers()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    at = datetime.now(UTC)
    rows = (
        (
            w["name"],
            w["host"],
            "all" if w["models"] is None else ",".join(w["models"]),
            w["slots"],
            w["busy"],
            _ago(w["last_heartbeat"], at),
            "yes" if w["alive"] else "no",
        )
        for w in found
    )
    headers = ("NAME", "HOST", "MODELS", "SLOTS", "BUSY", "LAST HEARTBEAT", "ALIVE")
    for line in table(headers, rows, numeric=("SLOTS", "BUSY")):
        typer.echo(line)


def _ago(when: Any, at: datetime) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``: how long since ``when`` (ISO 8601)."""
    seconds = max(0, int((at - datetime.fromisoformat(str(when))).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
