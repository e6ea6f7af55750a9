"""A grounded answer built while the model streams: each sentence is verified as soon as it is complete, and shown
(as a claim with its times) only if the evidence holds it; the extractive quote stands in when nothing survives,
when the model is slow (``quote_now``) or off; and the question is declined up front when no retrieved moment
answers it, so the model is not even asked for a fluent guess."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.answering import EvidenceMoment
from qa.grounding.claims import Citation, Claim, GroundedAnswer, Verdict
from qa.grounding.extractive import Extract, ExtractThresholds, extract
from qa.grounding.vectors import cached
from qa.grounding.verify import CITATION_MARK, SENTENCE_END, Embed, Verifier, VerifierThresholds, split_claims
from qa.grounding.words import tokens

MAX_NEAREST = 3


@dataclass(frozen=True)
class GroundingConfig:
    verifier: VerifierThresholds = VerifierThresholds()
    extractive: ExtractThresholds = ExtractThresholds()


class GroundedSession:
    """One question's answer in the making. ``feed`` the model's pieces, then ``finish``; both return the claims
    that became visible, in order."""

    def __init__(self, question: str, moments: Sequence[EvidenceMoment], embed: Embed, visual: bool = False,
                 config: GroundingConfig = GroundingConfig()) -> None:
        self.question = question
        self.moments = tuple(moments)
        self.visual = visual
        self.vectors = cached(embed)  # the extractive answer's windows are read again by the verifier
        self.verifier = Verifier(self.vectors, config.verifier)
        self.extracts = extract(question, self.moments, self.vectors, config.extractive)
        self.best: Extract | None = self.extracts[0] if self.extracts else None
        self.declined = self.best is None or not self.best.answers
        self.shown: list[Claim] = []
        self.dropped: list[Claim] = []
        self._buffer = ""
        self._quoted = False

    # -- while the model streams --------------------------------------------------------------------------
    def feed(self, piece: str) -> list[Claim]:
        """Judge the sentences ``piece`` completes. A sentence is complete once the next one has begun with a
        word (so that a citation after its full stop, "… Goddard. [3]", still goes with it)."""
        self._buffer += piece
        end = 0
        for match in SENTENCE_END.finditer(self._buffer):
            if tokens(CITATION_MARK.sub("", self._buffer[match.end():])):
                end = match.end()
        if not end:
            return []
        done, self._buffer = self._buffer[:end], self._buffer[end:]
        return self._judge(split_claims(done, len(self.moments)))

    def quote_now(self) -> list[Claim]:
        """The extractive quote, now (the model is slow): shown first, the verified claims follow it."""
        if self.declined or self._quoted or self.shown or self.best is None:
            return []
        return self._quote()

    def finish(self) -> tuple[list[Claim], GroundedAnswer]:
        new = self._judge(split_claims(self._buffer, len(self.moments)))
        self._buffer = ""
        if self.declined:
            return [], GroundedAnswer((), tuple(self.dropped), True, self.nearest())
        best = self.best
        assert best is not None
        quote = rehome(best.claim(self.question), self.moments).citations[0]
        if not any(_overlaps(c, quote) for claim in self.shown for c in claim.citations) and not self._quoted:
            new += self._quote()  # nothing survived, or what did does not cite the line that answers
        return new, GroundedAnswer(tuple(self.shown), tuple(self.dropped), False, (), self._quoted)

    # -- parts -----------------------------------------------------------------------------------------------
    def _judge(self, sentences: list[tuple[str, tuple[int, ...]]]) -> list[Claim]:
        new: list[Claim] = []
        for text, cited in sentences:
            if self.declined:
                self.dropped.append(Claim(text, (), Verdict.UNSUPPORTED, 0.0, "the library does not answer this"))
                continue
            if any(c.text == text for c in self.shown):
                continue  # a repeated sentence
            claim = rehome(self.verifier.check(text, self.question, self.moments, cited, self.visual), self.moments)
            if claim.verdict == Verdict.UNSUPPORTED:
                self.dropped.append(claim)
            else:
                self.shown.append(claim)
                new.append(claim)
        return new

    def _quote(self) -> list[Claim]:
        assert self.best is not None
        claim = rehome(self.best.claim(self.question), self.moments)
        self._quoted = True
        self.shown.append(claim)
        return [claim]

    def nearest(self) -> tuple[Citation, ...]:
        """The moments that came closest to answering, best first, one window each."""
        out: list[Citation] = []
        for e in self.extracts:
            if all(c.n != e.window.n for c in out):
                out.append(e.nearest())
            if len(out) == MAX_NEAREST:
                break
        return tuple(out)


def rehome(claim: Claim, moments: Sequence[EvidenceMoment]) -> Claim:
    """The claim citing, for each span, the moment whose own span holds it (a moment's lines reach a few seconds
    around it, so a line can be another moment's context): the user plays the moment the line is in."""
    out = []
    for c in claim.citations:
        own = [m for m in moments if m.media_name == c.media_name]
        overlap = {m.n: min(c.end_s, m.end_s) - max(c.start_s, m.start_s) for m in own}
        best = max(overlap, key=lambda n: overlap[n], default=c.n)
        out.append(replace(c, n=best) if overlap.get(best, 0) > max(0.0, overlap.get(c.n, 0)) else c)
    return replace(claim, citations=tuple(out))


def _overlaps(a: Citation, b: Citation) -> bool:
    return a.n == b.n and min(a.end_s, b.end_s) - max(a.start_s, b.start_s) > 0
