"""Migrations on the real Postgres: up, down, up again, and no drift between models and migrations."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from db.session import alembic_config, downgrade, upgrade


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_go_up_down_and_up_again(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    assert {"library_roots", "media_files", "shots", "frames", "embedding_models", "index_runs"} <= tables(empty_db_url)
    downgrade(empty_db_url, "base")
    assert tables(empty_db_url) <= {"alembic_version"}
    upgrade(empty_db_url)
    assert "frames" in tables(empty_db_url)


def test_models_and_migrations_agree(db_url: str) -> None:
    command.check(alembic_config(db_url))  # raises if autogenerate would emit any operation


def test_upgrading_twice_is_harmless(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
