"""Errors of the database layer."""


class DatabaseError(Exception):
    """Base error of the db package; carries the URL (without password) or the row it is about."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message + (f" [{url}]" if url else ""))


class EmbeddedPostgresError(DatabaseError):
    """The embedded Postgres could not be started in the data directory."""
