"""Who is calling, for the native API: ``Authorization: Bearer <access key>``, or else the
dashboard's session cookie (so a logged-in browser can follow export and download links)."""

from __future__ import annotations

from fastapi import Request

from jobline.core import auth, sessions
from jobline.domain.records import Principal
from jobline.errors import NotAuthenticated
from jobline.store import Store


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "the Authorization header must be 'Bearer <access key>'", param="Authorization"
        )
    return token.strip()


def session_tokens(request: Request) -> list[str]:
    """Every ``session_token`` value the request's Cookie headers carry, in order (a client
    may send the cookie twice; ``request.cookies`` would keep only one of them)."""
    tokens = []
    for name, value in request.headers.items():
        if name != "cookie":
            continue
        for pair in value.split(";"):
            key, _, token = pair.strip().partition("=")
            if key == sessions.SESSION_COOKIE and token.strip('"'):
                tokens.append(token.strip('"'))
    return tokens


def principal(request: Request) -> Principal:
    """The caller, authenticated by its access key (FastAPI dependency).

    Without an Authorization header, a session cookie is accepted instead (DESIGN §5).
    """
    token = bearer_token(request)
    cookies = session_tokens(request)
    if token is None and cookies:
        secret = request.app.state.settings.resolved_secret()
        return sessions.authenticate_any(store_of(request), cookies, secret)
    return auth.authenticate_key(store_of(request), token)
