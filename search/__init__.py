"""Vectors in, ranked ids out: FAISS indexes with manifests (later: fusion, moments, evaluation).

Nothing here imports SQLAlchemy, Celery or the settings object.
"""
