"""Orchestration: ingest of a file (probe, then every channel, then one transaction), in-process runs
(`scenedex index`) and queued Celery tasks (`scenedex index --queue`, `scenedex worker`) on the same stages,
with the reconciler under the broker, and the single writer that keeps each FAISS index equal to Postgres."""
