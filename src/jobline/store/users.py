"""Accounts, users and access keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select, update
from sqlalchemy.exc import IntegrityError

from jobline.domain.records import AccessKey, Account, KeyKind, Role, User, UserStatus
from jobline.errors import AlreadyExists, UserNotFound
from jobline.store.tables import access_keys, accounts, users

_USER_COLUMNS = (*users.c, accounts.c.identifier.label("account_identifier"))


def ensure_account(conn: Connection, identifier: str, name: str | None = None) -> Account:
    """The account with this identifier, created when missing."""
    row = conn.execute(select(accounts).where(accounts.c.identifier == identifier)).first()
    if row is None:
        conn.execute(accounts.insert().values(identifier=identifier, name=name or identifier))
        row = conn.execute(select(accounts).where(accounts.c.identifier == identifier)).one()
    return Account(id=row.id, identifier=row.identifier, name=row.name)


def create_user(
    conn: Connection,
    *,
    account: Account,
    username: str,
    email: str,
    password_hash: str | None,
    role: Role = Role.MEMBER,
    first_name: str = "",
    last_name: str = "",
    title: str = "",
    external_identifier: str = "",
) -> User:
    values: dict[str, Any] = {
        "identifier": str(uuid.uuid4()),
        "external_identifier": external_identifier,
        "username": username,
        "first_name": first_name,
        "last_name": last_name,
        "email": email.lower(),
        "title": title,
        "status": UserStatus.ACTIVE.value,
        "role": role.value,
        "password_hash": password_hash,
        "account_id": account.id,
    }
    with conn.begin_nested():
        try:
            user_id = conn.execute(
                users.insert().values(**values).returning(users.c.id)
            ).scalar_one()
        except IntegrityError as exc:
            raise AlreadyExists(
                f"a user with username {username!r} or email {email!r} exists already",
                param="username",
            ) from exc
    return get_user(conn, user_id=user_id)


def get_user(
    conn: Connection,
    *,
    user_id: int | None = None,
    email: str | None = None,
    identifier: str | None = None,
    username: str | None = None,
) -> User:
    """One user by database id, email, identifier or username."""
    query = select(*_USER_COLUMNS).join(accounts, accounts.c.id == users.c.account_id)
    if user_id is not None:
        query = query.where(users.c.id == user_id)
    elif email is not None:
        query = query.where(users.c.email == email.lower())
    elif identifier is not None:
        query = query.where(users.c.identifier == identifier)
    elif username is not None:
        query = query.where(users.c.username == username)
    else:
        raise TypeError("get_user needs one of user_id, email, identifier, username")
    row = conn.execute(query).first()
    if row is None:
        raise UserNotFound(f"no user {email or identifier or username or user_id!r}")
    return user_record(row)


def find_user(conn: Connection, name: str) -> User:
    """A user by email, username or identifier: what an administrator types."""
    row = conn.execute(
        select(*_USER_COLUMNS)
        .join(accounts, accounts.c.id == users.c.account_id)
        .where(
            or_(
                users.c.email == name.lower(),
                users.c.username == name,
                users.c.identifier == name,
            )
        )
    ).first()
    if row is None:
        raise UserNotFound(f"no user with email, username or identifier {name!r}")
    return user_record(row)


def password_hash(conn: Connection, user_id: int) -> str | None:
    value = conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()
    return str(value) if value else None


def list_users(conn: Connection, account_id: int | None = None) -> list[User]:
    query = select(*_USER_COLUMNS).join(accounts, accounts.c.id == users.c.account_id)
    if account_id is not None:
        query = query.where(users.c.account_id == account_id)
    return [user_record(row) for row in conn.execute(query.order_by(users.c.id))]


def set_user_status(conn: Connection, user_id: int, status: UserStatus) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(status=status.value))


def user_record(row: Row[Any]) -> User:
    return User(
        id=row.id,
        identifier=row.identifier,
        external_identifier=row.external_identifier,
        username=row.username,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        title=row.title,
        status=UserStatus(row.status),
        role=Role(row.role),
        account_id=row.account_id,
        account_identifier=row.account_identifier,
        created_at=row.created_at,
    )


def add_key(
    conn: Connection,
    *,
    user_id: int,
    prefix: str,
    secret_hash: str,
    kind: KeyKind = KeyKind.USER,
    description: str = "",
) -> AccessKey:
    """Store a new key; the user's first key of kind ``user`` becomes its default."""
    has_default = conn.execute(
        select(access_keys.c.id).where(
            access_keys.c.user_id == user_id,
            access_keys.c.is_default.is_(True),
            access_keys.c.revoked_at.is_(None),
        )
    ).first()
    conn.execute(
        access_keys.insert().values(
            prefix=prefix,
            secret_hash=secret_hash,
            user_id=user_id,
            kind=kind.value,
            is_default=kind is KeyKind.USER and has_default is None,
            description=description,
        )
    )
    row = conn.execute(select(access_keys).where(access_keys.c.prefix == prefix)).one()
    return key_record(row)


def find_key(conn: Connection, prefix: str) -> tuple[AccessKey, str] | None:
    """The key with this prefix and its secret hash, revoked or not; None when unknown."""
    row = conn.execute(select(access_keys).where(access_keys.c.prefix == prefix)).first()
    return None if row is None else (key_record(row), row.secret_hash)


def list_keys(conn: Connection, user_ids: Sequence[int] | None = None) -> list[AccessKey]:
    query = select(access_keys).order_by(access_keys.c.id)
    if user_ids is not None:
        query = query.where(access_keys.c.user_id.in_(user_ids))
    return [key_record(row) for row in conn.execute(query)]


def revoke_key(conn: Connection, prefix: str) -> bool:
    """Revoke a key; False when no live key has this prefix."""
    result = conn.execute(
        update(access_keys)
        .where(access_keys.c.prefix == prefix, access_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), is_default=False)
    )
    return result.rowcount > 0


def key_record(row: Row[Any]) -> AccessKey:
    return AccessKey(
        id=row.id,
        prefix=row.prefix,
        user_id=row.user_id,
        kind=KeyKind(row.kind),
        is_default=row.is_default,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        description=row.description,
    )
