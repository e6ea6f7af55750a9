"""A spoken segment that runs over two subtitle cues gives way to the cue whose words matched: the moment is the
cue's hand-timed span, not the recogniser's longer segment (the NASA narration: one segment, two cues)."""

from __future__ import annotations

from search.fusion import Retriever
from search.moments import build_moments
from tests.test_moments import NO_PAD, OCR, SPEECH, SUBS, W, hit, timeline

SEGMENT = ("This is the optical and science segment of the Webb Space Telescope in one of the largest clean rooms in "
           "the world")


def spans(hits: list) -> list[tuple[float, float]]:
    no_cuts = timeline(60, cuts=())  # nothing to snap to
    return [(m.start_s, m.end_s) for m in build_moments(hits, {1: no_cuts}, W, NO_PAD)]


def test_a_long_spoken_segment_gives_way_to_the_cue_that_matched() -> None:
    spoken = hit(1, 0.7, 8.4, SPEECH, rank=1, sim=0.6, text=SEGMENT)
    second = hit(1, 4.26, 8.35, SUBS, rank=2, sim=0.55, text="space telescope in one of the largest cleanrooms")
    first = hit(1, 0.21, 4.26, SUBS, rank=9, sim=0.3, text="This is the optical and science segment of the Webb")
    assert spans([spoken, second, first])[0] == (4.26, 8.35)
    first_best = hit(1, 0.21, 4.26, SUBS, rank=2, sim=0.55, text=first.text)
    second_weak = hit(1, 4.26, 8.35, SUBS, rank=9, sim=0.3, text=second.text)
    assert spans([spoken, first_best, second_weak])[0] == (0.21, 4.26)


def test_a_cue_as_long_as_its_segment_or_a_caption_keeps_the_moment_as_it_was() -> None:
    spoken = hit(1, 4.0, 8.4, SPEECH, rank=1, sim=0.6, text="space telescope in one of the largest clean rooms")
    cue = hit(1, 4.26, 8.35, SUBS, rank=2, sim=0.55, text="space telescope in one of the largest cleanrooms")
    assert spans([spoken, cue])[0] == (4.0, 8.4)
    long_spoken = hit(1, 0.7, 8.4, SPEECH, rank=1, sim=0.6, text=SEGMENT)
    caption = hit(1, 0.5, 8.6, OCR, Retriever.SEMANTIC, rank=1, sim=0.5, text="Webb cleanroom")
    assert (0.5, 8.6) in spans([long_spoken, cue, caption])
