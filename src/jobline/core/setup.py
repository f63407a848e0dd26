"""First start of an installation: schema, built-in models, an admin and a demo user."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from jobline.core.auth import add_user, create_key
from jobline.domain.records import Role
from jobline.models.registry import discover
from jobline.settings import Settings
from jobline.store import Store, catalog, migrate
from jobline.store import users as user_store

DEMO_EMAIL = "demo@jobline.local"
DEMO_ACCOUNT = "demo"


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    key: str = ""


@dataclass
class SetupReport:
    """What a start created; credentials are filled in only when they were just made."""

    models: list[str] = field(default_factory=list)
    admin: Credentials | None = None
    demo: Credentials | None = None


def register_models(store: Store) -> list[str]:
    """Register (or refresh) every model found through the ``jobline.models`` entry points."""
    found = discover()
    with store.write() as conn:
        for code in found.values():
            catalog.register(conn, code.name, code.description, code.model_version())
    return sorted(found)


def prepare(store: Store, settings: Settings, *, demo: bool = True) -> SetupReport:
    """Migrate, register models, and create the admin (and demo user) on a first start."""
    migrate.upgrade(store.engine)
    report = SetupReport(models=register_models(store))
    with store.read() as conn:
        existing = {u.email for u in user_store.list_users(conn)}
    admin_email = settings.admin_email.lower()
    if admin_email not in existing:
        password = settings.admin_password or secrets.token_urlsafe(12)
        add_user(
            store,
            email=admin_email,
            username="admin",
            password=password,
            role=Role.ADMIN,
            first_name="Jobline",
            last_name="Admin",
        )
        report.admin = Credentials(admin_email, password)
    if demo and DEMO_EMAIL not in existing:
        password = secrets.token_urlsafe(12)
        user = add_user(
            store,
            email=DEMO_EMAIL,
            username="demo",
            password=password,
            role=Role.MEMBER,
            account=DEMO_ACCOUNT,
            first_name="Demo",
            last_name="User",
        )
        report.demo = Credentials(DEMO_EMAIL, password, create_key(store, user).token)
    return report
