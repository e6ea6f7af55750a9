"""The verifier, the extractive answer and declining, on evidence with known content and the real packaged
sentence model (all-MiniLM-L6-v2): claims the evidence holds are verified and cite the line that holds them;
claims with a number, a time, a name or a polarity changed, or words recombined from two lines, are dropped;
a question no moment answers is declined with the nearest moments."""

from __future__ import annotations

import pytest

from indexer.text_embedding import MINILM_NAME, TextEncoder
from qa.answering import EvidenceMoment, TimedLine
from qa.grounding.answer import GroundedSession
from qa.grounding.claims import Verdict
from qa.grounding.quantities import quantities
from qa.grounding.verify import Verifier, split_claims

NASA = EvidenceMoment(1, 1, "nasa_webb_cleanroom.mp4", 7.85, 12.47, (
    TimedLine("subtitles", 0.21, 4.26, "NAR: This is the optical and science segment of the Webb"),
    TimedLine("subtitles", 4.26, 8.35, "space telescope in one of the largest cleanrooms in the world"),
    TimedLine("subtitles", 8.35, 12.47, "at NASA’s Goddard Space Flight Center in Greenbelt, Maryland."),
    TimedLine("subtitles", 12.47, 16.57, "This half of the observatory element successfully")))
KEEPER = EvidenceMoment(2, 2, "lighthouse_keeper.mp4", 38.0, 49.0, (
    TimedLine("speech", 40.0, 44.0, "The old lens weighs almost four tons."),
    TimedLine("speech", 46.0, 49.0, "The sleeper train leaves at ten past eleven.")))
HARBOUR = EvidenceMoment(3, 3, "harbour.mp4", 10.0, 22.0, (
    TimedLine("speech", 10.5, 13.0, "The pilot caught a big fish near the lighthouse."),
    TimedLine("speech", 16.0, 19.0, "The chef cooked a hot meal at the hotel."),
    TimedLine("speech", 20.0, 22.0, "The ferry did not leave because of the storm.")))
MOMENTS = (NASA, KEEPER, HARBOUR)
WHERE = "Where is the Webb telescope being assembled?"


@pytest.fixture(scope="module")
def embed():
    return TextEncoder(MINILM_NAME).encode  # what the verifier reads with (ask_service.embed)


@pytest.fixture()
def verifier(embed) -> Verifier:
    return Verifier(embed)


@pytest.mark.parametrize("question, claim, cited, span", [
    (WHERE, "The Webb telescope is being assembled at NASA's Goddard Space Flight Center in Maryland.", [1],
     (8.35, 12.47)),
    ("How heavy is the old lighthouse lens?", "The old lens weighs almost 4 tons.", [2], (40.0, 44.0)),
    ("What time does the sleeper train leave?", "The sleeper train leaves at 11:10 pm.", [2], (46.0, 49.0)),
    ("What time does the sleeper train leave?", "It leaves at ten past eleven.", [], (46.0, 49.0)),
    ("Who caught a big fish near the lighthouse?", "The pilot caught a big fish near the lighthouse.", [3],
     (10.5, 13.0)),
    ("How heavy is the old lighthouse lens?", "The old lens has a weight of nearly four tons.", [2], (40.0, 44.0)),
    ("Why did the ferry stay?", "The ferry did not leave because of the storm.", [3], (20.0, 22.0)),
])
def test_claims_the_evidence_holds_are_verified_and_cite_the_line(verifier: Verifier, question: str, claim: str,
                                                                  cited: list[int], span: tuple[float, float]
                                                                  ) -> None:
    checked = verifier.check(claim, question, MOMENTS, cited)
    assert checked.verdict == Verdict.VERIFIED, checked
    (citation,) = checked.citations
    assert (citation.start_s, citation.end_s) == span and checked.support >= verifier.thresholds.min_semantic


def test_a_claim_citing_the_wrong_moment_is_shown_with_the_moment_that_holds_it(verifier: Verifier) -> None:
    checked = verifier.check("The old lens weighs almost four tons.", "How heavy is the lens?", MOMENTS, [1])
    assert checked.verdict == Verdict.VERIFIED and checked.moments == (2,) and "cited [1]" in checked.reason


