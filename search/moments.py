"""From ranked hits of every channel to ranked moments: spans with start and end seconds and their evidence.

1. Each hit is worth what its rank in its list is worth (``search.fusion``). Hits are taken strongest first:
   a hit joins an existing moment of the same file when it lies mostly inside it (a line of another channel:
   when the two spans mostly coincide, IoU >= 0.5, or when it is the same sentence subtitled and said,
   ``search.same_line``), or when it is close and its similarity is at least ``stretch_ratio`` of the best one
   its retriever found in the moment (consecutive frames of a matching scene, consecutive lines of a matching
   answer; never two captions: a caption's span is its time on screen); then it stretches the span. Otherwise
   it starts a moment of its own: a weak match next door neither blurs a span nor hides in it, and a short
   narrated line inside a long caption keeps its own tight span.
2. A moment's score is the fusion of the best rank each list gave it: agreement between channels (the caption
   and the narration both say it) ranks a moment higher.
3. Edges follow the evidence that matched: a sentence-embedding chunk of several short lines gives way to the
   line of it whose words matched. Spans are snapped to shot cuts close by, a moment found by frames alone grows
   to its shot (a shot is what a viewer calls a moment), and spans are padded so playback starts just before
   the event.
4. One moment, one result: a moment that overlaps a stronger one of its file by IoU > 0.5 is not listed again;
   its evidence and channels join the stronger one, which keeps its span (``one_per_span``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from search.fusion import FusionWeights, ListKey, Retriever, fuse
from search.request import Combine, SearchChannel
from search.same_line import same_sentence
from search.shot_edges import grow_to_shot, snap_to_cuts

MAX_IOU = 0.5  # two moments of a file that overlap more than this are one result
SAID = frozenset({SearchChannel.SPEECH, SearchChannel.SUBTITLES})  # channels of what is said


@dataclass(frozen=True)
class Hit:
    """One retrieved item: a text segment or chunk, or a sampled frame."""

    media_id: int
    start_s: float
    end_s: float
    channel: SearchChannel
    retriever: str
    rank: int  # 1-based rank in its list
    similarity: float  # cosine similarity (semantic, visual) or full-text rank (lexical)
    text: str | None = None
    frame_id: int | None = None

    @property
    def key(self) -> ListKey:
        return (self.channel, self.retriever)


@dataclass(frozen=True)
class Evidence:
    """Why a moment matched: a line of text (with the retrievers that found it) or a frame."""

    channel: SearchChannel
    start_s: float
    end_s: float
    similarity: float
    rank: int
    retrievers: tuple[str, ...]
    text: str | None = None
    frame_id: int | None = None


@dataclass(frozen=True)
class MatchSignals:
    """How well a moment's best evidence matched, in each retriever's own units (what confidence is judged on)."""

    semantic: float = 0.0  # best sentence-embedding cosine of its text chunks (0: none)
    lexical: float = 0.0  # best share of the query's words in one of its lines, 0..1 (0: none)
    visual: float = 0.0  # best image-text (or image-image) cosine of its frames (0: none)

    def with_(self, other: MatchSignals) -> MatchSignals:
        return MatchSignals(max(self.semantic, other.semantic), max(self.lexical, other.lexical),
                            max(self.visual, other.visual))


@dataclass(frozen=True)
class Moment:
    media_id: int
    start_s: float
    end_s: float
    score: float  # fused rank score (``search.fusion``): orders one query's moments
    thumbnail_t_s: float
    channels: frozenset[SearchChannel]
    evidence: tuple[Evidence, ...]
    signals: MatchSignals = MatchSignals()
    calibrated_score: float | None = None  # 0..1, set by ``search.confidence.assess``
    confidence: str | None = None  # "high", "medium" or "low", set with it
    below_cutoff: bool = False  # below the confidence cut-off (listed only when asked for)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class MomentPolicy:
    join_gap_s: float = 1.0  # hits closer than this belong to the same moment
    stretch_ratio: float = 0.85  # a close hit stretches a moment if its similarity is this share of the best
    max_moment_s: float = 30.0  # a moment never grows longer than this by joining or snapping
    snap_tolerance_s: float = 1.0  # a boundary moves to a shot cut this close
    pad_before_s: float = 0.5  # playback starts a little before the event (seeking is imprecise)
    pad_after_s: float = 0.25
    evidence_per_channel: int = 3
    line_leads_caption: float = 0.6  # a said line inside a caption's scene goes first at this share of its
    # sentence similarity (``search.line_lead``; 0: off)


@dataclass(frozen=True)
class MediaTimeline:
    """What moment building needs to know about a file: its length and its shots (cut times)."""

    duration_s: float
    shot_starts_s: np.ndarray  # (S,) float64, ascending; shot i spans [starts[i], starts[i+1]) (last: to the end)
    frame_interval_s: float = 1.0


@dataclass
class _Draft:
    media_id: int
    start_s: float
    end_s: float
    hits: list[Hit] = field(default_factory=list)
    best_similarity: dict[str, float] = field(default_factory=dict)  # retriever -> best similarity in the moment

    def has_channel(self, channel: SearchChannel) -> bool:
        return any(h.channel == channel for h in self.hits)

    def touches(self, hit: Hit, gap_s: float) -> bool:
        return hit.media_id == self.media_id and hit.start_s <= self.end_s + gap_s and hit.end_s >= self.start_s - gap_s


def build_moments(hits: Iterable[Hit], timelines: Mapping[int, MediaTimeline], weights: FusionWeights,
                  policy: MomentPolicy = MomentPolicy(), combine: Combine = Combine.OR,
                  channels: frozenset[SearchChannel] = frozenset(SearchChannel)) -> list[Moment]:
    """Ranked moments, best first. ``combine=AND`` keeps moments with evidence from every channel in ``channels``."""
    drafts = _group(hits, weights, policy)
    moments = [_finish(d, timelines.get(d.media_id), weights, policy) for d in drafts]
    moments = one_per_span(moments, weights, policy.evidence_per_channel)
    if combine == Combine.AND:
        moments = [m for m in moments if channels <= m.channels]
    moments = sorted(moments, key=lambda m: (-m.score, m.media_id, m.start_s))
    if policy.line_leads_caption > 0:
        from search.line_lead import lines_before_their_caption  # it imports this module

        moments = lines_before_their_caption(moments, policy.line_leads_caption)
    return moments


def _group(hits: Iterable[Hit], weights: FusionWeights, policy: MomentPolicy) -> list[_Draft]:
    ordered = sorted(hits, key=lambda h: (-weights.contribution(h.key, h.rank), h.media_id, h.start_s))
    drafts: list[_Draft] = []
    by_media: dict[int, list[_Draft]] = {}
    for hit in ordered:
        home = next((d for d in by_media.get(hit.media_id, []) if _joins(d, hit, policy)), None)
        if home is None:
            home = _Draft(hit.media_id, hit.start_s, hit.end_s)
            drafts.append(home)
            by_media.setdefault(hit.media_id, []).append(home)
        elif _only_chunks_around(home, hit):  # they give way to the line of theirs whose words matched
            home.start_s, home.end_s = hit.start_s, hit.end_s
        elif not _chunk_around_its_line(home, hit):  # a chunk around the moment's line gives way to it
            start, end = min(home.start_s, hit.start_s), max(home.end_s, hit.end_s)
            if end - start <= policy.max_moment_s:
                home.start_s, home.end_s = start, end
        home.hits.append(hit)
        best = home.best_similarity.get(hit.retriever)
        home.best_similarity[hit.retriever] = hit.similarity if best is None else max(best, hit.similarity)
    return drafts


def _joins(draft: _Draft, hit: Hit, policy: MomentPolicy) -> bool:
    """A hit joins a moment if it lies mostly inside it, or if it is close and strong enough to stretch it.

    Subtitle cues follow each other without gaps: without the first condition every weak cue next to a strong
    one would be swallowed by it instead of being a moment of its own.
    """
    if not draft.touches(hit, policy.join_gap_s):
        return False
    overlap_s = min(draft.end_s, hit.end_s) - max(draft.start_s, hit.start_s)
    if not draft.has_channel(hit.channel) and hit.frame_id is None:
        # Another channel's line joins only a moment of about its own span, or the line it subtitles or says;
        # a narrated line inside a long caption is a moment of its own.
        union_s = max(draft.end_s, hit.end_s) - min(draft.start_s, hit.start_s)
        return overlap_s >= 0.5 * max(union_s, 1e-6) or _says_the_same(draft, hit)
    if overlap_s >= 0.5 * max(hit.end_s - hit.start_s, 1e-6) or _chunk_around_its_line(draft, hit):
        return True
    if hit.channel == SearchChannel.OCR:
        return False  # a caption's span is its time on screen: the next scene's caption is another moment
    stretched_s = max(draft.end_s, hit.end_s) - min(draft.start_s, hit.start_s)
    best = draft.best_similarity.get(hit.retriever)
    return best is not None and best > 0 and hit.similarity >= policy.stretch_ratio * best \
        and stretched_s <= policy.max_moment_s


def _chunk_around_its_line(draft: _Draft, hit: Hit) -> bool:
    """Whether ``hit`` is a sentence-embedding chunk of several lines around a line of its channel that the
    moment holds as a full-text hit. Such a chunk gives way to that line (``_evidence_span``) when it comes
    first; when the line comes first (it ranked higher, or they tied), the chunk must join it too, or the two
    lists' evidence for one line is split over two moments that each score one list's rank."""
    return hit.retriever == Retriever.SEMANTIC and any(
        h.retriever == Retriever.LEXICAL and _line_of(h, hit) for h in draft.hits)


def _only_chunks_around(draft: _Draft, line: Hit) -> bool:
    """Whether ``line`` is a full-text hit and all the moment holds so far is sentence-embedding chunks of its
    channel around it (the case of ``_chunk_around_its_line``, the chunk having come first)."""
    return line.retriever == Retriever.LEXICAL and all(
        h.retriever == Retriever.SEMANTIC and _line_of(line, h) for h in draft.hits)


def _line_of(line: Hit, chunk: Hit, eps: float = 1e-3) -> bool:
    """Whether ``line`` is of ``chunk``'s channel and lies within its span (``eps`` of slack)."""
    return (line.channel == chunk.channel and line.start_s >= chunk.start_s - eps
            and line.end_s <= chunk.end_s + eps)


