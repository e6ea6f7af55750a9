"""Answer a search request: encode the query per channel, retrieve from FAISS and Postgres, fuse into moments.

The wiring between the pure parts (``search/`` builds moments from hits, ``indexer/`` encodes queries) and the
stores (``db/`` repositories, the FAISS indexes on disk). Models and indexes are loaded on first use and kept;
an index is reloaded when an ingest run has replaced it (its manifest changed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from db.models import EmbeddingModel, MediaFile
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import search as search_repo
from db.session import Database
from indexer.encoders import EncoderSpec, describe_vision_encoder
from indexer.errors import EncoderError, FeatureFileError, IndexerError
from indexer.features import read_feature_file
from indexer.text_embedding import describe_text_model
from scenedex.loading import step
from search.answer_focus import AnswerType, Line, answer_type, focus, mostly_same
from search.errors import (ChannelUnavailableError, IndexMismatchError, IndexMissingError, NotFoundError,
                           QueryError)
from search.fusion import FusionWeights, Retriever
from search.confidence import assess, calibration_for
from search.scene_blend import scene_blended
from search.moments import Hit, MediaTimeline, Moment, MomentPolicy, build_moments, one_per_span
from search.rerank import RerankerError, RerankSpec, reranked, scorer_or_none
from search.request import (TEXT_CHANNELS, ExampleFrame, ExampleImage, GroupBy, SearchChannel, SearchRequest,
                            validate)
from search.results import Page, VideoHit, group_by_video, paginate
from search.vector_index import VectorIndex, load_index
from workers.layout import DataLayout

log = logging.getLogger(__name__)
FOCUS_TOP_MOMENTS = 10  # questions: how many of the best moments are followed to the line that answers
FOCUS_LOOKAHEAD_S = 30.0  # ... and how far after a moment its sentence may go on


@dataclass(frozen=True)
class SearchConfig:
    text_model: str | None = None  # None: the packaged sentence embedder
    vision: EncoderSpec | None = None  # None: no visual channel
    weights: FusionWeights = FusionWeights()
    policy: MomentPolicy = MomentPolicy()
    candidates_per_list: int = 100  # hits taken from each retriever before fusion
    max_moments: int = 1000  # ranked moments kept for paging
    lexical_rare_words: bool = False  # full-text words weighted by their rarity in the library (issue 15)
    scene_blend: float = 0.0  # a said line's sentence rank blends in its caption's cosine at this weight (0: off;
    # issue 15: 0.5 lifts R@5 off the tuned library but not top-1, see search.scene_blend)
    rerank: RerankSpec | None = None  # a cross-encoder reads the first moments again (``search.rerank``)


@dataclass(frozen=True)
class MediaSummary:
    id: int
    path: str
    root: str | None
    duration_s: float | None
    width: int | None
    height: int | None


@dataclass(frozen=True)
class SearchResponse:
    request: SearchRequest
    moments: Page[Moment] | None  # group_by=moment
    videos: Page[VideoHit] | None  # group_by=video
    media: dict[int, MediaSummary]  # the files the page mentions
    searched: tuple[SearchChannel, ...]
    skipped: dict[SearchChannel, str]  # channels asked for but not searchable, and why
    took_ms: float
    below_cutoff: int = 0  # moments below the confidence cut-off (listed only with request.show_all)


@dataclass
class _CachedIndex:
    index: VectorIndex
    manifest_mtime_ns: int


@dataclass
class _Loaded:
    lock: threading.Lock = field(default_factory=threading.Lock)
    models: dict[str, Any] = field(default_factory=dict)
    indexes: dict[int, _CachedIndex] = field(default_factory=dict)


MODEL_NAMES = {"text": "text model", "text_tower": "vision model's text tower", "vision": "vision model",
               "reranker": "reranking model"}


class SearchService:
    """Thread-safe; one per process. ``search`` raises QueryError, NotFoundError or ChannelUnavailableError."""

    def __init__(self, db: Database, layout: DataLayout, config: SearchConfig) -> None:
        self.db = db
        self.layout = layout
        self.config = config
        self._loaded = _Loaded()
        text_info = describe_text_model(config.text_model)
        self._text_key = text_info.key
        self._calibration = calibration_for(text_info.name)  # this model's fit, or the default model's
        self._vision_key = describe_vision_encoder(config.vision).key if config.vision else None

    # -- models and indexes, loaded once -------------------------------------------------------------------
    def _model(self, name: str, load: Callable[[], Any]) -> Any:
        with self._loaded.lock:
            if name not in self._loaded.models:
                with step(f"loading the {MODEL_NAMES.get(name, name)}"):
                    self._loaded.models[name] = load()
            return self._loaded.models[name]

    def _text_encoder(self) -> Any:
        from indexer.text_embedding import TextEncoder

        return self._model("text", lambda: TextEncoder(self.config.text_model))

    def _query_text_tower(self) -> Any:
        from indexer.encoders.text_tower import load_query_text_encoder

        assert self.config.vision is not None
        return self._model("text_tower", lambda: load_query_text_encoder(self.config.vision))  # type: ignore[arg-type]

    def _vision_encoder(self) -> Any:
        from indexer.encoders import load_vision_encoder

        assert self.config.vision is not None
        return self._model("vision", lambda: load_vision_encoder(self.config.vision))  # type: ignore[arg-type]

    def _index(self, model: EmbeddingModel) -> VectorIndex:
        directory = self.layout.index_dir(model.id)
        try:
            mtime_ns = (directory / "manifest.json").stat().st_mtime_ns
        except FileNotFoundError:
            raise IndexMissingError(directory) from None
        with self._loaded.lock:
            cached = self._loaded.indexes.get(model.id)
            if cached is None or cached.manifest_mtime_ns != mtime_ns:
                index, _ = load_index(directory, model.key, model.embed_dim)
                cached = self._loaded.indexes[model.id] = _CachedIndex(index, mtime_ns)
            return cached.index

    def _model_row(self, key: str | None) -> EmbeddingModel | None:
        if key is None:
            return None
        with self.db.session() as session:
            model = models_repo.get_model_by_key(session, key)
            if model is not None:
                session.expunge(model)
            return model

    # -- the search ---------------------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResponse:
        t0 = time.perf_counter()
        request = validate(request)
        allowed_media = self._allowed_media(request)
        hits: list[Hit] = []
        searched: list[SearchChannel] = []
        skipped: dict[SearchChannel, str] = {}
        if allowed_media is None or allowed_media.size:
            if request.example is not None:
                hits += self._visual_hits(request, allowed_media, searched, skipped)
            else:
                if request.wants_text_channels:
                    hits += self._text_hits(request, allowed_media, searched, skipped)
                if SearchChannel.VISUAL in request.channels:
                    hits += self._visual_hits(request, allowed_media, searched, skipped)
        if not searched and skipped:
            raise ChannelUnavailableError("; ".join(f"{c.value}: {why}" for c, why in skipped.items()))
        moments = self._moments(hits, request, frozenset(searched))
        return self._respond(request, moments, tuple(searched), skipped, t0)

    def _allowed_media(self, request: SearchRequest) -> np.ndarray | None:
        f = request.filters
        if not f.active:
            return None
        with self.db.session() as session:
            if f.root is not None and f.root not in {r.path for r in library_repo.list_roots(session)}:
                raise QueryError(f"{f.root!r} is not an indexed library root: see `scenedex status` for the roots")
            return search_repo.matching_media_ids(
                session, root=f.root, path_glob=f.path_glob, min_duration_s=f.min_duration_s,
                max_duration_s=f.max_duration_s, indexed_after=f.indexed_after, indexed_before=f.indexed_before,
                media_ids=f.media_ids)

    def _text_hits(self, request: SearchRequest, allowed_media: np.ndarray | None, searched: list[SearchChannel],
                   skipped: dict[SearchChannel, str]) -> list[Hit]:
        assert request.text is not None
        channels = [c for c in TEXT_CHANNELS if c in request.channels]
        k = self.config.candidates_per_list
        with self.db.session() as session:
            lexical = search_repo.lexical_matches(session, request.text, [c.value for c in channels], k, allowed_media,
                                                  rare_words=self.config.lexical_rare_words)
        hits = _ranked([(r.media_id, r.start_s, r.end_s, SearchChannel(r.channel), r.score, r.text, None)
                        for r in lexical], Retriever.LEXICAL)
        searched.extend(channels)
        model = self._model_row(self._text_key)
        if model is None:  # nothing embedded with this text model yet: words still match
            log.warning("no text is embedded with %s yet, so search matches words only: run `scenedex index` "
                        "(a new sentence model re-embeds the stored text; speech and OCR are not run again)",
                        self._text_key)
            return hits
        try:
            index = self._index(model)
        except (IndexMissingError, IndexMismatchError) as exc:
            log.warning("semantic text search unavailable, words only: %s", exc)
            return hits
        restrict = allowed_media is not None or len(channels) < len(TEXT_CHANNELS)
        allowed_ids = None
        if restrict:
            with self.db.session() as session:
                allowed_ids = search_repo.chunk_ids_where(session, model.id, [c.value for c in channels], allowed_media)
        query = self._text_encoder().encode_queries([request.text])  # (1, d)
        sims, ids = index.search(query, k, allowed_ids)
        found = ids[0] >= 0
        with self.db.session() as session:
            rows = search_repo.chunk_rows(session, ids[0][found], model.id)
        if len(rows) < found.sum():  # the index still holds chunks since re-embedded with another model
            log.warning("%d of %d text hits dropped: their text is now embedded with another sentence model (run "
                        "`scenedex index` to embed it with %s)", found.sum() - len(rows), found.sum(), self._text_key)
        semantic = [(r.media_id, r.start_s, r.end_s, SearchChannel(r.channel), float(sim), r.text, None)
                    for i, sim in zip(ids[0][found], sims[0][found]) if (r := rows.get(int(i))) is not None
                    and (request.min_similarity is None or sim >= request.min_similarity)]
        return hits + scene_blended(_ranked(semantic, Retriever.SEMANTIC), self.config.scene_blend)

    def _visual_hits(self, request: SearchRequest, allowed_media: np.ndarray | None, searched: list[SearchChannel],
                     skipped: dict[SearchChannel, str]) -> list[Hit]:
        model, reason = self._vision_model()
        if model is None:
            if request.example is not None:
                raise ChannelUnavailableError(f"query by example needs the visual channel: {reason}")
            skipped[SearchChannel.VISUAL] = reason
            return []
        try:
            query = self._visual_query(request, model)  # (1, d)
            index = self._index(model)
        except EncoderError as exc:
            if request.example is not None:
                raise ChannelUnavailableError(f"query by example is unavailable: {exc}") from exc
            skipped[SearchChannel.VISUAL] = str(exc)
            return []
        except (IndexMissingError, IndexMismatchError) as exc:
            skipped[SearchChannel.VISUAL] = str(exc)
            return []
        searched.append(SearchChannel.VISUAL)
        allowed_ids = None
        if allowed_media is not None:
            with self.db.session() as session:
                allowed_ids = search_repo.frame_ids_where(session, model.id, allowed_media)
        sims, ids = index.search(query, self.config.candidates_per_list, allowed_ids)
        found = ids[0] >= 0
        with self.db.session() as session:
            frames = search_repo.frame_rows(session, ids[0][found])
        retriever = Retriever.EXAMPLE if request.example is not None else Retriever.VISUAL
        rows = []
        for frame_id, sim in zip(ids[0][found], sims[0][found]):
            if int(frame_id) not in frames or (request.min_similarity is not None and sim < request.min_similarity):
                continue
            frame = frames[int(frame_id)]
            rows.append((frame.media_id, frame.t_s, frame.t_s + frame.interval_s, SearchChannel.VISUAL, float(sim),
                         None, int(frame_id)))
        return _ranked(rows, retriever)

    def _vision_model(self) -> tuple[EmbeddingModel | None, str]:
        """The configured vision model's row, or None and why the visual channel cannot be searched."""
        if self.config.vision is None:
            return None, ("no vision-language model is configured (set SCENEDEX_VISION_MODEL to a CLIP or SigLIP "
                          "checkpoint and run `scenedex index`)")
        model = self._model_row(self._vision_key)
        if model is None:
            return None, "no frames have been embedded with the configured vision model yet: run `scenedex index`"
        return model, ""

    def _visual_query(self, request: SearchRequest, model: EmbeddingModel) -> np.ndarray:
        example = request.example
        if example is None:
            assert request.text is not None
            return np.asarray(self._query_text_tower().encode([request.text]), dtype=np.float32)
        if isinstance(example, ExampleFrame):
            return self._frame_vector(example.frame_id, model)[None, :]
        assert isinstance(example, ExampleImage)
        from indexer.images import decode_image

        info = describe_vision_encoder(self.config.vision)  # type: ignore[arg-type]
        try:
            image = decode_image(example.data, info.image_size, info.resize_mode)  # (S, S, 3) uint8
        except IndexerError as exc:
            raise QueryError(f"{exc.reason}: {exc.hint}") from exc
        return self._vision_encoder().encode(image[None]).embeddings  # (1, d)

    def _frame_vector(self, frame_id: int, model: EmbeddingModel) -> np.ndarray:
        with self.db.session() as session:
            row = search_repo.frame_rows(session, np.asarray([frame_id], dtype=np.int64)).get(frame_id)
            if row is None:
                raise NotFoundError(f"frame {frame_id} does not exist: take frame ids from search results")
            media = library_repo.get_media(session, row.media_id)
            if media is None or media.embedding_model_id != model.id:
                raise QueryError(f"frame {frame_id} has no vector of the configured vision model: re-index its file")
            media_frames = frames_repo.frame_ids(session, row.media_id)
        try:
            records = read_feature_file(self.layout.feature_file(model.id, row.media_id),
                                        expected_frame_ids=media_frames)
        except FeatureFileError as exc:
            raise QueryError(f"the features of frame {frame_id} cannot be read ({exc}): run `scenedex reindex`") from exc
        position = int(np.flatnonzero(media_frames == frame_id)[0])
        return np.asarray(records["embedding"][position], dtype=np.float32)

    def _moments(self, hits: list[Hit], request: SearchRequest, searched: frozenset[SearchChannel]) -> list[Moment]:
        if not hits:
            return []
        with self.db.session() as session:
            lines = search_repo.timelines(session, sorted({h.media_id for h in hits}))
        timelines = {m: MediaTimeline(t.duration_s, t.shot_starts_s, 1.0 / (t.sample_fps or 1.0))
                     for m, t in lines.items()}
        channels = searched & request.channels
        moments = build_moments(hits, timelines, self.config.weights, self.config.policy, request.combine, channels)
        kind = answer_type(request.text) if request.text else None
        if kind is not None:
            moments = self._focus_answers(moments, kind, [c for c in TEXT_CHANNELS if c in channels])
            moments = one_per_span(moments, self.config.weights, self.config.policy.evidence_per_channel)
        return moments[: self.config.max_moments]

    def _reranked(self, query: str, moments: list[Moment], spec: RerankSpec) -> list[Moment]:
        scorer = self._model("reranker", lambda: scorer_or_none(spec.model))  # tried once a process
        if scorer is None:
            return moments
        try:
            return reranked(moments, query, scorer, spec, self.config.weights.k)
        except RerankerError as exc:
            log.warning("%s; this search lists its own order", exc)
            return moments

    def _focus_answers(self, moments: list[Moment], kind: AnswerType, channels: list[SearchChannel]) -> list[Moment]:
        """For a where/when/who/how-many question, add the line that answers next to the top moments."""
        added: list[Moment] = []
        with self.db.session() as session:
            for moment in moments[:FOCUS_TOP_MOMENTS]:
                rows = search_repo.lines_between(session, moment.media_id, moment.start_s,
                                                 moment.end_s + FOCUS_LOOKAHEAD_S, [c.value for c in channels])
                lines = [Line(SearchChannel(c), s, e, t) for c, s, e, t in rows]
                answer = focus(moment, kind, lines, self.config.policy.pad_before_s)
                if answer is not None:
                    added.append(answer)
        if not added:
            return moments
        kept = [m for m in moments if not any(mostly_same(m, a) for a in added)]
        return sorted(kept + added, key=lambda m: (-m.score, m.media_id, m.start_s))

    def _respond(self, request: SearchRequest, moments: list[Moment], searched: tuple[SearchChannel, ...],
                 skipped: dict[SearchChannel, str], t0: float) -> SearchResponse:
        moment_page: Page[Moment] | None = None
        video_page: Page[VideoHit] | None = None
        assessed = assess(moments, self._calibration)  # search.confidence: scores, labels, the cut-off
        moments, shown = assessed.moments, assessed.shown
        if self.config.rerank is not None and request.text:  # what is listed, in the cross-encoder's order
            moments = self._reranked(request.text, moments[:shown], self.config.rerank) + moments[shown:]
        moments = moments if request.show_all else moments[:shown]
        if request.group_by == GroupBy.VIDEO:
            video_page = paginate(group_by_video(moments), request.page, request.page_size)
            media_ids = [v.media_id for v in video_page.items]
        else:
            moment_page = paginate(moments, request.page, request.page_size)
            media_ids = [m.media_id for m in moment_page.items]
        return SearchResponse(request=request, moments=moment_page, videos=video_page,
                              media=self.media_summaries(media_ids), searched=searched, skipped=skipped,
                              took_ms=round((time.perf_counter() - t0) * 1000, 2), below_cutoff=assessed.below_cutoff)

    # -- media --------------------------------------------------------------------------------------------
    def media_summaries(self, media_ids: list[int]) -> dict[int, MediaSummary]:
        if not media_ids:
            return {}
        with self.db.session() as session:
            roots = {r.id: r.path for r in library_repo.list_roots(session)}
            return {m.id: _summary(m, roots) for m in library_repo.get_media_many(session, media_ids)}


def _summary(media: MediaFile, roots: dict[int, str]) -> MediaSummary:
    return MediaSummary(id=media.id, path=media.path, root=roots.get(media.root_id), duration_s=media.duration_s,
                        width=media.width, height=media.height)


Row = tuple[int, float, float, SearchChannel, float, str | None, int | None]


def _ranked(rows: list[Row], retriever: str) -> list[Hit]:
    """Hits of one retriever, ranked by its own score over all channels (one scale), best first."""
    ordered = sorted(rows, key=lambda r: -r[4])
    return [Hit(media_id=m, start_s=s, end_s=e, channel=c, retriever=retriever, rank=i + 1, similarity=sim,
                text=text, frame_id=frame_id)
            for i, (m, s, e, c, sim, text, frame_id) in enumerate(ordered)]
