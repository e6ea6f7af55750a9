"""The only package that knows SQL: typed models, repositories, engines and sessions, Alembic migrations, and
the embedded Postgres of the zero-configuration default. Repositories take a session and never commit: the caller
owns the transaction. Postgres is the source of truth; FAISS indexes and feature files are derived from it."""
