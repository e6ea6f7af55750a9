"""Migrations on the real Postgres: up, down, up again, and no drift between models and migrations."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

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


def test_database_urls_work_as_users_write_them_and_bad_ones_say_what_to_write(empty_db_url: str) -> None:
    """SQLAlchemy 2.1 reads a plain postgresql:// URL as psycopg 3, which scenedex does not install: the URL the
    error message and every hosting provider give must still work, and a driver that is missing must not end in a
    traceback."""
    import pytest

    from db.errors import DatabaseError
    from db.session import Database

    plain = "postgresql://" + empty_db_url.split("://", 1)[1]
    upgrade(plain)  # migrations too, through alembic's own engine
    for url in (plain, "postgres://" + empty_db_url.split("://", 1)[1]):
        db = Database(url)
        try:
            with db.session() as session:
                assert session.execute(text("SELECT count(*) FROM media_files")).scalar() == 0
        finally:
            db.engine.dispose()
    with pytest.raises(DatabaseError, match="write it as postgresql://"):
        Database("postgresql+nosuchdriver://" + empty_db_url.split("://", 1)[1])
    with pytest.raises(DatabaseError, match="needs Postgres"):
        Database("mysql://root@localhost/scenedex")
