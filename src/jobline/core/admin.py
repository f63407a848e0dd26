"""Administration with a role check: users and access keys, as an admin sees and changes them.

The CLI administers the installation it runs on (whoever can run it owns the data directory);
a web or API front-end acts for a caller, so every function here first checks that the caller
is an admin (NotAllowed otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobline.core import auth
from jobline.domain.records import AccessKey, KeyKind, Principal, Role, User, UserStatus
from jobline.errors import InvalidRequest, NotFound
from jobline.store import Store
from jobline.store import users as user_store

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class UserKeys:
    """A user and every access key it has, revoked ones included."""

    user: User
    keys: tuple[AccessKey, ...]


def users(store: Store, principal: Principal) -> list[UserKeys]:
    """Every user with its access keys, oldest user first."""
    auth.require_admin(principal)
    with store.read() as conn:
        found = user_store.list_users(conn)
        keys = user_store.list_keys(conn)
    return [UserKeys(user, tuple(k for k in keys if k.user_id == user.id)) for user in found]


def add_user(
    store: Store,
    principal: Principal,
    *,
    email: str,
    password: str,
    role: Role,
    account: str,
    first_name: str = "",
    last_name: str = "",
) -> tuple[User, auth.NewKey]:
    """Create a user who can log in with ``password``, and its first access key."""
    auth.require_admin(principal)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", param="password"
        )
    if not account.strip():
        raise InvalidRequest("account must not be empty", param="account")
    user = auth.add_user(
        store,
        email=email.strip(),
        password=password,
        role=role,
        account=account.strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
    )
    return user, auth.create_key(store, user)


def set_status(store: Store, principal: Principal, identifier: str, status: UserStatus) -> User:
    """Enable or disable a user by identifier; an admin cannot disable itself."""
    auth.require_admin(principal)
    if identifier == principal.user.identifier and status is UserStatus.DISABLED:
        raise InvalidRequest("you cannot disable yourself", param="user", value=identifier)
    with store.write() as conn:
        user = user_store.get_user(conn, identifier=identifier)
        user_store.set_user_status(conn, user.id, status)
        return user_store.get_user(conn, user_id=user.id)


def create_key(
    store: Store,
    principal: Principal,
    identifier: str,
    *,
    kind: KeyKind = KeyKind.USER,
    description: str = "",
) -> tuple[User, auth.NewKey]:
    """A new access key for the user with this identifier; its secret is in the token only."""
    auth.require_admin(principal)
    with store.read() as conn:
        owner = user_store.get_user(conn, identifier=identifier)
    return owner, auth.create_key(store, owner, kind, description.strip())


def revoke_key(store: Store, principal: Principal, prefix: str) -> None:
    """Revoke a live key; NotFound names the prefix when no live key has it."""
    auth.require_admin(principal)
    with store.write() as conn:
        revoked = user_store.revoke_key(conn, prefix)
    if not revoked:
        raise NotFound(f"no live access key with prefix {prefix!r}", param="prefix", value=prefix)