@pytest.mark.parametrize("question, claim, cited, why", [
    ("How heavy is the old lighthouse lens?", "The old lens weighs approximately 1.5 pounds.", [2], "number 1.5"),
    ("How heavy is the old lighthouse lens?", "The old lens weighs almost five tons.", [2], "number 5"),
    ("What time does the sleeper train leave?", "The sleeper train leaves at 1:02.", [2], "number 1:02"),
    ("What time does the sleeper train leave?", "The sleeper train leaves at ten past ten.", [2], "number 10:10"),
    (WHERE, "The Webb telescope is being assembled at NASA's Johnson Space Center in Houston.", [1], "name"),
    (WHERE, "The Webb telescope is being assembled at NASA's Goddard Space Flight Center in Virginia.", [1], "name"),
    ("How heavy is the old lighthouse lens?", "The old lens does not weigh almost four tons.", [2], "opposite"),
    ("Why did the ferry stay?", "The ferry left because of the storm.", [3], ""),
    ("Who caught a big fish near the lighthouse?", "The chef caught a big fish near the lighthouse.", [3], "chef"),
    ("What did the chef do?", "The chef caught a big fish at the hotel.", [3], ""),
    ("Where did the chef catch a big fish?", "The chef caught a big fish near the lighthouse.", [3], "word chef"),
    ("Who caught a big fish near the lighthouse?", "The chef was it.", [3], ""),
    ("Why did the airport close?", "The airport closed because of the volcano on the island of S.S.L.", [], ""),
    (WHERE, "The Webb telescope is being assembled.", [1], "nothing"),
])
def test_mutated_claims_are_dropped_with_the_reason(verifier: Verifier, question: str, claim: str, cited: list[int],
                                                    why: str) -> None:
    checked = verifier.check(claim, question, MOMENTS, cited)
    assert checked.verdict == Verdict.UNSUPPORTED, checked
    assert why in checked.reason, checked.reason


def test_quantities_agree_however_they_are_written() -> None:
    assert quantities("almost four tons") == quantities("almost 4 tons") == {"4"}
    assert quantities("at ten past eleven") == quantities("at 11:10 pm") == quantities("at 23:10") == {"t:11:10"}
    assert quantities("a quarter to nine") == quantities("8:45") and quantities("half past six") == {"t:6:30"}
    assert quantities("1,500 people") == {"1500"} and quantities("two thousand five hundred") == {"2500"}


def test_sentences_are_split_with_the_citations_they_carry() -> None:
    assert split_claims("At Goddard [1]. In Maryland. [1, 3] Nothing [7].", 3) == [
        ("At Goddard.", (1,)), ("In Maryland.", (1, 3)), ("Nothing.", ())]


def _answer(embed, question: str, draft: str, visual: bool = False, moments: tuple[EvidenceMoment, ...] = MOMENTS):
    session = GroundedSession(question, moments, embed, visual=visual)
    shown = []
    for i in range(0, len(draft), 4):  # streamed in pieces
        shown += session.feed(draft[i:i + 4])
    new, answer = session.finish()
    return shown + new, answer


def test_a_wrong_answer_is_replaced_by_the_quoted_evidence_line(embed) -> None:
    shown, answer = _answer(embed, "How heavy is the old lighthouse lens?",
                            "The lens weighs approximately 1.5 pounds [2]. It is very old.")
    assert [c.verdict for c in shown] == [Verdict.QUOTED] and len(answer.dropped) == 2
    assert answer.text() == "“The old lens weighs almost four tons.” [lighthouse_keeper.mp4 0:40.0–0:44.0]."
    assert answer.extractive and answer.cited == (2,)


def test_verified_claims_stream_as_they_complete_with_their_times(embed) -> None:
    draft = ("The Webb telescope is being assembled at NASA's Goddard Space Flight Center [1]. "
             "The Webb telescope is in Greenbelt, Maryland. [1] It was built in Houston.")
    session = GroundedSession(WHERE, MOMENTS, embed)
    end = draft.index("[1].") + 4
    first = session.feed(draft[:end])
    assert first == [], "a sentence is judged once the next one has begun"
    first = session.feed(draft[end:end + 6])
    assert [c.text for c in first] == ["The Webb telescope is being assembled at NASA's Goddard Space Flight Center."]
    rest = session.feed(draft[end + 6:])
    new, answer = session.finish()
    assert [c.verdict for c in answer.claims] == [Verdict.VERIFIED, Verdict.VERIFIED] and len(answer.dropped) == 1
    assert first + rest + new == list(answer.claims)
    assert "Flight Center [nasa_webb_cleanroom.mp4 0:08.4–0:12.5]. The Webb telescope is in Greenbelt" in answer.text()
    assert "Houston" not in answer.text() and not answer.extractive


def test_a_question_no_moment_answers_is_declined_with_the_nearest_moments(embed) -> None:
    for question in ("How many moons does Jupiter have?", "Who caught a big fish at the hotel?",
                     "Where did the chef catch a big fish?", "When will the Webb telescope launch?"):
        shown, answer = _answer(embed, question, "Jupiter has 79 moons [1]. The chef caught a fish.")
        assert answer.declined and shown == [] and answer.claims == () and len(answer.dropped) == 2, question
        assert answer.text().startswith("The library does not seem to contain the answer to this question.")
        assert 1 <= len(answer.nearest) <= 3 and "The nearest moments: [" in answer.text()


def test_the_model_off_still_answers_by_quoting(embed) -> None:
    shown, answer = _answer(embed, WHERE, "")
    assert [c.verdict for c in shown] == [Verdict.QUOTED] and answer.dropped == ()
    (citation,) = answer.claims[0].citations
    assert (citation.start_s, citation.end_s) == (8.35, 12.47), "the line that names the place"
    assert "Goddard" in answer.text() and "[nasa_webb_cleanroom.mp4 0:08.4–0:12.5]" in answer.text()


