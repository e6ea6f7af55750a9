"""Shots and sampled frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.models import Frame, MediaFile, Shot


def replace_frames(session: Session, media_id: int, t_s: np.ndarray, shot_spans: Sequence[tuple[float, float]],
                   frame_shot: np.ndarray, representatives: Sequence[int | None]) -> np.ndarray:
    """Replace a media file's shots and frames; return the new frame ids (N,) int64 in the order of ``t_s``.

    ``frame_shot[i]`` is the shot index of frame i; ``representatives[j]`` the frame index representing shot j.
    """
    assert len(t_s) == len(frame_shot), f"{len(t_s)} frame times but {len(frame_shot)} shot assignments"
    assert len(shot_spans) == len(representatives), f"{len(shot_spans)} shots, {len(representatives)} representatives"
    session.execute(delete(Shot).where(Shot.media_id == media_id))  # frames go with their shots (CASCADE)
    session.execute(delete(Frame).where(Frame.media_id == media_id))
    shot_ids: list[int] = []
    if shot_spans:
        shot_ids = list(session.scalars(
            insert(Shot).returning(Shot.id, sort_by_parameter_order=True),
            [{"media_id": media_id, "shot_index": i, "start_s": float(s), "end_s": float(e)}
             for i, (s, e) in enumerate(shot_spans)]))
    frame_ids: list[int] = []
    if len(t_s):
        frame_ids = list(session.scalars(
            insert(Frame).returning(Frame.id, sort_by_parameter_order=True),
            [{"media_id": media_id, "t_s": float(t), "shot_id": shot_ids[int(j)] if shot_ids else None}
             for t, j in zip(t_s, frame_shot)]))
    reps = [{"id": shot_ids[j], "representative_frame_id": frame_ids[r]}
            for j, r in enumerate(representatives) if r is not None]
    if reps:
        session.execute(update(Shot), reps)  # ORM bulk UPDATE by primary key: one executemany
    return np.asarray(frame_ids, dtype=np.int64)


def frame_ids(session: Session, media_id: int) -> np.ndarray:
    """(N,) int64 frame ids of one media file, in time order."""
    rows = session.scalars(select(Frame.id).where(Frame.media_id == media_id).order_by(Frame.t_s))
    return np.fromiter(rows, dtype=np.int64)


def frames_of_media(session: Session, media_id: int) -> list[Frame]:
    return list(session.scalars(select(Frame).where(Frame.media_id == media_id).order_by(Frame.t_s)))


def shots_of_media(session: Session, media_id: int) -> list[Shot]:
    return list(session.scalars(select(Shot).where(Shot.media_id == media_id).order_by(Shot.shot_index)))


def vector_frame_ids(session: Session, model_id: int) -> np.ndarray:
    """All frame ids that have a vector of ``model_id`` (their media's feature file holds them), sorted."""
    rows = session.scalars(select(Frame.id).join(MediaFile, MediaFile.id == Frame.media_id)
                           .where(MediaFile.embedding_model_id == model_id).order_by(Frame.id))
    return np.fromiter(rows, dtype=np.int64)


def media_with_vectors(session: Session, model_id: int) -> list[int]:
    return list(session.scalars(select(MediaFile.id).where(MediaFile.embedding_model_id == model_id)
                                .order_by(MediaFile.id)))


def totals(session: Session) -> dict[str, int]:
    return {"frames": int(session.scalar(select(func.count()).select_from(Frame)) or 0),
            "shots": int(session.scalar(select(func.count()).select_from(Shot)) or 0)}
