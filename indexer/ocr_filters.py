"""Which recogniser readings are text. PP-OCR reads something in almost any texture: on animated foliage, fur
and water it returns single glyphs, CJK characters and short capital runs with fair confidence.

The rules (``keep_reading``), measured on real footage (RULES_MEASURED below):

1. Script: every letter must be in one of the library's scripts (default Latin). The recogniser's alphabet is
   mostly Chinese, so on textures it often answers with CJK glyphs ("福", "米", "正童布" on a silent film);
   an English library gets none of them unless ``han`` is configured.
2. Length: at least ``MIN_CHARS`` letters or digits.
3. Confidence: at least the engine's ``min_confidence``, and ``MIN_SHORT_CONFIDENCE`` for readings of fewer
   than ``SHORT_CHARS`` letters and digits.
4. Dictionary plausibility for the shortest readings (fewer than ``DICTIONARY_CHARS`` letters and digits):
   every word must be a common English word (the ``COMMON_WORDS`` most frequent of wordninja's Wikipedia list)
   or a number. Longer readings are kept on their confidence: names in credits ("Goedegebure", "Arne") and
   software names ("Gimp") are in no dictionary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

LATIN, HAN = "latin", "han"
SCRIPTS = (LATIN, HAN)
MIN_CHARS = 3
DICTIONARY_CHARS = 4
SHORT_CHARS = 6
MIN_SHORT_CONFIDENCE = 0.8
COMMON_WORDS = 20_000
RULES_MEASURED = """
Before (RapidOCR on every changed frame, 960 px, confidence >= 0.5), the 10-minute film gave 1,554 lines for a
title card and the credits: single glyphs ("M", "Y", "?", "6": rule 2), CJK ("福", "米", "天"; "正童布" from the
silent film: rule 1), "BKY" for the logo (rule 4).
Now (indexer.screen_text, 1 fps, 960 px frames), every recognised line of ../shared/media:
* chaplin_street.mp4: 10 frames, 5 probed at 480 px, no text found, nothing recognised.
* bbb_opening_720p.mp4: 101 frames, 47 probed, 14 read, 4 lines recognised: "THE PEACH OPEN MOVIE PROJECT"
  0.95, "PRESENTS" 0.98, the logo as "BORKSY" 0.73 kept; "飞" 0.06 dropped (rules 1 and 3).
* bbb_credits_720p.mp4 (first 100 s): 773 lines recognised, 745 kept. Dropped: 17 blank, "?" 0.06,
  "EE"/"EEEEEE" 0.29-0.41 (rule 3: confidence), "SUI" 0.66, "Log" 0.73, "bon" 0.79 (rule 3: short and unsure),
  "SVN" 0.94, "Ola" 0.97, "Ma" 0.93 (rule 4; "SVN" is a real credit, the price of rule 4). With the dictionary
  rule up to 5 characters it also dropped "Gimp", "Arne", "Grrr", "E-SHOP" (real credits), hence 4.
