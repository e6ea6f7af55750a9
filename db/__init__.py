"""The only package that knows SQL. Repositories take a session and never commit: the caller owns the
transaction. Postgres is the source of truth; FAISS indexes and feature files are derived from it."""
