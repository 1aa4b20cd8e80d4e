"""SQLAlchemy backend of the lineage store: models, engine settings, schema, queries."""