def _says_the_same(draft: _Draft, hit: Hit) -> bool:
    """Whether ``hit`` is the subtitle of a line the moment has as speech, or the other way round."""
    if hit.channel not in SAID or not hit.text:
        return False
    return any(h.channel in SAID and h.channel != hit.channel and h.text
               and same_sentence(h.text, (h.start_s, h.end_s), hit.text, (hit.start_s, hit.end_s))
               for h in draft.hits)


def _evidence_span(draft: _Draft) -> tuple[float, float]:
    """The draft's span, without the part of a sentence-embedding chunk of several lines that lies outside the
    line of it whose words matched (the chunk "LAUNCH BRIEFING Telemetry Questions" gives way to "Questions")."""
    eps = 1e-3
    lines = [h for h in draft.hits if h.retriever == Retriever.LEXICAL]

    def wider_than_its_line(h: Hit) -> bool:
        return h.retriever == Retriever.SEMANTIC and any(
            _line_of(line, h) and line.end_s - line.start_s < h.end_s - h.start_s - eps for line in lines)

    kept = [h for h in draft.hits if not wider_than_its_line(h)]
    cue = _cue_inside_a_spoken_segment(kept)
    if cue is not None:
        return cue.start_s, cue.end_s
    if len(kept) == len(draft.hits):
        return draft.start_s, draft.end_s
    return max(draft.start_s, min(h.start_s for h in kept)), min(draft.end_s, max(h.end_s for h in kept))


