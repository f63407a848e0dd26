"""Alembic environment: always run through ``jobline.store.migrate`` with a live connection."""

from alembic import context

from jobline.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite changes columns by copying the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
