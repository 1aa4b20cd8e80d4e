"""Alembic migrations of the lineage store (run through ``nbmlops db upgrade``)."""
