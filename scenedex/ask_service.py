"""Answer a question from the library's own moments, with timestamps that come from scenedex, never from the model.

question → checked (``QuestionError``) → search (the question as the query, every channel) → the best distinct
moments → their lines from the database (and, for vision-language models, their frames decoded now) → numbered in
time order → the budget plan (``qa.budget``) → grounding (``qa.grounding``): declined here when no moment answers,
else the answer model's stream, each sentence verified against the moment it cites as soon as it is complete →
the answer as claims with their times (verified, quoted, or from the frames), the claims dropped, the moments it
was built from, the model's note and the timing.

``prepare`` does everything that can fail because of the question or the library, so an interface can refuse
with a clear message before it starts streaming; ``AnswerStream.pieces`` then runs the model.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from db.models import MediaFile, MediaStatus
from db.repositories import library as library_repo
from db.repositories import search as search_repo
from indexer.text_embedding import MINILM_NAME
from qa.answering import (
    AnswerInput,
    AnswerModel,
    AnswerModelInfo,
    AnswerStats,
    EvidenceFrame,
    EvidenceMoment,
    TimedLine,
)
from qa.background import BackgroundStream
from qa.budget import BudgetLimits, plan
from qa.errors import EmptyLibraryError, NoEvidenceError, QuestionError
from qa.frames_cache import FrameKey, FramesCache, decode_frame_clip
from qa.grounding.answer import GroundedSession, GroundingConfig
from qa.grounding.claims import Claim, GroundedAnswer
from qa.prompt import (
    TEMPLATE_RESERVE_TOKENS,
    drop_repeated_lines,
    number_in_time_order,
    user_message,
)
from scenedex.ask_evidence import evidence_lines, moment_cost, mostly_same, prompt_token_count
from scenedex.search_service import SearchService
from search.confidence import has_text
from search.moments import Moment
from search.request import MAX_QUERY_CHARS, TEXT_CHANNELS, SearchFilters, SearchRequest

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000
MAX_MOMENTS = 20


@dataclass(frozen=True)
class AskConfig:
    max_moments: int = 5  # moments an answer is built from, at most
    # Moments with text under this calibrated score (search.confidence) are left out of the answer's evidence, the
    # first moment always kept: search lists weak moments down to its cut-off (0.0088, which keeps every right
    # moment of the tuned library), and handed to the model they crowd out the line that answers (the answer bench
    # declined 2 of 93 answerable questions with them). 0.038 is where search's cut-off lay when the answer bench
    # was measured. Frames-only moments have no calibrated likelihood and are kept.
    min_moment_score: float = 0.038
    max_new_tokens: int = 128  # the answer's length, at most
    context_s: float = 4.0  # lines this close before or after a moment go with it (a sentence spans cues)
    frames_per_s: float = 1.0  # vision-language models: frames offered per second of a moment ...
    max_frames_per_moment: int = 16  # ... and at most this many
    frame_size_px: int = 224  # the frames' square when the model does not say (AnswerModelInfo.frame_px)
    memory_bytes: int | None = None  # vision-language models: memory free for the KV cache (None: not bounded)
    # The evidence line is quoted when no verified claim has come this long after the search (None: never early);
    # below the 3 s goal, leaving room for a busy machine to wake the reader
    first_words_deadline_s: float | None = 2.5
    grounding: GroundingConfig = GroundingConfig()


@dataclass(frozen=True)
class AskRequest:
    question: str
    max_moments: int | None = None  # None: the configured number
    filters: SearchFilters = SearchFilters()


@dataclass(frozen=True)
class AskedMoment:
    """A moment an answer was built from; ``n`` is the number the answer cites it by (time order)."""

    n: int
    rank: int  # 1 = the best search match
    media_id: int
    name: str
    path: str
    start_s: float
    end_s: float
    thumbnail_t_s: float
    evidence: tuple[TimedLine, ...]  # the lines search matched
    lines: tuple[TimedLine, ...]  # the lines the model was given
    frames_t_s: tuple[float, ...] = ()  # the frames the model was shown (vision-language models)


@dataclass(frozen=True)
class AskTiming:
    first_token_s: float  # from the question to the model's first piece of draft (search and prompt included)
    first_words_s: float  # from the question to the first claim shown (or the refusal), search included
    tokens_per_s: float  # generation speed after the first token
    search_s: float
    total_s: float
    prompt_tokens: int
    generated_tokens: int


@dataclass(frozen=True)
class AskResult:
    question: str
    answer: str  # what the user reads: the shown claims with their times, or the refusal
    moments: tuple[AskedMoment, ...]  # best ranked first
    cited: tuple[int, ...]  # moment numbers the shown claims rest on, in order
    model: AnswerModelInfo
    timing: AskTiming
    grounded: GroundedAnswer
    draft: str = ""  # the model's own words, before verification (never shown as fact)

    @property
    def claims(self) -> tuple[Claim, ...]:
        return self.grounded.claims

    @property
    def dropped(self) -> tuple[Claim, ...]:
        return self.grounded.dropped

    @property
    def declined(self) -> bool:
        return self.grounded.declined


StreamEvent = tuple[Literal["draft"], str] | tuple[Literal["claim"], Claim]


@dataclass
class AnswerStream:
    """A prepared answer: its moments are known, its text is not generated yet. Iterate ``events`` (or
    ``pieces``) once."""

    question: str
    moments: tuple[AskedMoment, ...]
    model_info: AnswerModelInfo
    _model: AnswerModel
    _input: AnswerInput
    _session: GroundedSession
    _t0: float
    _search_s: float
    _deadline_s: float | None = None
    _stats: AnswerStats = field(default_factory=AnswerStats)
    _text: list[str] = field(default_factory=list)
    _first_piece_s: float = 0.0
    _first_words_s: float = 0.0
    _deadline_passed: bool = False
    _grounded: GroundedAnswer | None = None

    @property
    def declined(self) -> bool:
        """Known before generation: no retrieved moment answers, so the model is not asked."""
        return self._session.declined

    def events(self) -> Iterator[StreamEvent]:
        """The model's draft pieces as they come and, interleaved, each claim as soon as it is shown. The model
        generates on a worker thread; this thread keeps the first-words deadline: when no claim is shown
        ``first_words_deadline_s`` after the search, the answering line is quoted then, whatever the model is
        doing (reading a long prompt, or writing a sentence the verifier drops), and its checked claims follow."""
        assert not self._text and self._grounded is None, "an answer stream is read once"
        session = self._session
        if not session.declined:
            yield from self._generated(session)
        new, self._grounded = session.finish()
        yield from self._shown(new)
        if not self._first_words_s:  # a refusal, or an answer with nothing to show: its words come now
            self._first_words_s = time.perf_counter() - self._t0

    def _generated(self, session: GroundedSession) -> Iterator[StreamEvent]:
        generation: BackgroundStream[str] = BackgroundStream(lambda: self._model.stream(self._input, self._stats))
        try:
            while True:
                outcome, piece = generation.get(self._wait_s())
                if outcome == "end":
                    return
                if outcome == "timeout":
                    self._deadline_passed = True
                    yield from self._shown(session.quote_now())
                    continue
                assert piece is not None
                if not self._first_piece_s:
                    self._first_piece_s = time.perf_counter() - self._t0
                self._text.append(piece)
                yield "draft", piece
                yield from self._shown(session.feed(piece))
        finally:
            generation.close()  # the reader stopped early (a client went away): the model stops too

    def pieces(self) -> Iterator[str]:
        """The draft alone (the claims are in ``result()``)."""
        for kind, value in self.events():
            if kind == "draft":
                assert isinstance(value, str)
                yield value

    def _wait_s(self) -> float | None:
        """How long the next piece may take before the quote is due (None: no deadline is pending)."""
        if self._deadline_s is None or self._first_words_s or self._deadline_passed:
            return None
        return self._t0 + self._search_s + self._deadline_s - time.perf_counter()

    def _shown(self, claims: list[Claim]) -> Iterator[StreamEvent]:
        for claim in claims:
            if not self._first_words_s:
                self._first_words_s = time.perf_counter() - self._t0
            yield "claim", claim

    def result(self) -> AskResult:
        assert self._grounded is not None, "read every event before asking for the result"
        grounded = self._grounded
        s = self._stats
        decode_s = s.total_s - s.first_token_s
        tokens_per_s = (s.generated_tokens - 1) / decode_s if s.generated_tokens > 1 and decode_s > 0 else 0.0
        timing = AskTiming(first_token_s=round(self._first_piece_s, 3), first_words_s=round(self._first_words_s, 3),
                           tokens_per_s=round(tokens_per_s, 2), search_s=round(self._search_s, 3),
                           total_s=round(time.perf_counter() - self._t0, 3), prompt_tokens=s.prompt_tokens,
                           generated_tokens=s.generated_tokens)
        return AskResult(question=self.question, answer=grounded.text(), moments=self.moments, cited=grounded.cited,
                         model=self.model_info, timing=timing, grounded=grounded, draft="".join(self._text).strip())


def check_question(question: str) -> str:
    """The question with its white space normalised, or QuestionError; a huge one is refused before any work."""
    if len(question) > 4 * MAX_QUESTION_CHARS or len(" ".join(question.split())) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}",
                            "ask one short question; search (`scenedex search`) finds passages by their words")
    text = " ".join(question.split())
    if not text:
        raise QuestionError("the question is empty", 'ask something, e.g. "where is the telescope assembled?"')
    return text


class AskService:
    """Thread-safe; one per process. The answer model is loaded on first use and kept."""

    def __init__(self, search: SearchService, load_model: Callable[[], AnswerModel], config: AskConfig = AskConfig(),
                 frames: FramesCache | None = None) -> None:
        self.search = search
        self.config = config
        self.frames = frames
        self._load_model = load_model
        self._model: AnswerModel | None = None
        self._lock = threading.Lock()

    def model(self) -> AnswerModel:
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    def ask(self, request: AskRequest) -> AskResult:
        stream = self.prepare(request)
        for _ in stream.events():
            pass
        return stream.result()

    def prepare(self, request: AskRequest) -> AnswerStream:
        t0 = time.perf_counter()
        question = check_question(request.question)
        max_moments = request.max_moments if request.max_moments is not None else self.config.max_moments
        if not 1 <= max_moments <= MAX_MOMENTS:
            raise QuestionError(f"max_moments must be between 1 and {MAX_MOMENTS}, got {max_moments}",
                                "5 is plenty for a short answer")
        self._check_library()
        ranked = self._search(question, request.filters, max_moments)
        search_s = time.perf_counter() - t0
        model = self.model()
        info = model.info
        media = self._media([m.media_id for m in ranked])
        ranked = [m for m in ranked if m.media_id in media]  # a file removed since the search is left out
        candidates = [self._evidence_moment(m, media[m.media_id], info) for m in ranked]
        kept = self._fit(model, question, ranked, candidates)
        numbered = number_in_time_order([c for _, c in kept])
        by_start = {(m.media_id, m.start_s, m.end_s): m for m in numbered}
        moments = []
        for rank, (moment, candidate) in enumerate(kept, 1):
            final = by_start[(candidate.media_id, candidate.start_s, candidate.end_s)]
            moments.append(AskedMoment(
                n=final.n, rank=rank, media_id=moment.media_id, name=candidate.media_name,
                path=media[moment.media_id].path, start_s=moment.start_s, end_s=moment.end_s,
                thumbnail_t_s=moment.thumbnail_t_s, evidence=evidence_lines(moment), lines=final.lines,
                frames_t_s=tuple(f.t_s for f in final.frames)))
        if info.visual_tokens_per_frame > 0:
            size = info.frame_px or self.config.frame_size_px
            numbered = tuple(self._with_pixels(m, media[m.media_id], size) for m in numbered)
        answer_input = AnswerInput(question=question, moments=numbered, max_new_tokens=self.config.max_new_tokens)
        session = GroundedSession(question, numbered, self.embed, visual=info.visual_tokens_per_frame > 0,
                                  config=self.config.grounding)
        return AnswerStream(question=question, moments=tuple(moments), model_info=info, _model=model,
                            _input=answer_input, _session=session, _t0=t0, _search_s=search_s,
                            _deadline_s=self.config.first_words_deadline_s)

    def embed(self, texts: list[str]) -> np.ndarray:
        """texts -> (N, d) unit rows for the verifier's semantic score: all-MiniLM-L6-v2 (its thresholds' model,
        ``qa.grounding``) where search's model is it or joins it (the default), else search's model."""
        encoder = self.search._text_encoder()
        return (encoder.part(MINILM_NAME) or encoder).encode(texts)

    # -- steps ---------------------------------------------------------------------------------------------
    def _check_library(self) -> None:
        with self.search.db.session() as session:
            indexed = library_repo.status_counts(session).get(str(MediaStatus.INDEXED), {}).get("files", 0)
        if not indexed:
            raise EmptyLibraryError("nothing is indexed yet, so there is nothing to answer from",
                                    "run `scenedex index FOLDER` first, then ask again")

    def _search(self, question: str, filters: SearchFilters, max_moments: int) -> list[Moment]:
        query = question if len(question) <= MAX_QUERY_CHARS else question[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
        response = self.search.search(SearchRequest(text=query, filters=filters, page_size=min(100, 4 * max_moments)))
        assert response.moments is not None
        distinct: list[Moment] = []
        for moment in response.moments.items:  # the question-focus step can add a moment search also found
            if distinct and not self._strong_enough(moment):
                continue
            if not any(mostly_same(moment, other) for other in distinct):
                distinct.append(moment)
        if not distinct:
            raise NoEvidenceError("no moment of the library matches the question",
                                  "ask with words that are said, subtitled or shown on screen, or widen the filters")
        return distinct[:max_moments]

    def _strong_enough(self, moment: Moment) -> bool:
        """Whether a moment after the first goes into the answer's evidence (``AskConfig.min_moment_score``)."""
        score = moment.calibrated_score
        return score is None or not has_text(moment) or score >= self.config.min_moment_score

    def _media(self, media_ids: list[int]) -> dict[int, MediaFile]:
        with self.search.db.session() as session:
            rows = library_repo.get_media_many(session, sorted(set(media_ids)))
            for row in rows:
                session.expunge(row)
        return {row.id: row for row in rows}

    def _evidence_moment(self, moment: Moment, media: MediaFile, info: AnswerModelInfo) -> EvidenceMoment:
        context_s = self.config.context_s
        with self.search.db.session() as session:
            rows = search_repo.lines_between(session, moment.media_id, moment.start_s - context_s,
                                             moment.end_s + context_s, [c.value for c in TEXT_CHANNELS])
        lines = [TimedLine(c, s, e, t) for c, s, e, t in rows]
        frames: tuple[EvidenceFrame, ...] = ()
        if info.visual_tokens_per_frame > 0 and media.video_stream_index is not None:
            count = min(self.config.max_frames_per_moment,
                        max(1, math.ceil(moment.duration_s * self.config.frames_per_s)))
            step_s = moment.duration_s / count
            frames = tuple(EvidenceFrame(moment.start_s + (i + 0.5) * step_s) for i in range(count))
        return EvidenceMoment(n=0, media_id=moment.media_id, media_name=Path(media.path).name,
                              start_s=moment.start_s, end_s=moment.end_s, lines=drop_repeated_lines(lines),
                              frames=frames)

    def _fit(self, model: AnswerModel, question: str, ranked: list[Moment],
             candidates: list[EvidenceMoment]) -> list[tuple[Moment, EvidenceMoment]]:
        """The candidates the budget lets in (best ranked first), cut to the lines and frames it chose."""
        info = model.info
        limits = BudgetLimits(context_tokens=info.context_tokens, max_new_tokens=self.config.max_new_tokens,
                              fixed_tokens=model.count_tokens(user_message(question, ())) + TEMPLATE_RESERVE_TOKENS,
                              kv_bytes_per_token=info.kv_cache_bytes_per_token, memory_bytes=self.config.memory_bytes)
        costs = [moment_cost(model, c, ranked[i]) for i, c in enumerate(candidates)]
        chosen = plan(limits, costs)
        kept = []
        for p in chosen.moments:
            c = candidates[p.candidate]
            kept.append((ranked[p.candidate], replace(c, lines=tuple(c.lines[i] for i in p.lines),
                                                      frames=tuple(c.frames[i] for i in p.frames))))
        while kept and prompt_token_count(model, question, [c for _, c in kept]) > limits.total_tokens - \
                limits.max_new_tokens - TEMPLATE_RESERVE_TOKENS:
            kept.pop()  # the pieces were counted one by one; the whole text is the judge
        if not kept:
            raise NoEvidenceError(f"none of the {len(candidates)} matching moments fits in the "
                                  f"{info.context_tokens}-token context of {info.key} with the question",
                                  "ask a shorter question")
        return kept

    def _with_pixels(self, moment: EvidenceMoment, media: MediaFile, size: int) -> EvidenceMoment:
        """The moment's frames decoded at their own size and cropped to ``size`` as CLIP's processor does."""
        path = Path(media.path)

        def pixels(t_s: float) -> np.ndarray:
            decode = lambda: decode_frame_clip(path, t_s, size, media.video_stream_index)
            if self.frames is None or not media.fingerprint:
                return decode()
            return self.frames.get_or_decode(FrameKey(media.fingerprint, t_s, size), decode)

        return replace(moment, frames=tuple(EvidenceFrame(f.t_s, pixels(f.t_s)) for f in moment.frames))
