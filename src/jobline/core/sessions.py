"""Login sessions: a signed token kept in the ``session_token`` cookie (dashboard, JESS dialect).

A session is a JWT (HS256) holding the user's identifier (``sub``), a random session id
(``sid``), when it was issued and when it expires, signed with a key derived from the
installation's secret (``Settings.resolved_secret()``). Nothing about a session is stored: a
request carrying the cookie is checked by its signature and expiry, then the user is read
(so a disabled user is locked out at once).

A session lasts ``Settings.session_hours`` (8 by default). Logging out voids the token at once:
its session id is kept as revoked until the token would have expired, and every request looks
it up (one primary-key read). Each token also carries a fingerprint of the user's password hash
(``pwd``), so changing a password voids every session of that user at no extra cost.

    session = login(store, "ann@example.com", "secret", key, hours=8)
    principal = authenticate_session(store, session.token, key)   # Principal(key_prefix=None)
    logout(store, session.token, key)                             # the token is void now
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict

import jwt

from jobline.core.auth import authenticate_password
from jobline.domain.records import Principal, User, UserStatus
from jobline.errors import NotAuthenticated, UserNotFound
from jobline.store import Store
from jobline.store import sessions as session_store
from jobline.store import users as user_store

SESSION_COOKIE = "session_token"
ALGORITHM = "HS256"
ISSUER = "jobline"
SESSION_ID_BYTES = 16
_REQUIRED_CLAIMS = ["sub", "sid", "iat", "exp", "iss", "pwd"]


@dataclass(frozen=True, slots=True)
class Session:
    """A session just opened: ``token`` goes into the cookie, valid until ``expires_at``."""

    token: str
    session_id: str
    user_identifier: str
    expires_at: datetime


def login(store: Store, email: str, password: str, secret: str, *, hours: float) -> Session:
    """Check an email and password and open a session for that user.

    Raises NotAuthenticated ("wrong email or password") without saying which was wrong.
    """
    user = authenticate_password(store, email, password)
    return open_session(store, user, secret, hours=hours)


def open_session(store: Store, user: User, secret: str, *, hours: float) -> Session:
    """A new session for ``user``, lasting ``hours``."""
    with store.read() as conn:
        stored = user_store.password_hash(conn, user.id)
    issued = datetime.now(UTC)
    expires = issued + timedelta(hours=hours)
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    claims = {
        "sub": user.identifier,
        "sid": session_id,
        "iat": issued,
        "exp": expires,
        "iss": ISSUER,
        "pwd": _fingerprint(stored, secret),
    }
    token = jwt.encode(claims, _signing_key(secret), algorithm=ALGORITHM)
    return Session(token, session_id, user.identifier, expires)


def authenticate_session(store: Store, token: str | None, secret: str) -> Principal:
    """The caller behind a session token; NotAuthenticated when it is missing, forged,
    expired, for a user who no longer exists or is disabled, or older than a password change.
    """
    claims = _claims(token, secret)
    failure = NotAuthenticated("your session has ended; log in again", param=SESSION_COOKIE)
    with store.read() as conn:
        if session_store.is_revoked(conn, str(claims["sid"])):
            raise NotAuthenticated("you have logged out; log in again", param=SESSION_COOKIE)
        try:
            user = user_store.get_user(conn, identifier=str(claims["sub"]))
        except UserNotFound:
            raise failure from None
        stored = user_store.password_hash(conn, user.id)
    if not hmac.compare_digest(str(claims["pwd"]), _fingerprint(stored, secret)):
        raise failure
    if user.status is not UserStatus.ACTIVE:
        raise NotAuthenticated(f"user {user.username!r} is disabled", param="user")
    return Principal(user=user, key_prefix=None)


class CookieOptions(TypedDict):
    max_age: int
    path: str
    httponly: bool
    samesite: Literal["lax"]
    secure: bool


def cookie_options(hours: float, *, https: bool) -> CookieOptions:
    """How the ``session_token`` cookie is set, by every front-end that logs users in: for the
    whole site (the dashboard and both JESS prefixes), never readable by scripts."""
    return {
        "max_age": round(hours * 3600),
        "path": "/",
        "httponly": True,
        "samesite": "lax",
        "secure": https,
    }


def authenticate_any(store: Store, tokens: Sequence[str], secret: str) -> Principal:
    """The caller behind the first of ``tokens`` that is a valid session.

    A client may send the cookie more than once (an old and a renewed token side by side);
    the request is judged by the one that validates. With none valid, the first one's error.
    """
    if not tokens:
        return authenticate_session(store, None, secret)
    first: NotAuthenticated | None = None
    for token in tokens:
        try:
            return authenticate_session(store, token, secret)
        except NotAuthenticated as exc:
            first = first or exc
    assert first is not None
    raise first


def logout(store: Store, token: str | None, secret: str) -> None:
    """Void a session token now; a token that is already invalid needs nothing."""
    try:
        claims = _claims(token, secret)
    except NotAuthenticated:
        return
    expires = datetime.fromtimestamp(float(str(claims["exp"])), UTC)
    with store.write() as conn:
        session_store.revoke(conn, str(claims["sid"]), expires)


def session_id(token: str, secret: str) -> str:
    """The id of a valid session token (raises NotAuthenticated like authenticate_session)."""
    return str(_claims(token, secret)["sid"])


def form_token(token: str, secret: str) -> str:
    """A token for the forms of one session (CSRF protection): it changes with every login
    and cannot be made without the secret, so a page on another site cannot post a form."""
    digest = hmac.new(_signing_key(secret), b"form:" + session_id(token, secret).encode(), "sha256")
    return digest.hexdigest()


def check_form_token(token: str, secret: str, sent: str | None) -> None:
    """Raise NotAuthenticated unless ``sent`` is the form token of this session."""
    if not sent or not hmac.compare_digest(sent, form_token(token, secret)):
        raise NotAuthenticated(
            "the form is out of date (it belongs to another session); reload the page and "
            "send it again",
            param="form_token",
        )


def _claims(token: str | None, secret: str) -> dict[str, object]:
    if not token:
        raise NotAuthenticated("log in first: no session", param=SESSION_COOKIE)
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            _signing_key(secret),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated(
            "your session has expired; log in again", param=SESSION_COOKIE
        ) from None
    except jwt.InvalidTokenError:
        raise NotAuthenticated("invalid session; log in again", param=SESSION_COOKIE) from None
    return claims


def _signing_key(secret: str) -> bytes:
    # A key of its own for sessions, always 32 bytes, whatever length the secret has.
    return hashlib.sha256(b"jobline-session:" + secret.encode()).digest()


def _fingerprint(password_hash: str | None, secret: str) -> str:
    material = (password_hash or "").encode()
    return hmac.new(_signing_key(secret), material, "sha256").hexdigest()[:16]
