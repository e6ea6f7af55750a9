"""The credits scoring (bench/credits_score.py) on hand-made spans: a line is read only by a span near it in time
whose text reads like it (whole, or contained in a joined span), a repeated name is credited once, a line read
as two spans apart in time is split, and the ground truth file loads with the lines the issue names."""

from __future__ import annotations

from dataclasses import dataclass

from bench.credits_score import TruthLine, contained_similarity, coverage, load_truth, score


@dataclass(frozen=True)
class S:
    start_s: float
    end_s: float
    text: str


HEADING = TruthLine("ORIGINAL STORY AND SCRIPT", 10.0, 16.0, "heading")
NAME = TruthLine("Sacha Goedegebure", 10.0, 16.0, "credit")


def test_a_span_with_the_line_s_text_over_its_window_reads_it_strictly_as_one_span() -> None:
    result = score([S(10.0, 16.0, "ORIGINAL STORY AND SCRlPT")], [HEADING])
    (line,) = result.lines
    assert (line.strict, line.contained, line.split, len(line.spans)) == (True, True, False, 1)
    assert result.summary()["recall_strict"] == 1.0


def test_a_heading_joined_with_its_name_reads_both_contained_but_neither_strictly() -> None:
    result = score([S(9.0, 16.5, "ORIGINAL STORY AND SCRIPT Sacha Goedegebure")], [HEADING, NAME])
    assert [(s.strict, s.contained) for s in result.lines] == [(False, True), (False, True)]
    assert (result.strict, result.contained) == (0, 2)


def test_a_line_that_is_a_word_of_another_line_on_screen_is_not_read_by_it() -> None:
    blender = TruthLine("Blender", 35.6, 42.5, "credit")
    staff = TruthLine("BLENDER INSTITUTE STAFF", 38.0, 44.8, "heading")
    result = score([S(39.0, 46.0, "BLENDER INSTITUTE STAFF"), S(31.0, 38.0, "RENDERING PROVIDED BY")],
                   [blender, staff])
    assert [(s.line.text, s.contained) for s in result.lines] == [("Blender", False),
                                                                  ("BLENDER INSTITUTE STAFF", True)]


def test_the_right_text_at_the_wrong_time_does_not_count() -> None:
    result = score([S(18.5, 25.0, "Sacha Goedegebure"), S(1.0, 7.9, "Sacha Goedegebure")], [NAME])
    assert result.contained == 0 and [s.line for s in result.misses] == [NAME]


def test_the_window_is_widened_by_two_seconds_only() -> None:
    assert score([S(17.9, 20.0, "Sacha Goedegebure")], [NAME]).contained == 1
    assert score([S(18.1, 20.0, "Sacha Goedegebure")], [NAME]).contained == 0


def test_wrong_text_at_the_right_time_does_not_count_and_a_misread_beyond_the_tolerance_neither() -> None:
    spans = [S(10.0, 16.0, "Sacha"), S(10.0, 16.0, "Enrico Valenza"), S(10.0, 16.0, "Sachu Gaedcgabure")]
    result = score(spans, [NAME])
    assert result.contained == 0 and result.strict == 0
    assert 0 < result.lines[0].coverage < 1  # "sacha" and some runs were found: read in pieces, not whole


def test_a_line_read_as_two_spans_apart_in_time_is_split_and_overlapping_readings_are_not() -> None:
    split = score([S(10.0, 12.0, "Sacha Goedegebure"), S(13.0, 16.0, "Sacha Goedegebure")], [NAME])
    assert split.split == 1 and len(split.lines[0].spans) == 2
    joined = score([S(10.0, 13.5, "Sacha Goedegebure"), S(13.0, 16.0, "Sacha Goedegebure")], [NAME])
    assert joined.split == 0
    assert split.summary()["one_span"] == 0.0 and joined.summary()["one_span"] == 1.0


def test_a_repeated_name_is_credited_to_the_line_it_overlaps_most_not_split_across_both() -> None:
    later = TruthLine("Sacha Goedegebure", 13.0, 19.0, "credit")
    result = score([S(10.0, 15.5, "Sacha Goedegebure"), S(13.5, 19.0, "Sacha Goedegebure")], [NAME, later])
    assert [len(s.spans) for s in result.lines] == [1, 1] and result.split == 0
    alone = score([S(10.0, 15.5, "Sacha Goedegebure")], [NAME, later])
    assert [s.contained for s in alone.lines] == [True, False]


def test_a_name_twice_on_screen_at_once_read_as_two_spans_reads_both_lines() -> None:
    rigging, animation = TruthLine("Nathan Vegdahl", 15.0, 21.8, "credit"), TruthLine("Nathan Vegdahl", 15.9, 22.7,
                                                                                      "credit")
    result = score([S(16.0, 22.0, "Nathan Vegdahl"), S(16.0, 23.0, "Nathan Vegdahl")], [rigging, animation])
    assert (result.contained, result.split) == (2, 0)


def test_uncertain_lines_and_logos_are_not_scored_but_counted_in_the_total() -> None:
    truth = [NAME, TruthLine("BY", 88.8, 91.8, "logo", uncertain=True), TruthLine("blender", 88.8, 91.8, "logo")]
    result = score([], truth)
    assert (result.total, result.certain, result.contained) == (3, 1, 0)


def test_contained_similarity_looks_at_the_stretch_the_line_lines_up_with() -> None:
    assert contained_similarity("Jan Morgenstern", "SOUND EFFECTS Jan Morgenstem") > 0.85  # "rn" read "m"
    assert contained_similarity("Jan Morgenstern", "J a n and then something else entirely, Morgan") < 0.8
    assert contained_similarity("Blender", "RENDERING PROVIDED BY") < 0.8  # "ender" alone is not the line
    assert coverage("Aaron Millsaps · Abel Groenewolt", ["Aaron Millsaps", "Abel Groenewolt"]) > 0.9


def test_the_ground_truth_loads_and_holds_the_lines_the_media_readme_names() -> None:
    truth = load_truth()
    texts = {t.text for t in truth}
    assert {"ORIGINAL STORY AND SCRIPT", "Sacha Goedegebure", "MUSIC AND SOUND DESIGN", "Jan Morgenstern",
            "RENDERING PROVIDED BY", "Sun Microsystems", "LOGO AND POSTER DESIGN"} <= texts
    assert all(t.start_s < t.end_s and t.kind in {"heading", "credit", "supporter", "logo"} for t in truth)
    assert sum(t.scored for t in truth) >= 250
