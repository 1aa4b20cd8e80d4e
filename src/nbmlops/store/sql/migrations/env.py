"""Alembic environment: migrations always run on a connection nbmlops hands over.

nbmlops opens the connection, takes the schema lock (``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL) and re-checks the revision before calling Alembic, so two
processes opening an old store at once migrate it exactly once.
"""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "nbmlops migrations run through nbmlops itself: use `nbmlops db upgrade`"
    )

context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
