"""The miss classes of bench/search_misses.py: boundaries before ranking before misheard before other, and the
word error rate of what the index holds over a spoken or captioned target."""

from __future__ import annotations

from typing import Any

from bench.search_misses import classify, evidence_wer

REF = {"lines": [(10.0, 13.0, "Cut the pumpkin into chunks")], "captions": [(8.0, 20.0, "Serves four")]}


def query(channel: str, **kw: Any) -> dict[str, Any]:
    truth = (10.0, 13.0) if channel == "speech" else (8.0, 20.0)
    return {"media": "a.mp4", "start_s": truth[0], "end_s": truth[1], "channel": channel, "top1_iou": 0.0,
            "top1": None, "first_correct_rank": None, **kw}


def test_a_first_moment_in_the_right_place_but_cut_wrong_is_a_boundary_miss() -> None:
    q = query("speech", top1_iou=0.3, top1={"media": "a.mp4", "start_s": 9.0, "end_s": 11.0}, first_correct_rank=3)
    assert classify(q, misheard=True) == "b"


def test_a_right_moment_below_a_wrong_one_is_a_ranking_miss() -> None:
    q = query("speech", top1={"media": "b.mp4", "start_s": 9.0, "end_s": 11.0}, first_correct_rank=2)
    assert classify(q, misheard=True) == "c"


def test_nothing_right_in_the_top_ten_is_misheard_or_other_by_the_evidence() -> None:
    q = query("speech", top1={"media": "b.mp4", "start_s": 9.0, "end_s": 11.0})
    assert classify(q, misheard=True) == "a"
    assert classify(q, misheard=False) == "d"


def test_spoken_evidence_is_the_words_heard_inside_the_line() -> None:
    heard = [("speech", 9.8, 13.2, "", [[10.0, 10.4, "Cut"], [10.4, 10.6, "the"], [10.6, 11.5, "pumpkin"],
                                         [11.5, 12.0, "into"], [12.0, 12.9, "trunks"], [20.0, 21.0, "later"]])]
    assert evidence_wer(query("speech"), REF, heard) == 0.2
    assert evidence_wer(query("speech"), REF, []) == 1.0


def test_caption_evidence_is_the_best_reading_over_the_scene() -> None:
    read = [("ocr", 8.0, 19.0, "Serves for", None), ("ocr", 8.5, 19.0, "Serves four", None),
            ("ocr", 30.0, 40.0, "Serves four", None)]
    assert evidence_wer(query("ocr"), REF, read) == 0.0
    assert evidence_wer(query("ocr"), REF, read[:1]) == 0.5
    assert evidence_wer(query("ocr"), REF, read[2:]) == 1.0
