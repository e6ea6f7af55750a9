"""Embedding models: which model and version produced a set of vectors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import EmbeddingModel


def get_or_create_model(session: Session, *, key: str, family: str, name: str, revision: str, embed_dim: int,
                        feature_dim: int, grid_k: int) -> EmbeddingModel:
    """Upsert on the natural key, so concurrent workers agree on one row."""
    session.execute(insert(EmbeddingModel).values(key=key, family=family, name=name, revision=revision,
                                                  embed_dim=embed_dim, feature_dim=feature_dim, grid_k=grid_k)
                    .on_conflict_do_nothing(index_elements=["key"]))
    model = session.scalar(select(EmbeddingModel).where(EmbeddingModel.key == key))
    assert model is not None
    return model


def get_model_by_key(session: Session, key: str) -> EmbeddingModel | None:
    return session.scalar(select(EmbeddingModel).where(EmbeddingModel.key == key))


def get_model(session: Session, model_id: int) -> EmbeddingModel | None:
    return session.get(EmbeddingModel, model_id)
