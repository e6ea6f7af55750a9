"""Orchestration: pipelines that join indexer/, search/ and db/, run in-process or (later) as Celery tasks."""
