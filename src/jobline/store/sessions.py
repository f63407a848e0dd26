"""Revoked sessions: the ids of session tokens ended by a logout before they expired."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select

from jobline.store.tables import revoked_sessions


def revoke(conn: Connection, session_id: str, expires_at: datetime) -> None:
    """Void session ``session_id`` (idempotent); also forget revocations of expired tokens."""
    conn.execute(delete(revoked_sessions).where(revoked_sessions.c.expires_at < datetime.now(UTC)))
    known = select(revoked_sessions.c.session_id).where(revoked_sessions.c.session_id == session_id)
    if conn.execute(known).first() is None:
        conn.execute(insert(revoked_sessions).values(session_id=session_id, expires_at=expires_at))


def is_revoked(conn: Connection, session_id: str) -> bool:
    found = select(revoked_sessions.c.session_id).where(revoked_sessions.c.session_id == session_id)
    return conn.execute(found).first() is not None
