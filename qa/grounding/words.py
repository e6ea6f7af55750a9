"""Words of a claim and of its evidence, reduced so that they compare: lower case, a light suffix stemmer
("assembled" ~ "assembling" ~ "assemble"), function words dropped, names (capitalised words not opening a
sentence) kept apart because a name the evidence does not hold is never supported."""

from __future__ import annotations

import functools
import re

STOPWORDS = frozenset("""
a an the and or but if then so than that this these those there here it its it's they them their theirs he him his
she her hers we us our you your i me my mine of in on at by for with from to into onto over under about above below
after before during while as is are was were be been being am do does did done doing have has had having will would
shall should can could may might must also just very too only not no nor yes what which who whom whose where when why
how all any both each every some such same other another more most much many own again ever still yet out up down off
one's being said says say saying tell told moment moments video videos clip answer question according shown seen
shows show mentioned mentions mention states stated statement narrator speaker text screen subtitle subtitles transcript
""".split())
NEGATIONS = frozenset({"not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "without", "cannot",
                       "n't", "nowhere"})
TOKEN = re.compile(r"[A-Za-z][A-Za-z'’.-]*[A-Za-z]|[A-Za-z]")
# Irregular past forms, so that "caught" supports "catch" (the stemmer only strips regular suffixes).
IRREGULAR = {"caught": "catch", "found": "find", "wrote": "write", "written": "write", "took": "take",
             "taken": "take", "built": "build", "left": "leave", "went": "go", "gone": "go", "made": "make",
             "saw": "see", "seen": "see", "held": "hold", "brought": "bring", "bought": "buy", "ran": "run",
             "began": "begin", "begun": "begin", "came": "come", "gave": "give", "given": "give", "got": "get",
             "flew": "fly", "flown": "fly", "drove": "drive", "driven": "drive", "ate": "eat", "eaten": "eat",
             "fell": "fall", "sang": "sing", "sung": "sing", "spoke": "speak", "won": "win", "lost": "lose",
             "sold": "sell", "thought": "think", "stood": "stand", "kept": "keep", "met": "meet", "paid": "pay",
             "sent": "send", "spent": "spend", "put": "put", "rode": "ride", "swam": "swim", "threw": "throw",
             "drew": "draw", "grew": "grow", "knew": "know", "led": "lead", "hid": "hide", "broke": "break",
             "broken": "break", "chose": "choose", "froze": "freeze", "frozen": "freeze", "wore": "wear",
             "woke": "wake", "taught": "teach", "fought": "fight", "sought": "seek", "dug": "dig", "hung": "hang",
             "lit": "light", "sat": "sit", "slept": "sleep", "shot": "shoot", "struck": "strike", "told": "tell"}
SUFFIXES = ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "ers", "er", "est", "ed", "es", "ly",
            "s")


def tokens(text: str) -> list[str]:
    """Word tokens, possessives and trailing dots removed.

    >>> tokens("At NASA’s Goddard Space Flight Center, in Greenbelt.")
    ['At', 'NASA', 'Goddard', 'Space', 'Flight', 'Center', 'in', 'Greenbelt']
    """
    out = []
    for t in TOKEN.findall(text):
        t = re.sub(r"['’]s$", "", t).rstrip(".")
        if t:
            out.append(t)
    return out