Session 16, PP-OCRv6 tiny's recogniser (``indexer.ocr_models``), the same rules: chaplin_street.mp4 nothing
found; bbb_opening_720p.mp4 3 lines recognised, the title card's two kept, 1 dropped; bbb_credits_720p.mp4 473
recognised, 23 dropped (scored against bench/credits_truth.toml: 250 of 258 lines read).
"""
RUN_TOGETHER_CAPS = re.compile(r"^[A-Z0-9]{8,}$")
# A word of digits and the letters recognisers take for them ("l15" for 115 on the first, fading-in frame of a
# caption: PP-OCRv6 tiny, bench/ocr.py's caption 115, which kept that reading while it was followed), or such
# words joined by ":", "." or "," into one figure: a clock, a timecode, a decimal ("O0:O0:09.000", "1,O00").
DIGIT_OF_LETTER = str.maketrans({"l": "1", "I": "1", "|": "1", "O": "0", "o": "0"})
_LOOK_ALIKES = "lI|Oo"  # what DIGIT_OF_LETTER makes digits, as a regex character class's members
_DIGIT_WORD = rf"[0-9{_LOOK_ALIKES}]*[0-9][0-9{_LOOK_ALIKES}]*"
NUMBER_READ_WITH_LETTERS = re.compile(rf"(?<!\w){_DIGIT_WORD}(?:[:.,]{_DIGIT_WORD})*(?!\w)")
# A clock or timecode the recogniser glued to the word before it ("CITYUNITED00:00:08.000"), with a letter
# read for its first digit where that group is a digit short of the next ("UNITEDO0:O0:09.000").
# Groups: the word, a look-alike letter, the figure's first group, the rest (":MM[:SS][.fff]").
GLUED_CLOCK = re.compile(rf"(?<![A-Za-z])([A-Za-z]{{2,}}?)([{_LOOK_ALIKES}]?)(\d{{1,2}})"
                         rf"((?::[\d{_LOOK_ALIKES}]{{2}})+(?:\.[\d{_LOOK_ALIKES}]+)?)(?!\w)")
LONG_WORD_CHARS = 12  # English words this long are rare; OCR runs of several words are common


def letter_script(ch: str) -> str | None:
    """The script of a letter (None for digits, punctuation, symbols and spaces).

    >>> [letter_script(c) for c in "aé7福 "]
    ['latin', 'latin', None, 'han', None]
    """
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    if name.startswith("LATIN") or "LIGATURE" in name and ch.isascii():
        return LATIN
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC")) or "CJK" in name:
        return HAN
    return name.split(" ", 1)[0].lower() or "other"


def in_scripts(text: str, scripts: Sequence[str]) -> bool:
    """Every letter of ``text`` is in one of ``scripts``.

    >>> in_scripts("Big Buck BUNNY", ["latin"]), in_scripts("BKY福", ["latin"]), in_scripts("福", ["latin", "han"])
    (True, False, True)
    """
    return all(s is None or s in scripts for s in map(letter_script, text))


@cache
def common_words() -> frozenset[str]:
    """The COMMON_WORDS most frequent words of wordninja's list (it is sorted by frequency), lower case."""
    import gzip
    from pathlib import Path

    import wordninja  # a module, with its word list next to it

    with gzip.open(Path(wordninja.__file__).parent / "wordninja" / "wordninja_words.txt.gz", "rt",
                   encoding="utf-8") as handle:
        words = [line.strip() for _, line in zip(range(COMMON_WORDS), handle)]
    return frozenset(w for w in words if len(w) > 1 or w in ("a", "i"))


def plausible_short(text: str) -> bool:
    """Each word of a short reading is a common English word or a number.

    >>> plausible_short("THE END"), plausible_short("BKY"), plausible_short("2024"), plausible_short("M")
    (True, False, True, False)
    """
    words = re.findall(r"[^\W\d_]+|\d+", text)
    return bool(words) and all(w.isdigit() or w.casefold() in common_words() for w in words)


