"""Properties of the rules that clean a recogniser's reading and compare two readings' figures, over readings
made of the characters recognisers confuse (letters read for digits, figures joined by ":", "." and ",",
run-together capitals): cleaning never loses or changes a character other than a look-alike letter made a
digit, and a figure that changed is told from one read with a digit doubled."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from indexer.ocr_filters import DIGIT_OF_LETTER, clean_text
from indexer.text_spans import figures, figures_differ

LOOK_ALIKE_OR_DIGIT = "0123456789OoIl|"
WORDS = st.text(alphabet="ABCDEHLNORTUYabeilnorstOoIl", min_size=1, max_size=9)
CLOCKS = st.builds(  # "O0:O0:09.000", "l0:3O", "7:05": groups of digits and look-alikes joined by colons
    lambda first, groups, fraction: ":".join([first, *groups]) + fraction,
    st.text(alphabet=LOOK_ALIKE_OR_DIGIT, min_size=1, max_size=2),
    st.lists(st.text(alphabet=LOOK_ALIKE_OR_DIGIT, min_size=2, max_size=2), min_size=1, max_size=3),
    st.sampled_from(["", ".000", ".5", ".O0"]))
NUMBERS = st.text(alphabet=LOOK_ALIKE_OR_DIGIT + ",.", min_size=1, max_size=6)
READING = st.lists(st.tuples(st.one_of(WORDS, CLOCKS, NUMBERS), st.sampled_from(["", " ", ", ", ": ", "-"])),
                   max_size=6).map(lambda parts: "".join(token + joiner for token, joiner in parts))
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=10)


def _without_spaces(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=400, deadline=None)
@given(READING)
@example("ELM CITYUNITEDO0:O0:09.000")
def test_cleaning_only_adds_spaces_and_makes_look_alike_letters_digits(reading: str) -> None:
    before, after = _without_spaces(reading), _without_spaces(clean_text(reading))
    assert len(after) == len(before), (reading, clean_text(reading))
    for was, now in zip(before, after):
        assert now == was or (now.isdigit() and was.translate(DIGIT_OF_LETTER) == now), (reading, clean_text(reading))


@settings(max_examples=400, deadline=None)
@given(READING, READING)
def test_figures_differ_is_symmetric_and_a_reading_never_differs_from_itself(a: str, b: str) -> None:
    assert figures_differ(a, b) == figures_differ(b, a)
    assert not figures_differ(a, a)
    assert not figures_differ(a, clean_text(a))  # cleaning reads no other figures


@settings(max_examples=400, deadline=None)
@given(DIGITS, st.data())
def test_a_digit_doubled_is_noise_and_a_digit_changed_beside_it_is_a_change(digits: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(digits) - 1))
    doubled = digits[:at + 1] + digits[at:]
    assert not figures_differ(f"CLOCK {digits}", f"CLOCK {doubled}")
    changed_at = data.draw(st.integers(0, len(digits) - 1))
    new_digit = data.draw(st.sampled_from([d for d in "0123456789" if d != digits[changed_at]]))
    changed = digits[:changed_at] + new_digit + digits[changed_at + 1:]
    assert figures_differ(f"CLOCK {digits}", f"CLOCK {changed}")
