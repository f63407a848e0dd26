"""Who is calling, for the native API: ``Authorization: Bearer <access key>``."""

from __future__ import annotations

from fastapi import Request

from jobline.core import auth
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


def principal(request: Request) -> Principal:
    """The caller, authenticated by its access key (FastAPI dependency)."""
    return auth.authenticate_key(store_of(request), bearer_token(request))
