"""Who is calling: access keys, passwords, users and their roles."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jobline.domain.records import AccessKey, KeyKind, Principal, Role, User, UserStatus
from jobline.errors import InvalidRequest, NotAllowed, NotAuthenticated, UserNotFound
from jobline.store import Store
from jobline.store import users as user_store

KEY_PREFIX_LENGTH = 20
KEY_SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_KEY_FORM = "<prefix>.<secret> (the key as it was shown when created)"
_passwords = PasswordHasher()


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: ``token`` is shown once and never stored."""

    key: AccessKey
    token: str


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is as safe as a slow one here and keeps
    # every authenticated request cheap; passwords (chosen by people) get argon2.
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def create_key(
    store: Store, user: User, kind: KeyKind = KeyKind.USER, description: str = ""
) -> NewKey:
    """A new access key for ``user``; its secret exists only in the returned token."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(KEY_PREFIX_LENGTH))
    secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
    with store.write() as conn:
        key = user_store.add_key(
            conn,
            user_id=user.id,
            prefix=prefix,
            secret_hash=hash_secret(secret),
            kind=kind,
            description=description,
        )
    return NewKey(key=key, token=f"{prefix}.{secret}")


def authenticate_key(store: Store, token: str | None) -> Principal:
    """The caller behind an access key token; NotAuthenticated for anything else."""
    if not token:
        raise NotAuthenticated(f"an access key is required: send {_KEY_FORM}", param="key")
    prefix, dot, secret = token.strip().partition(".")
    if not dot or len(prefix) != KEY_PREFIX_LENGTH or not secret:
        raise NotAuthenticated(f"malformed access key; expected {_KEY_FORM}", param="key")
    with store.read() as conn:
        found = user_store.find_key(conn, prefix)
        if found is None or not hmac.compare_digest(found[1], hash_secret(secret)):
            raise NotAuthenticated("unknown access key", param="key", prefix=prefix)
        key = found[0]
        if key.revoked_at is not None:
            raise NotAuthenticated("this access key was revoked", param="key", prefix=prefix)
        user = user_store.get_user(conn, user_id=key.user_id)
    _check_active(user)
    return Principal(user=user, key_prefix=key.prefix, key_kind=key.kind)


def authenticate_password(store: Store, email: str, password: str) -> User:
    """The user with this email and password; NotAuthenticated otherwise (no hint which)."""
    failure = NotAuthenticated("wrong email or password", param="password")
    with store.read() as conn:
        try:
            user = user_store.get_user(conn, email=email)
        except UserNotFound:
            raise failure from None
        stored = user_store.password_hash(conn, user.id)
    try:
        if stored is None or not _passwords.verify(stored, password):
            raise failure
    except (VerificationError, InvalidHashError):
        raise failure from None
    _check_active(user)
    return user


def _check_active(user: User) -> None:
    if user.status is not UserStatus.ACTIVE:
        raise NotAuthenticated(f"user {user.username!r} is disabled", param="user")


def require_user_key(principal: Principal) -> None:
    """Worker keys may only claim and complete work."""
    if principal.key_kind is KeyKind.WORKER:
        raise NotAllowed("a worker key may only claim and complete work", param="key")


def require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise NotAllowed("only an admin may do this", role=principal.role.value)


def add_user(
    store: Store,
    *,
    email: str,
    username: str | None = None,
    password: str | None = None,
    role: Role = Role.MEMBER,
    account: str = "default",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a user (and its account when new). Without a password it can only use keys."""
    if "@" not in email:
        raise InvalidRequest(f"email {email!r} is not an email address", param="email")
    with store.write() as conn:
        acct = user_store.ensure_account(conn, account)
        return user_store.create_user(
            conn,
            account=acct,
            username=username or email.split("@")[0],
            email=email,
            password_hash=hash_password(password) if password else None,
            role=role,
            first_name=first_name,
            last_name=last_name,
        )
