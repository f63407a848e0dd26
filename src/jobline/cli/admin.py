"""Server-side administration: ``users``, ``keys`` and ``models``, straight from the database.

These commands open the database the server uses (``--database-url`` / ``--data-dir``), so
they work with no server running, for example to create the first users of an installation.
They refuse a database that was never migrated rather than quietly creating tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from jobline.cli.common import DatabaseUrl, DataDir, load_settings, open_store
from jobline.cli.output import fail, local_minute, reported, table
from jobline.core import auth
from jobline.core.jobs import list_models
from jobline.domain.records import KeyKind, Role, User, UserStatus
from jobline.errors import ServiceUnavailable
from jobline.store import Store, migrate
from jobline.store import users as user_store

NOT_INITIALISED = "database not initialised; run 'jobline db upgrade' or 'jobline serve' first"

UserName = Annotated[
    str, typer.Argument(metavar="USER", help="email, username or identifier of the user")
]


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add the ``users``, ``keys`` and ``models`` command groups to ``app``."""
    users = typer.Typer(help="Users (opens the database directly).", no_args_is_help=True)
    users.command("add")(users_add)
    users.command("list")(users_list)
    users.command("disable")(users_disable)
    users.command("enable")(users_enable)
    app.add_typer(users, name="users")
    keys = typer.Typer(help="Access keys (opens the database directly).", no_args_is_help=True)
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    app.add_typer(keys, name="keys")
    models = typer.Typer(
        help="Registered models (opens the database directly).", no_args_is_help=True
    )
    models.command("list")(models_list)
    app.add_typer(models, name="models")


@contextmanager
def opened(data_dir: DataDir, database_url: DatabaseUrl) -> Iterator[Store]:
    """The store of a migrated database; jobline errors inside end the command with exit 1."""
    store = open_store(load_settings(data_dir, database_url))
    try:
        with reported():
            try:
                revision = migrate.current(store.engine)
            except OperationalError as exc:
                # migrate talks to the engine directly, outside the Store's own translation.
                raise ServiceUnavailable(f"the database did not answer: {exc.orig}") from exc
            if revision is None:
                fail(NOT_INITIALISED)
            yield store
    finally:
        store.close()


def users_add(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    username: Annotated[
        str | None, typer.Option(help="the part of EMAIL before the @ when left out")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="asked for (hidden) when neither this nor --no-password")
    ] = None,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="no password: the user works with keys only")
    ] = False,
    role: Annotated[Role, typer.Option(help="what the user may see and manage")] = Role.MEMBER,
    account: Annotated[str, typer.Option(help="the user's team; created when new")] = "default",
    first_name: str = "",
    last_name: str = "",
    key: Annotated[
        bool, typer.Option("--key/--no-key", help="also create an access key and print it once")
    ] = True,
) -> None:
    """Create a user."""
    if password is not None and no_password:
        raise typer.BadParameter("give --password or --no-password, not both")
    with opened(data_dir, database_url) as store:
        if password is None and not no_password:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        user = auth.add_user(
            store,
            email=email,
            username=username,
            password=password,
            role=role,
            account=account,
            first_name=first_name,
            last_name=last_name,
        )
        typer.echo(
            f"created user {user.username} ({user.email}), "
            f"role {user.role}, account {user.account_identifier}"
        )
        if key:
            typer.echo(f"  access key (shown once): {auth.create_key(store, user).token}")


def users_list(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    fmt: Annotated[ListFormat, typer.Option("--format")] = ListFormat.table,
) -> None:
    """List every user of every account."""
    with opened(data_dir, database_url) as store, store.read() as conn:
        found = user_store.list_users(conn)
    if fmt is ListFormat.json:
        typer.echo(json.dumps([_user_json(user) for user in found], indent=2))
        return
    rows = (
        (
            u.username,
            u.email,
            u.full_name,
            u.role,
            u.account_identifier,
            u.status,
            local_minute(u.created_at),
        )
        for u in found
    )
    for line in table(("USERNAME", "EMAIL", "NAME", "ROLE", "ACCOUNT", "STATUS", "CREATED"), rows):
        typer.echo(line)


def users_disable(
    user: UserName, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Disable a user: its password and access keys stop working; its jobs stay."""
    _set_status(user, UserStatus.DISABLED, data_dir, database_url)


def users_enable(
    user: UserName, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Enable a disabled user again."""
    _set_status(user, UserStatus.ACTIVE, data_dir, database_url)


def _set_status(
    name: str, status: UserStatus, data_dir: DataDir, database_url: DatabaseUrl
) -> None:
    with opened(data_dir, database_url) as store, store.write() as conn:
        user = user_store.find_user(conn, name)
        user_store.set_user_status(conn, user.id, status)
    typer.echo(f"user {user.username} is {status}")


def keys_create(
    user: UserName,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    worker: Annotated[
        bool, typer.Option("--worker", help="a key that may only claim and complete work")
    ] = False,
    description: Annotated[str, typer.Option(help="what the key is for")] = "",
) -> None:
    """Create an access key; the key goes to stdout, once, and is never shown again."""
    with opened(data_dir, database_url) as store:
        with store.read() as conn:
            owner = user_store.find_user(conn, user)
        new = auth.create_key(store, owner, KeyKind.WORKER if worker else KeyKind.USER, description)
    typer.echo(f"created {new.key.kind} key {new.key.prefix} for {owner.username}:", err=True)
    typer.echo(new.token)


def keys_list(
    user: Annotated[
        str | None, typer.Argument(metavar="USER", help="only this user's keys")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List access keys (their public prefixes; secrets are never stored)."""
    with opened(data_dir, database_url) as store, store.read() as conn:
        owners: dict[int, User] = {u.id: u for u in user_store.list_users(conn)}
        only = None if user is None else [user_store.find_user(conn, user).id]
        found = user_store.list_keys(conn, only)
    rows = (
        (
            k.prefix,
            owners[k.user_id].username,
            k.kind,
            "yes" if k.is_default else "",
            local_minute(k.created_at),
            local_minute(k.revoked_at) if k.revoked_at else "",
            k.description,
        )
        for k in found
    )
    headers = ("PREFIX", "USER", "KIND", "DEFAULT", "CREATED", "REVOKED", "DESCRIPTION")
    for line in table(headers, rows):
        typer.echo(line)


def keys_revoke(
    prefix: Annotated[str, typer.Argument(metavar="PREFIX", help="the key's prefix (or the key)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an access key: requests with it fail from now on."""
    # A pasted whole key works too: the prefix is what comes before the dot.
    prefix = prefix.partition(".")[0]
    with opened(data_dir, database_url) as store, store.write() as conn:
        revoked = user_store.revoke_key(conn, prefix)
    if not revoked:
        fail(f"no live access key has the prefix {prefix!r}")
    typer.echo(f"revoked access key {prefix}")


def models_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the registered models with their latest version and its inputs."""
    with opened(data_dir, database_url) as store:
        found = list_models(store)
    rows = (
        (m.identifier, m.name, m.latest.version, ", ".join(i.name for i in m.latest.inputs))
        for m in found
    )
    for line in table(("IDENTIFIER", "NAME", "LATEST", "INPUTS"), rows):
        typer.echo(line)


def _user_json(user: User) -> dict[str, str]:
    return {
        "identifier": user.identifier,
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "account": user.account_identifier,
        "status": user.status,
        "created_at": user.created_at.isoformat(),
    }
