"""Numbers, quantities and clock times of English text, normalised so that a claim and its evidence can be
compared whatever way each writes them: "four" = "4", "ten past eleven" = "11:10" = "11.10 pm", "1,500" = "1500",
"a dozen" = 12, "half past six" = 6:30, "quarter to nine" = 8:45.

Each value is a string key: a plain number as its shortest decimal ("4", "1.5", "1500"), a clock time as
``"t:H:MM"`` on a 12-hour dial (so "23:10" and "ten past eleven" agree). A number that is part of a clock time is
not also a number of its own: "ten past eleven" holds 11:10, not 10 or 11.
"""

from __future__ import annotations

import re

UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
        "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# Words that state a number outside a clock time. "half", "quarter", "once" and ordinals are left out: as
# often as not they are no quantity ("this half of the observatory", "at first").
SPECIAL = {"dozen": 12, "twice": 2}
NUMBER_WORD = "|".join(sorted([*UNITS, *TENS, *SCALES], key=len, reverse=True))
SPELLED = rf"(?:(?:{NUMBER_WORD})(?:[\s-]+(?:and\s+)?(?:{NUMBER_WORD}))*)"
FIGURE = r"\d+(?:,\d{3})*(?:\.\d+)?"
HOUR = rf"(?:\d{{1,2}}|{'|'.join(sorted(UNITS, key=len, reverse=True))})"
TIME_PATTERNS = (
    # 11:10, 11.10 pm, 23:10
    re.compile(r"\b(?P<h>\d{1,2})[:.](?P<m>[0-5]\d)\s*(?:a\.?m\.?|p\.?m\.?|h\b)", re.I),
    re.compile(r"\b(?P<h>\d{1,2}):(?P<m>[0-5]\d)\b"),
    # ten past eleven, half past six, quarter to nine, twenty-five to three
    re.compile(rf"\b(?P<mins>{SPELLED}|\d{{1,2}}|half|a quarter|quarter)(?:\s+minutes)?\s+(?P<rel>past|after|to|before)"
               rf"\s+(?P<h>{HOUR})\b", re.I),
    # eleven o'clock, 11 pm, eleven ten pm
    re.compile(rf"\b(?P<h>{HOUR})\s*(?:o'clock|o’clock|oclock)", re.I),
    re.compile(rf"\b(?P<h>{HOUR})(?:\s+(?P<mw>{SPELLED}))?\s*(?:a\.?m\.?|p\.?m\.?)(?!\w)", re.I),
    re.compile(r"\b(?P<noon>noon|midday|midnight)\b", re.I),
)


def spelled_value(text: str) -> float | None:
    """The value of a spelled-out number.

    >>> spelled_value("four"), spelled_value("twenty-five"), spelled_value("three hundred and twelve")
    (4, 25, 312)
    >>> spelled_value("two thousand five hundred"), spelled_value("purple")
    (2500, None)
    """
    words = [w for w in re.split(r"[\s-]+", text.lower().strip()) if w and w != "and"]
    if not words:
        return None
    total, current = 0, 0
    for w in words:
        if w in UNITS:
            current += UNITS[w]
        elif w in TENS:
            current += TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in SCALES:
            total += max(current, 1) * SCALES[w]
            current = 0
        else:
            return None
    return total + current


def number_key(value: float) -> str:
    """The shortest decimal of a value.

    >>> number_key(4.0), number_key(1.50), number_key(1500)
    ('4', '1.5', '1500')
    """
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _hour(text: str) -> int | None:
    value = int(text) if text.isdigit() else UNITS.get(text.lower())
    return value if value is not None and 0 <= value <= 24 else None


def _minutes(text: str) -> int | None:
    text = text.lower().strip()
    if text in ("half",):
        return 30
    if text in ("quarter", "a quarter"):
        return 15
    value = int(text) if text.isdigit() else spelled_value(text)
    return int(value) if value is not None and 0 <= value < 60 else None


def clock_key(hour: int, minute: int) -> str:
    """A time of day on a 12-hour dial.

    >>> clock_key(23, 10), clock_key(11, 10), clock_key(0, 5)
    ('t:11:10', 't:11:10', 't:12:05')
    """
    h = hour % 12 or 12
    return f"t:{h}:{minute:02d}"


def _time_of(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    if groups.get("noon"):
        return clock_key(12, 0)
    hour = _hour(groups["h"])
    if hour is None:
        return None
    if groups.get("rel"):
        minutes = _minutes(groups["mins"])
        if minutes is None:
            return None
        if groups["rel"].lower() in ("to", "before"):
            return clock_key(hour - 1, 60 - minutes)
        return clock_key(hour, minutes)
    if groups.get("m"):
        return clock_key(hour, int(groups["m"]))
    if groups.get("mw"):
        minutes = _minutes(groups["mw"])
        return clock_key(hour, minutes) if minutes is not None else None
    return clock_key(hour, 0)


def quantities(text: str) -> set[str]:
    return {key for key, _ in _scan(text)}


def without_quantities(text: str) -> str:
    """``text`` with its numbers and clock times cut out (their words are checked as quantities, not as words).

    >>> without_quantities("It leaves at 11:10 pm with four cars.")
    'It leaves at  with  cars.'
    """
    out, last = [], 0
    for _, (start, end) in sorted(_scan(text), key=lambda x: x[1]):
        out.append(text[last:start])
        last = end
    return "".join(out) + text[last:]


def _scan(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Every quantity of ``text`` with its character span."""
    """Every number and clock time ``text`` states, normalised.

    >>> sorted(quantities("It weighs almost four tons and leaves at ten past eleven."))
    ['4', 't:11:10']
    >>> sorted(quantities("1,500 people came at 23:10; a dozen stayed until half past six"))
    ['12', '1500', 't:11:10', 't:6:30']
    >>> sorted(quantities("The train leaves at 11.10 pm with 1.5 tons")), sorted(quantities("no numbers here"))
    (['1.5', 't:11:10'], [])
    """
    found: list[tuple[str, tuple[int, int]]] = []
    taken = [False] * len(text)

    def free(span: tuple[int, int]) -> bool:
        return not any(taken[span[0]:span[1]])

    def take(span: tuple[int, int]) -> None:
        for i in range(*span):
            taken[i] = True

    for pattern in TIME_PATTERNS:
        for match in pattern.finditer(text):
            if free(match.span()):
                key = _time_of(match)
                if key is not None:
                    found.append((key, match.span()))
                    take(match.span())
    for match in re.finditer(rf"(?<![\w.,]){FIGURE}(?![\w]|[.,]\d)", text):
        if free(match.span()):
            found.append((number_key(float(match.group().replace(",", ""))), match.span()))
            take(match.span())
    for match in re.finditer(rf"\b{SPELLED}\b", text, re.I):
        if free(match.span()):
            value = spelled_value(match.group())
            if value is not None:
                found.append((number_key(value), match.span()))
                take(match.span())
    for word, value in SPECIAL.items():
        for match in re.finditer(rf"\b{word}\b", text, re.I):
            if free(match.span()):
                found.append((number_key(value), match.span()))
    return found