def _cue_inside_a_spoken_segment(hits: Sequence[Hit], slack_s: float = 0.5) -> Hit | None:
    """The best-ranked subtitle cue of a moment made of cues and a spoken segment that spans that cue and more: a
    recognised segment often runs over two cues, and the cue is the finer, hand-timed span of the words that
    matched. None when the moment holds anything else (a caption, a frame) or no segment is wider than the cue."""
    cues = [h for h in hits if h.channel == SearchChannel.SUBTITLES]
    spoken = [h for h in hits if h.channel == SearchChannel.SPEECH]
    if not cues or not spoken or len(cues) + len(spoken) != len(hits):
        return None
    best = min(cues, key=lambda h: (h.rank, h.start_s))
    covers = [s for s in spoken if s.start_s <= best.start_s + slack_s and s.end_s >= best.end_s - slack_s]
    wider = [s for s in covers if (s.end_s - s.start_s) > (best.end_s - best.start_s) + 2 * slack_s]
    return best if wider else None


def _finish(draft: _Draft, timeline: MediaTimeline | None, weights: FusionWeights, policy: MomentPolicy) -> Moment:
    start_s, end_s = _evidence_span(draft)
    only_frames = all(h.retriever in (Retriever.VISUAL, Retriever.EXAMPLE) for h in draft.hits)
    if timeline is not None:
        if only_frames:
            start_s, end_s = grow_to_shot(start_s, end_s, timeline.shot_starts_s, timeline.duration_s,
                                          timeline.frame_interval_s, policy.max_moment_s)
        start_s, end_s = snap_to_cuts(start_s, end_s, timeline.shot_starts_s, policy.snap_tolerance_s)
    end_s += policy.pad_after_s
    start_s = max(0.0, start_s - policy.pad_before_s)
    start_s, end_s = _inside_media(start_s, end_s, timeline)
    return _moment(draft.media_id, start_s, end_s, draft.hits, weights, policy)


