"""Postgres: SQLAlchemy 2 async models and the engine (migrations live in migrations/)."""