def alnum_count(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def keep_reading(text: str, confidence: float, min_confidence: float, scripts: Sequence[str]) -> bool:
    """Whether a reading is text worth indexing (the module's rules 1-4).

    >>> keep_reading("Sacha Goedegebure", 0.93, 0.5, ["latin"]), keep_reading("正童布", 0.9, 0.5, ["latin"])
    (True, False)
    >>> keep_reading("?", 0.99, 0.5, ["latin"]), keep_reading("BKY", 0.9, 0.5, ["latin"])
    (False, False)
    """
    if not text or confidence < min_confidence or not in_scripts(text, scripts):
        return False
    n = alnum_count(text)
    if n < MIN_CHARS and not (HAN in scripts and n >= 1 and any(letter_script(c) == HAN for c in text)):
        return False
    if n < SHORT_CHARS and confidence < MIN_SHORT_CONFIDENCE:
        return False
    if n < DICTIONARY_CHARS and not any(letter_script(c) == HAN for c in text) and not plausible_short(text):
        return False
    return True


def split_run_together_caps(text: str) -> str:
    """Put back the spaces PP-OCR's recogniser drops in ALL-CAPS English.

    The recogniser was trained mostly on Chinese, which has no spaces; on capitals it often reads
    "QUARTERLYREVENUE2024" (mixed case keeps its spaces). Runs of 8 or more capitals and digits are split into
    the most likely English words (wordninja's Wikipedia unigram model); anything else is left as read.

    >>> split_run_together_caps("QUARTERLYREVENUE2024 at noon")
    'QUARTERLY REVENUE 2024 at noon'
    """
    import wordninja

    return " ".join(" ".join(wordninja.split(word)) if RUN_TOGETHER_CAPS.match(word) else _split_long_word(word)
                    for word in text.split())


def _split_long_word(word: str) -> str:
    """A long mixed-case run ("Studentfeedshorses") split into words when every piece is a real word of two
    or more letters (a single long English word stays whole: its own probability beats any split).

    >>> _split_long_word("Studentfeedshorses"), _split_long_word("understanding")
    ('Student feeds horses', 'understanding')
    """
    import wordninja

    if len(word) < LONG_WORD_CHARS or not word.isalpha():
        return word
    pieces = wordninja.split(word)
    if len(pieces) < 2 or any(len(p) < 2 and p.lower() not in ("a", "i") for p in pieces):
        return word
    return " ".join(pieces)


def digits_of_numbers(text: str) -> str:
    """Numbers read with a letter for a digit put right: in a word, or words joined by ":", "." or ",", of at
    least two digits and only l, I, | or O, o besides, those letters become 1 and 0. Words with other letters,
    or one digit, are left as read ("O2", "B52", "3D"), and so is a figure glued to a word ("UNITEDO0").

    >>> digits_of_numbers("Market close report l15"), digits_of_numbers("2O24: O2 and B52, lOl")
    ('Market close report 115', '2024: O2 and B52, lOl')
    >>> digits_of_numbers("O0:O0:09.000 at l0:3O"), digits_of_numbers("1,O00 fans, O2. UNITEDO0:O0")
    ('00:00:09.000 at 10:30', '1,000 fans, O2. UNITEDO0:O0')
    """
    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        return word.translate(DIGIT_OF_LETTER) if sum(c.isdigit() for c in word) >= 2 else word

    return NUMBER_READ_WITH_LETTERS.sub(fix, text)


def unglue_clocks(text: str) -> str:
    """A space put back between a word and the clock or timecode glued to it, so both are words a search
    matches. A look-alike letter before a first group a digit shorter than the next groups of an H:MM:SS-like
    figure is the figure's (``digits_of_numbers`` then makes it a digit); with one colon it stays the word's.

    >>> unglue_clocks("ELM CITYUNITED00:00:08.000"), unglue_clocks("UNITEDO0:O0:09.000")
    ('ELM CITYUNITED 00:00:08.000', 'UNITED O0:O0:09.000')
    >>> unglue_clocks("Kickoff19:45"), unglue_clocks("HALFO0:45"), unglue_clocks("v1:00, Ratio 16:9, TIME:10:30")
    ('Kickoff 19:45', 'HALFO 0:45', 'v1:00, Ratio 16:9, TIME:10:30')
    """
    def fix(match: re.Match[str]) -> str:
        word, lookalike, first, rest = match.groups()
        groups = rest.split(":")
        if lookalike and len(groups) >= 3 and len(first) < len(groups[1]):
            return f"{word} {lookalike}{first}{rest}"
        return f"{word}{lookalike} {first}{rest}"

    return GLUED_CLOCK.sub(fix, text)


def clean_text(text: str) -> str:
    """A raw reading, trimmed, a clock glued to a word set apart, its numbers' digits put right, the spaces of
    run-together capitals restored.

    >>> clean_text("HARBOR ROVERS 2-1 ELM CITYUNITEDO0:O0:09.000")
    'HARBOR ROVERS 2-1 ELM CITY UNITED 00:00:09.000'
    """
    return split_run_together_caps(digits_of_numbers(unglue_clocks(str(text).strip())))