def _inside_media(start_s: float, end_s: float, timeline: MediaTimeline | None) -> tuple[float, float]:
    """The span clipped to [0, duration] (a player cannot seek past the end); an unknown duration (0) clips nothing."""
    if timeline is not None and timeline.duration_s > 0:
        last_ms_s = math.floor(timeline.duration_s * 1000) / 1000  # moments are rounded to the millisecond
        start_s, end_s = min(start_s, last_ms_s), min(end_s, last_ms_s)
    return start_s, max(end_s, start_s)


def _moment(media_id: int, start_s: float, end_s: float, hits: Sequence[Hit], weights: FusionWeights,
            policy: MomentPolicy) -> Moment:
    best: dict[ListKey, int] = {}
    for h in hits:
        best[h.key] = min(best.get(h.key, h.rank), h.rank)
    frames = [h for h in hits if h.frame_id is not None]
    if frames:
        thumbnail_t_s = min(frames, key=lambda h: (h.rank, h.start_s)).start_s
    else:
        seed = max(hits, key=lambda h: weights.contribution(h.key, h.rank))
        thumbnail_t_s = (seed.start_s + seed.end_s) / 2
    return Moment(media_id=media_id, start_s=round(start_s, 3), end_s=round(end_s, 3), score=fuse(best, weights),
                  thumbnail_t_s=round(min(max(thumbnail_t_s, start_s), end_s), 3),
                  channels=frozenset(h.channel for h in hits), evidence=_evidence(hits, weights, policy),
                  signals=_signals(hits))


def _signals(hits: Sequence[Hit]) -> MatchSignals:
    def best(retrievers: tuple[str, ...]) -> float:
        return max((float(h.similarity) for h in hits if h.retriever in retrievers), default=0.0)

    return MatchSignals(semantic=max(0.0, best((Retriever.SEMANTIC,))),
                        lexical=min(1.0, max(0.0, best((Retriever.LEXICAL,)))),
                        visual=max(0.0, best((Retriever.VISUAL, Retriever.EXAMPLE))))