@functools.lru_cache(maxsize=65536)  # called for every word of every evidence window, many times over
def stem(word: str) -> str:
    """A crude stem that is enough to match forms of one word.

    >>> [stem(w) for w in ("assembled", "assembling", "assembles", "telescopes", "cities", "city", "carried")]
    ['assembl', 'assembl', 'assembl', 'telescop', 'citi', 'citi', 'carri']
    """
    w = word.lower().replace("’", "'")
    w = IRREGULAR.get(w, w)
    for suffix in SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("i" if suffix in ("ies", "ied") else "")
            break
    else:
        w = w[:-1] + "i" if w.endswith("y") and len(w) > 3 else w
    return w.rstrip("e") if len(w) > 4 else w


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry meaning (function words and negations dropped)."""
    return {stem(t) for t in tokens(text) if t.lower() not in STOPWORDS and t.lower() not in NEGATIONS
            and len(t) > 1}


def names(text: str) -> set[str]:
    """Lower-cased capitalised words that do not open a sentence (and are not function words): the names a
    claim states.

    >>> sorted(names("The telescope is at NASA's Goddard center. It is in Greenbelt, Maryland."))
    ['goddard', 'greenbelt', 'maryland', 'nasa']
    """
    out = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        words = tokens(sentence)
        for w in words[1:]:
            if w[0].isupper() and w.lower() not in STOPWORDS:
                out.add(w.lower())
    return out


def all_lower_words(text: str) -> set[str]:
    return {t.lower() for t in tokens(text)}


def negated(text: str) -> bool:
    """Whether ``text`` says something is not so.

    >>> negated("The ferry did not leave"), negated("The ferry didn't leave"), negated("The ferry left")
    (True, True, False)
    """
    low = text.lower().replace("’", "'")
    return "n't" in low or any(t in NEGATIONS for t in re.findall(r"[a-z]+", low))


DETERMINERS = frozenset("the a an this that these those his her its their our my your".split())
PREPOSITIONS = frozenset("at in on near by beside from of with inside outside along into onto over under behind "
                         "across through to for about".split())
VERB_ENDINGS = ("ed", "ing")
AUXILIARIES = frozenset("did does do will would can could should".split())


def constraint_stems(question: str) -> set[str]:
    """Stems of the things a question is about, as opposed to its wording: the words of its noun phrases (after
    a determiner: "the airport", "the director"; a name after a preposition: "of Big Buck Bunny") and every name.
    A verb is wording ("being assembled", "managed to"): a word ending in -ed or -ing, a past form, one
    followed by a determiner (it takes an object: "did the farmer carry a sheep"), or the last word of a
    do-question after its subject ("when did the Titanic sink?") is not taken.

    >>> sorted(constraint_stems("Who found a gold ring at the airport?"))
    ['airport', 'gold', 'ring']
    >>> sorted(constraint_stems("Where is the Webb telescope being assembled?"))
    ['telescop', 'webb']
    >>> sorted(constraint_stems("In which place did the young farmer carry a wounded sheep?"))
    ['farm', 'sheep', 'young']
    >>> sorted(constraint_stems("Who is the director of the Goddard Space Flight Center?"))
    ['cent', 'director', 'flight', 'goddard', 'spac']
    >>> sorted(constraint_stems("Where Is The Webb Telescope Being Assembled?"))
    ['telescop', 'webb']
    >>> sorted(constraint_stems("In which state is NASA's Goddard Space Flight Center?"))
    ['cent', 'flight', 'goddard', 'nasa', 'spac']
    >>> sorted(constraint_stems("When does the sleeper train leave?")), sorted(constraint_stems("Who won?"))
    (['sleep', 'train'], [])
    >>> sorted(constraint_stems("Where did the teacher open a new library?"))
    ['librari', 'new', 'teach']
    """
    out: set[str] = set()
    matches = list(TOKEN.finditer(question))
    words = [re.sub(r"['’]s$", "", m.group(0)).rstrip(".") for m in matches]  # as ``tokens`` has them
    # "Where Is The Lens Kept?": a capitalised function word says the capitals are the question's style, not names
    title_case = any(w[0].isupper() and w.lower() in STOPWORDS for w in words[1:])
    do_question = any(w.lower() in AUXILIARIES for w in words[:3])  # "when did", "what time does"
    in_phrase = False
    phrases = 0  # noun phrases opened so far: in a do-question the first is its subject
    for i, word in enumerate(words):
        low = word.lower()
        gap = question[matches[i - 1].end():matches[i].start()] if i else ""
        if gap.strip():  # punctuation ends a phrase
            in_phrase = False
        if low in DETERMINERS:
            in_phrase = True
            phrases += 1
            continue
        if low in STOPWORDS or low in NEGATIONS or len(low) < 2:
            in_phrase = low in PREPOSITIONS and i + 1 < len(words) and words[i + 1][0].isupper()
            continue
        is_name = word[0].isupper() and i > 0 and not title_case
        next_word = words[i + 1].lower() if i + 1 < len(words) else ""
        last_of_do_question = (do_question and phrases == 1 and i == len(words) - 1
                               and words[i - 1].lower() not in DETERMINERS)  # its subject, then its verb
        verb_like = (any(low.endswith(e) and len(low) - len(e) >= 3 for e in VERB_ENDINGS) or low in IRREGULAR
                     or next_word in DETERMINERS or last_of_do_question)  # "ring" is no -ing form
        if is_name or (in_phrase and not verb_like):
            out.add(stem(word))
        if in_phrase and next_word in DETERMINERS:
            in_phrase = False
    return out
