"""Alembic environment: online migrations only, under an advisory lock and a lock timeout."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from db.models import Base
from db.session import make_engine

MIGRATION_LOCK_ID = 0x5CE9ED  # pg_advisory_lock key: one migrator at a time


def run_migrations_online() -> None:
    url = context.config.attributes["url"]
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("SET lock_timeout = '30s'"))
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


run_migrations_online()