def _evidence(hits: Sequence[Hit], weights: FusionWeights, policy: MomentPolicy) -> tuple[Evidence, ...]:
    """One entry per distinct line or frame, naming every retriever that found it; strongest first."""
    merged: dict[tuple[object, ...], tuple[float, Hit, set[str]]] = {}
    for h in hits:
        key = (h.channel, h.frame_id) if h.frame_id is not None else (h.channel, h.start_s, h.end_s, h.text)
        worth = weights.contribution(h.key, h.rank)
        if key in merged:
            best_worth, best_hit, retrievers = merged[key]
            retrievers.add(h.retriever)
            if worth > best_worth:
                merged[key] = (worth, h, retrievers)
        else:
            merged[key] = (worth, h, {h.retriever})
    out: list[Evidence] = []
    per_channel: dict[SearchChannel, int] = {}
    for _, h, retrievers in sorted(merged.values(), key=lambda v: -v[0]):
        if per_channel.get(h.channel, 0) >= policy.evidence_per_channel:
            continue
        per_channel[h.channel] = per_channel.get(h.channel, 0) + 1
        out.append(Evidence(channel=h.channel, start_s=round(h.start_s, 3), end_s=round(h.end_s, 3),
                            similarity=round(float(h.similarity), 4), rank=h.rank, retrievers=tuple(sorted(retrievers)),
                            text=h.text, frame_id=h.frame_id))
    return tuple(out)


def span_iou(a: Moment, b: Moment) -> float:
    """Temporal IoU of two moments' spans (0 for moments of different files)."""
    if a.media_id != b.media_id:
        return 0.0
    inter_s = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    union_s = max(a.end_s, b.end_s) - min(a.start_s, b.start_s)
    return max(0.0, inter_s) / union_s if union_s > 0 else float(inter_s >= 0)


def one_per_span(moments: Sequence[Moment], weights: FusionWeights, evidence_per_channel: int = 3,
                 max_iou: float = MAX_IOU) -> list[Moment]:
    """Moments taken strongest first; one that overlaps a kept moment of its file by IoU > ``max_iou`` is not
    kept: its evidence, channels and signals join the kept one, whose span does not change (so no two kept
    moments ever overlap by more). Best first."""
    kept: list[Moment] = []
    by_media: dict[int, list[int]] = {}
    for m in sorted(moments, key=lambda m: (-m.score, m.media_id, m.start_s, m.end_s)):
        home = next((i for i in by_media.get(m.media_id, []) if span_iou(kept[i], m) > max_iou), None)
        if home is None:
            by_media.setdefault(m.media_id, []).append(len(kept))
            kept.append(m)
        else:
            kept[home] = _absorb(kept[home], m, weights, evidence_per_channel)
    return sorted(kept, key=lambda m: (-m.score, m.media_id, m.start_s))


def _absorb(lead: Moment, other: Moment, weights: FusionWeights, evidence_per_channel: int) -> Moment:
    """``lead`` with ``other``'s evidence added after its own: agreement between them counts in the fused score."""
    def key(e: Evidence) -> tuple[object, ...]:
        return (e.channel, e.frame_id) if e.frame_id is not None else (e.channel, e.start_s, e.end_s, e.text)

    listed = list(lead.evidence)
    seen = {key(e) for e in listed}
    per_channel: dict[SearchChannel, int] = {}
    for e in listed:
        per_channel[e.channel] = per_channel.get(e.channel, 0) + 1
    for e in other.evidence:
        if key(e) not in seen and per_channel.get(e.channel, 0) < evidence_per_channel:
            seen.add(key(e))
            per_channel[e.channel] = per_channel.get(e.channel, 0) + 1
            listed.append(e)
    best: dict[ListKey, int] = {}
    for e in lead.evidence + other.evidence:
        for r in e.retrievers:
            if e.rank >= 1:  # an answering line added by answer focus has no rank of its own
                best[(e.channel, r)] = min(best.get((e.channel, r), e.rank), e.rank)
    return Moment(media_id=lead.media_id, start_s=lead.start_s, end_s=lead.end_s,
                  score=max(lead.score, fuse(best, weights) if best else 0.0), thumbnail_t_s=lead.thumbnail_t_s,
                  channels=lead.channels | other.channels, evidence=tuple(listed),
                  signals=lead.signals.with_(other.signals))