def test_a_vision_model_claim_about_the_picture_is_marked_unchecked(embed) -> None:
    question, seen = "What did the pilot catch near the lighthouse?", "A red boat is moored by the pier [3]."
    _, answer = _answer(embed, question, seen, visual=True)
    frames = [c for c in answer.claims if c.verdict == Verdict.FRAMES]
    assert frames and "[from the frames of [3] harbour.mp4 0:10.0–0:22.0, not checked against the transcript]" \
        in answer.text()
    _, text_only = _answer(embed, question, seen)
    assert not any(c.verdict == Verdict.FRAMES for c in text_only.claims)
    _, mutated = _answer(embed, "How heavy is the lens?", "The old lens weighs almost five tons [2].", visual=True)
    assert not any(c.verdict in (Verdict.FRAMES, Verdict.VERIFIED) for c in mutated.claims), "a number is checked"


CREDITS = EvidenceMoment(1, 4, "bbb_credits_720p.mp4", 30.0, 38.0, (
    TimedLine("ocr", 30.0, 37.0, "RENDER WRANGLER"),
    TimedLine("ocr", 30.0, 37.0, "Campbell Barton"),
    TimedLine("ocr", 31.0, 38.0, "RENDERING PROVIDED BY"),
    TimedLine("ocr", 31.0, 38.0, "Sun Microsystems"),
    TimedLine("ocr", 33.0, 40.0, "COLOR GRADING AND FILM TRANSFER SUPPORT")))


def test_a_credits_heading_is_quoted_with_the_name_after_it_not_alone(embed) -> None:
    """"RENDERING PROVIDED BY" holds every word of the question and nothing more: the answer is the heading with
    the line that follows it."""
    shown, answer = _answer(embed, "Which company provided the rendering?", "", moments=(CREDITS,))
    assert [c.verdict for c in shown] == [Verdict.QUOTED] and not answer.declined
    assert "RENDERING PROVIDED BY Sun Microsystems" in answer.text(), answer.text()


def test_captions_shown_one_after_another_are_not_read_as_one_statement(verifier) -> None:
    """Two on-screen captions in turn cannot be recombined: the taxi driver found a ring by the river, the chef
    planted roses; "the taxi driver planted a red rose on the river" is in neither."""
    reel = EvidenceMoment(1, 5, "reel_19.mp4", 57.0, 83.0, (
        TimedLine("ocr", 57.0, 70.0, "Taxi driver finds gold ring by river"),
        TimedLine("ocr", 70.0, 83.0, "Chef plants red roses on frozen lake")))
    question = "What did the taxi driver do beside the river?"
    assert verifier.check("The taxi driver planted a red rose on the river.", question, (reel,), [1]).verdict \
        == Verdict.UNSUPPORTED
    assert verifier.check("The taxi driver found a gold ring by the river.", question, (reel,), [1]).verdict \
        == Verdict.VERIFIED


REELS = EvidenceMoment(1, 6, "reel_02.mp4", 60.0, 90.0, (
    TimedLine("speech", 65.2, 68.5, "After the festival the pilot found a gold ring at the stadium."),
    TimedLine("speech", 85.3, 88.5, "Before dawn the pilot found a gold ring at the train station.")))


@pytest.mark.parametrize("question, moments", [
    ("Who found a gold ring at the airport?", (REELS,)),  # the place asked about is in no retrieved line
    ("Who is the director of the Goddard Space Flight Center?", (NASA,)),  # nor the role
])
def test_a_thing_the_question_asks_about_is_never_excused_as_its_wording(embed, question: str,
                                                                         moments: tuple) -> None:
    """A question word no retrieved line uses is excused only as the question's wording (a verb: "being
    assembled"); the nouns of its phrases are what it asks about, and lines that lack them answer another
    question."""
    shown, answer = _answer(embed, question, "The pilot found it [1].", moments=moments)
    assert answer.declined and shown == [], answer.text()
    _, assembled = _answer(embed, WHERE, "")
    assert not assembled.declined and "Goddard" in assembled.text(), "a verb of the question is its wording"


def test_one_answer_asks_the_sentence_model_in_a_few_batches(embed) -> None:
    """Every window and word is embedded once per answer, in one batch per step (the evidence, each claim): on
    a loaded CPU each call to the model costs far more than its rows."""
    calls: list[int] = []

    def counting(texts: list[str]):
        calls.append(len(texts))
        return embed(texts)

    draft = ("The Webb telescope is being assembled at NASA's Goddard Space Flight Center [1]. "
             "The old lens has a weight of nearly four tons [2]. The pilot landed a large fish [3].")
    _, answer = _answer(counting, WHERE, draft)
    assert len(answer.claims) >= 2
    assert len(calls) <= 4, f"{len(calls)} calls to the sentence model: {calls}"
