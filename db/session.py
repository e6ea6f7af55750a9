"""Engines, sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    if not url.startswith("postgresql"):
        raise DatabaseError("scenedex needs Postgres: the database URL must start with postgresql://", url=safe_url(url))
    # pool_pre_ping: a connection dropped by a server restart is replaced instead of failing the next task.
    return create_engine(url, pool_pre_ping=True, future=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; safe to run from several processes at once (advisory lock)."""
    try:
        command.upgrade(alembic_config(url), revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}", url=safe_url(url)) from exc


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


class Database:
    """An engine and its session factory. ``session()`` commits on success and rolls back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def terminate_own_connection(session: Session) -> None:
    """Have Postgres terminate this session's connection, as a restart or failover would (fault tests only):
    raises the driver's OperationalError, exactly what a dropped connection raises mid-transaction."""
    session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
