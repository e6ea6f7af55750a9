"""What a grounded answer is made of: claims (one sentence each), each citing the moment(s) and the span of
evidence it rests on, with a verdict that says how far the user can trust it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from qa.prompt import clock


class Verdict(enum.StrEnum):
    VERIFIED = "verified"  # a generated claim whose numbers, names and words the cited evidence holds
    QUOTED = "quoted"  # an evidence line itself, quoted (the extractive answer): true to the library by construction
    FRAMES = "frames"  # a vision-language claim about what is seen: not checked against the transcript
    UNSUPPORTED = "unsupported"  # the evidence does not hold it: dropped, never shown as fact


SHOWN = (Verdict.VERIFIED, Verdict.QUOTED, Verdict.FRAMES)


@dataclass(frozen=True)
class Citation:
    """The evidence a claim rests on: moment ``n`` and the span of its line(s) that support the claim."""

    n: int
    media_name: str
    start_s: float
    end_s: float

    def label(self) -> str:
        """The file and span, the way the player shows them.

        >>> Citation(3, "nasa.mp4", 8.35, 12.47).label()
        'nasa.mp4 0:08.4–0:12.5'
        """
        return f"{self.media_name} {clock(self.start_s)}–{clock(self.end_s)}"


@dataclass(frozen=True)
class Claim:
    text: str  # the sentence as the user reads it, without citation marks
    citations: tuple[Citation, ...]  # empty only for an unsupported claim that matched nothing
    verdict: Verdict
    support: float  # semantic support: cosine of the claim and its evidence (sentence model), 0 when unchecked
    reason: str = ""  # for a dropped claim: what the evidence lacks; for a re-cited one: which moment it cited

    @property
    def moments(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(c.n for c in self.citations))

    def render(self) -> str:
        """The claim with its times, the way the answer shows it.

        >>> Claim("The lens weighs almost four tons.", (Citation(1, "keeper.mp4", 40.0, 44.0),), Verdict.VERIFIED,
        ...       0.8).render()
        'The lens weighs almost four tons [keeper.mp4 0:40.0–0:44.0].'
        >>> Claim("A red boat is moored.", (Citation(2, "harbour.mp4", 3.0, 5.0),), Verdict.FRAMES, 0.0).render()
        'A red boat is moored [from the frames of [2] harbour.mp4 0:03.0–0:05.0, not checked against the transcript].'
        """
        body = self.text.rstrip()
        end = body[-1] if body and body[-1] in ".!?" else "."
        body = body[:-1].rstrip() if body and body[-1] in ".!?" else body
        if self.verdict == Verdict.FRAMES:
            where = "; ".join(f"[{c.n}] {c.label()}" for c in self.citations)
            return f"{body} [from the frames of {where}, not checked against the transcript]{end}"
        marks = "".join(f" [{c.label()}]" for c in self.citations)
        return f"{body}{marks}{end}"


@dataclass(frozen=True)
class GroundedAnswer:
    """An answer as shown: its claims (verified, quoted, or from the frames), what was dropped, or a refusal."""

    claims: tuple[Claim, ...]  # shown, in order
    dropped: tuple[Claim, ...]  # generated claims the evidence did not support (never shown as fact)
    declined: bool  # no retrieved moment answers the question: the text says so and lists the nearest moments
    nearest: tuple[Citation, ...] = ()  # when declined: the moments that came closest
    extractive: bool = False  # the answer is (or ends with) the quoted evidence line, not the model's words

    @property
    def cited(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(n for c in self.claims for n in c.moments))

    def text(self) -> str:
        if self.declined:
            near = "; ".join(f"[{c.n}] {c.label()}" for c in self.nearest)
            return ("The library does not seem to contain the answer to this question."
                    + (f" The nearest moments: {near}." if near else ""))
        return " ".join(c.render() for c in self.claims)
