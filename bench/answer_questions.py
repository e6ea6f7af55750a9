"""The answer benchmark's question set, written once to ``bench/answer_questions.json`` and then frozen (committed
before any threshold was tuned): questions over the generated search-quality library (seed 7) whose answer is
unique in it, in several phrasings, hand-written questions over the real clips, and questions the library
cannot answer (near misses built from its own vocabulary, and questions about things it never mentions).

Every generated question's gold is a fact of the plan (``scenedex.search_plan``): the line (or captioned scene)
that states it and the word that answers. Regenerate with ``python -m bench.answer_questions --write`` only to
extend the set; the benchmark reads the JSON.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from scenedex.search_plan import ACTIONS, PLACES, SUBJECTS

QUESTIONS = Path(__file__).with_name("answer_questions.json")
# the base form of each action (ACTIONS order), its object's head word, and the head words of subjects and places
ACTION_BASE = ("carry a wounded sheep", "climb the steep cliff", "cook a hot meal", "fix a broken window",
               "find a gold ring", "open a new hospital", "open a new library", "paint the front door",
               "paint a big picture", "write a long letter", "fix the old car", "plant an apple tree",
               "plant red roses", "catch a big fish", "deliver a big parcel", "save a little boy")
ACTION_OBJECT = ("sheep", "cliff", "meal", "window", "ring", "hospital", "library", "door", "picture", "letter",
                 "car", "tree", "roses", "fish", "parcel", "boy")
SUBJECT_HEAD = ("pilot", "taxi", "priest", "teacher", "chef", "postman", "sergeant", "queen", "engineer", "coach",
                "farmer", "police")
PLACE_HEAD = ("lighthouse", "airport", "church", "hotel", "stadium", "station", "river", "castle", "forest",
              "factory", "beach", "lake", "mountain")
WHERE = ("Where did {s} {a}?", "In which place did {s} {a}?", "Tell me where {s} managed to {a}.")
WHO = ("Who {ap} {p}?", "Which person {ap} {p}?", "Who was it that {ap} {p}?")
WHAT = ("What did {s} do {p}?", "What happened with {s} {p}?")
REAL = [  # hand-written, over ../shared/media (ground truth in its README)
    ("Where is the Webb telescope being assembled?", ["Goddard"], "real/nasa_webb_cleanroom.mp4", 8.35, 12.47),
    ("In which state is NASA's Goddard Space Flight Center?", ["Maryland"], "real/nasa_webb_cleanroom.mp4", 8.35,
     12.47),
    ("Which NASA center has the Webb cleanroom?", ["Goddard"], "real/nasa_webb_cleanroom.mp4", 8.35, 12.47),
    ("What segment of the Webb space telescope is shown?", ["optical and science"], "real/nasa_webb_cleanroom.mp4",
     0.21, 4.26),
    ("Where is the Goddard Space Flight Center?", ["Greenbelt", "Maryland"], "real/nasa_webb_cleanroom.mp4", 8.35,
     12.47),
    ("Who composed the music and sound design of Big Buck Bunny?", ["Morgenstern"], "real/bbb_credits_720p.mp4",
     None, None),
    ("Who wrote the original story and script?", ["Goedegebure"], "real/bbb_credits_720p.mp4", None, None),
    ("Which company provided the rendering?", ["Sun Microsystems"], "real/bbb_credits_720p.mp4", None, None),
    ("What does the title card say the movie project is?", ["Peach"], "real/bbb_opening_720p.mp4", 20.5, 25.0),
]
OFF_TOPIC = [
    "How many moons does Jupiter have?", "Who won the 1998 World Cup final?", "What is the boiling point of mercury?",
    "When did the Titanic sink?", "Who painted the Mona Lisa?", "How tall is the Eiffel Tower?",
    "What is the capital of Australia?", "How much does the Hubble telescope weigh?",
    "When will the Webb telescope launch?", "Who is the director of the Goddard Space Flight Center?",
    "What colour is the sunshield of the Webb telescope?", "How many people work in the cleanroom?",
]


def _facts(library: dict) -> list[dict]:
    """Every stated fact with its span: spoken lines and captioned scenes."""
    out = []
    for v in library["videos"]:
        for line in v["lines"]:
            out.append({"fact": tuple(line["fact"]), "media": v["media"], "start_s": line["start_s"],
                        "end_s": line["end_s"], "channel": "speech"})
        for scene in v["scenes"]:
            out.append({"fact": tuple(scene["fact"]), "media": v["media"], "start_s": scene["start_s"],
                        "end_s": scene["end_s"], "channel": "ocr"})
    return out


def generate(library: dict, seed: int = 12) -> list[dict]:
    rng = random.Random(seed)
    facts = _facts(library)
    known = {f["fact"] for f in facts}
    questions: list[dict] = []

    def unique(f: tuple[int, int, int], keep: tuple[int, int]) -> bool:
        return sum(all(g[i] == f[i] for i in keep) for g in known) == 1

    pool = facts[:]
    rng.shuffle(pool)
    counts = {"where": 0, "who": 0, "what": 0}
    quota = {"where": 24, "who": 22, "what": 14}
    for f in pool:
        s, a, p = f["fact"]
        subject, place, past = SUBJECTS[s].spoken, PLACES[p].spoken, ACTIONS[a].spoken
        options = []
        if unique(f["fact"], (0, 1)) and counts["where"] < quota["where"]:
            options.append(("where", WHERE[counts["where"] % len(WHERE)].format(s=subject, a=ACTION_BASE[a]),
                            [PLACE_HEAD[p]]))
        if unique(f["fact"], (1, 2)) and counts["who"] < quota["who"]:
            options.append(("who", WHO[counts["who"] % len(WHO)].format(ap=past, p=place), [SUBJECT_HEAD[s]]))
        if unique(f["fact"], (0, 2)) and counts["what"] < quota["what"]:
            options.append(("what", WHAT[counts["what"] % len(WHAT)].format(s=subject, p=place),
                            [ACTION_OBJECT[a]]))
        if not options:
            continue
        kind, text, gold = rng.choice(options)
        counts[kind] += 1
        questions.append({"question": text[0].upper() + text[1:], "answerable": True, "gold": gold,
                          "media": f["media"], "start_s": round(f["start_s"], 3), "end_s": round(f["end_s"], 3),
                          "type": kind, "channel": f["channel"]})
        if sum(counts.values()) == sum(quota.values()):
            break
    for text, gold, media, start_s, end_s in REAL:
        questions.append({"question": text, "answerable": True, "gold": gold, "media": media, "start_s": start_s,
                          "end_s": end_s, "type": "real", "channel": "real"})
    near = 0
    for _ in range(1000):  # near misses: a subject and action (or action and place) the library never pairs
        s, a, p = rng.randrange(len(SUBJECTS)), rng.randrange(len(ACTIONS)), rng.randrange(len(PLACES))
        if near % 2 == 0 and not any(g[0] == s and g[1] == a for g in known):
            text = f"Where did {SUBJECTS[s].spoken} {ACTION_BASE[a]}?"
        elif near % 2 == 1 and not any(g[1] == a and g[2] == p for g in known):
            text = f"Who {ACTIONS[a].spoken} {PLACES[p].spoken}?"
        else:
            continue
        questions.append({"question": text[0].upper() + text[1:], "answerable": False, "gold": [], "media": None,
                          "start_s": None, "end_s": None, "type": "near_miss", "channel": None})
        near += 1
        if near == 12:
            break
    for text in OFF_TOPIC:
        questions.append({"question": text, "answerable": False, "gold": [], "media": None, "start_s": None,
                          "end_s": None, "type": "off_topic", "channel": None})
    for i, q in enumerate(questions):
        q["id"] = i
        q["split"] = "tune" if i % 2 == 0 else "holdout"
    return questions


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("library", type=Path, help="the generated library folder (holds library.json)")
    parser.add_argument("--write", action="store_true", help=f"write {QUESTIONS.name}")
    args = parser.parse_args()
    qs = generate(json.loads((args.library / "library.json").read_text()))
    if args.write:
        QUESTIONS.write_text(json.dumps(qs, indent=1, ensure_ascii=False) + "\n")
    print(f"{sum(q['answerable'] for q in qs)} answerable, {sum(not q['answerable'] for q in qs)} not")
