"""Engines, sessions and migrations."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


DRIVER = "psycopg2"  # the Postgres driver scenedex installs (SQLAlchemy 2.1 would otherwise pick psycopg 3)


def driver_url(url: str) -> str:
    """A Postgres URL with the installed driver named, so ``postgresql://`` and ``postgres://`` work as users
    write them; a URL naming a driver keeps it.

    >>> driver_url("postgresql://me@db:5432/scenedex"), driver_url("postgres://db/x")
    ('postgresql+psycopg2://me@db:5432/scenedex', 'postgresql+psycopg2://db/x')
    >>> driver_url("postgresql+psycopg2://db/x")
    'postgresql+psycopg2://db/x'
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return f"postgresql+{DRIVER}://" + url[len(scheme):]
    return url


def make_engine(url: str) -> Engine:
    if not url.startswith("postgres"):
        raise DatabaseError("scenedex needs Postgres: the database URL must start with postgresql://", url=safe_url(url))
    try:
        # pool_pre_ping: a connection dropped by a server restart is replaced instead of failing the next task.
        return create_engine(driver_url(url), pool_pre_ping=True, future=True)
    except (ImportError, ArgumentError) as exc:
        raise DatabaseError(f"cannot use this database URL ({exc}): write it as "
                            f"postgresql://user:password@host:5432/database", url=safe_url(url)) from exc


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url  # env.py opens it with make_engine, which names the driver
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

    @contextmanager
    def exclusive(self, name: str, on_wait: Callable[[], None] | None = None,
                  poll_s: float = 1.0) -> Iterator[None]:
        """Hold the Postgres advisory lock ``name`` for the block, on a connection of its own: one holder per
        database at a time, across processes and machines. While another holds it, ``on_wait()`` is called once
        and this polls (so Ctrl-C still works). A holder that dies loses the lock with its connection."""
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as conn:
            waited = False
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.commit()
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll_s)
            conn.commit()  # the lock is the session's, not the transaction's: keep no transaction open
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except Exception:  # noqa: BLE001 - a dropped connection has released the lock already
                    conn.invalidate()

    def dispose(self) -> None:
        self.engine.dispose()


def terminate_own_connection(session: Session) -> None:
    """Have Postgres terminate this session's connection, as a restart or failover would (fault tests only):
    raises the driver's OperationalError, exactly what a dropped connection raises mid-transaction."""
    session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
