"""The plan of the search-quality library (``scenedex.search_samples``): the banks its texts are built from,
the facts they state, and which reel, scene and line holds which fact, needle or distractor. Everything follows
from the seed; nothing here touches a file."""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass

FORMAT_VERSION = 1
SIZE = (640, 360)
FPS = 25
SCENE_S = (8, 15)  # whole seconds: scene lengths are whole frames, so cut times are exact
VIDEO_S = (120, 150)
MAX_CAPTION_CHARS = 38  # DejaVu Sans at 360 / 14 px: ~38 characters fill ~500 of the 640 pixels
MAX_LINE_WORDS = 12
CAPTIONS_ALIKE = 0.6  # difflib ratio neighbouring scenes' captions stay under (OCR merges at 0.8)
NEEDLES_PER_CHANNEL = 2  # per reel: one exact query and one paraphrase each for speech and on-screen text
HARD_DISTRACTORS = 2  # facts sharing two parts with each needle, at least


@dataclass(frozen=True)
class Phrase:
    spoken: str  # as narrated, inside a sentence: "the ferry captain"
    caption: str  # as in a headline caption: "Ferry captain"
    paraphrase: str  # the same thing with none of the same content words: "the boat skipper"


SUBJECTS = (
    Phrase("the pilot", "Pilot", "the aircraft flyer"),
    Phrase("the taxi driver", "Taxi driver", "the cabbie"),
    Phrase("the priest", "Priest", "the clergyman"),
    Phrase("the teacher", "Teacher", "the classroom instructor"),
    Phrase("the chef", "Chef", "the kitchen boss"),
    Phrase("the postman", "Postman", "the mailman"),
    Phrase("the sergeant", "Sergeant", "the soldier in charge"),
    Phrase("the queen", "Queen", "the female monarch"),
    Phrase("the engineer", "Engineer", "the mechanical designer"),
    Phrase("the football coach", "Football coach", "the soccer manager"),
    Phrase("the young farmer", "Young farmer", "the youthful rancher"),
    Phrase("the police chief", "Police chief", "the head of law enforcement"),
)
ACTIONS = (
    Phrase("carried a wounded sheep", "carries wounded sheep", "transported an injured lamb"),
    Phrase("climbed the steep cliff", "climbs steep cliff", "ascended the rocky bluff"),
    Phrase("cooked a hot meal", "cooks a hot meal", "prepared a warm dinner"),
    Phrase("fixed a broken window", "fixes broken window", "repaired the cracked glass pane"),
    Phrase("found a gold ring", "finds gold ring", "came across a precious piece of jewelry"),
    Phrase("opened a new hospital", "opens new hospital", "launched a modern medical clinic"),
    Phrase("opened a new library", "opens new library", "unveiled a place to borrow books"),
    Phrase("painted the front door", "paints front door", "coated the house entrance with fresh color"),
    Phrase("painted a big picture", "paints big picture", "made an enormous artwork"),
    Phrase("wrote a long letter", "writes long letter", "penned a lengthy note"),
    Phrase("fixed the old car", "fixes old car", "restored a vintage automobile"),
    Phrase("planted an apple tree", "plants apple tree", "put a fruit sapling in the ground"),
    Phrase("planted red roses", "plants red roses", "grew crimson flowers"),
    Phrase("caught a big fish", "catches big fish", "hooked a large trout"),
    Phrase("delivered a big parcel", "delivers big parcel", "dropped off a large package"),
    Phrase("saved a little boy", "saves little boy", "rescued a small child"),
)
PLACES = (
    Phrase("near the lighthouse", "at lighthouse", "near the seaside beacon tower"),
    Phrase("at the airport", "at airport", "at the airfield"),
    Phrase("at the church", "at church", "at the chapel"),
    Phrase("at the hotel", "at hotel", "at the guesthouse"),
    Phrase("at the stadium", "at stadium", "at the sports arena"),
    Phrase("at the train station", "at train station", "at the railway depot"),
    Phrase("beside the river", "by river", "along the waterway"),
    Phrase("by the old castle", "by old castle", "by the ancient fortress"),
    Phrase("in the forest", "in forest", "deep in the woods"),
    Phrase("in the old factory", "in old factory", "in the former manufacturing site"),
    Phrase("on the beach", "on beach", "on the sandy seashore"),
    Phrase("on the frozen lake", "on frozen lake", "on the icy pond"),
    Phrase("on the mountain road", "on mountain road", "on the alpine highway"),
)
# Spoken only, before some lines: shared vocabulary ("storm", "festival") that is never part of a fact.
OPENERS = ("This morning", "On Sunday", "Last winter", "During the storm", "After the festival",
           "Before dawn", "Late on Friday")
# Still backgrounds (keys of scenedex.samples.SOURCES) with their colour; neighbouring scenes differ a lot.
BACKGROUNDS = {"red": (0xC0, 0x30, 0x20), "green": (0x30, 0xA0, 0x40), "blue": (0x20, 0x40, 0xB0),
               "orange": (0xD0, 0x70, 0x10), "purple": (0x6A, 0x2C, 0x90), "teal": (0x10, 0x80, 0x80),
               "gray": (0x60, 0x60, 0x60), "navy": (0x10, 0x1C, 0x48), "olive": (0x70, 0x70, 0x18),
               "smptebars": None}
MIN_BACKGROUND_DISTANCE = 150  # sum of |delta| over R, G, B between neighbouring scenes
STOPWORDS = frozenset({"a", "an", "the", "and", "at", "in", "on", "by", "near", "beside", "into", "to",
                       "from", "of", "off", "with"})
WORD = re.compile(r"[a-z]+")


def content_words(text: str) -> frozenset[str]:
    """Lower-case words of ``text`` that carry meaning (articles and prepositions dropped).

    >>> sorted(content_words("The pilot caught a big fish near the lighthouse."))
    ['big', 'caught', 'fish', 'lighthouse', 'pilot']
    """
    return frozenset(w for w in WORD.findall(text.lower()) if w not in STOPWORDS)


@dataclass(frozen=True, order=True)
class Fact:
    """One statement of the library: indexes into SUBJECTS, ACTIONS and PLACES.

    >>> fact = Fact(0, 13, 0)
    >>> fact.spoken("During the storm")
    'During the storm the pilot caught a big fish near the lighthouse.'
    >>> fact.caption(), fact.exact_query("speech")
    ('Pilot catches big fish at lighthouse', 'pilot caught big fish near lighthouse')
    >>> fact.paraphrase()
    'the aircraft flyer hooked a large trout near the seaside beacon tower'
    """

    subject: int
    action: int
    place: int

    @property
    def phrases(self) -> tuple[Phrase, Phrase, Phrase]:
        return SUBJECTS[self.subject], ACTIONS[self.action], PLACES[self.place]

    def spoken(self, opener: str | None = None) -> str:
        body = " ".join(p.spoken for p in self.phrases)
        text = f"{opener} {body}" if opener else body
        return text[0].upper() + text[1:] + "."

    def caption(self) -> str:
        return " ".join(p.caption for p in self.phrases)

    def paraphrase(self) -> str:
        return " ".join(p.paraphrase for p in self.phrases)

    def exact_query(self, channel: str) -> str:
        """The needle's own words as a person would type them: no articles, no opener."""
        text = self.spoken() if channel == "speech" else self.caption()
        return " ".join(w for w in WORD.findall(text.lower()) if w not in ("a", "an", "the"))

    def shared_parts(self, other: Fact) -> int:
        return sum(a == b for a, b in zip(self.as_tuple(), other.as_tuple()))

    def as_tuple(self) -> tuple[int, int, int]:
        return self.subject, self.action, self.place


def caption_fits(fact: Fact) -> bool:
    return len(fact.caption()) <= MAX_CAPTION_CHARS and 3 <= len(fact.caption().split()) <= 7


def captions_alike(a: Fact, b: Fact) -> bool:
    """Whether two captions read so much alike that on neighbouring scenes OCR would take them for one caption
    staying on screen across the cut (text spans join readings that are 80% alike, spaces ignored)."""
    first, second = ("".join(f.caption().lower().split()) for f in (a, b))
    ratio = max(difflib.SequenceMatcher(None, x, y).ratio() for x, y in ((first, second), (second, first)))
    return ratio >= CAPTIONS_ALIKE


@dataclass(frozen=True)
class QualityQuery:
    query: str
    media: str  # relative to the library folder
    start_s: float
    end_s: float
    channel: str  # "speech" or "ocr"
    kind: str  # "exact" or "paraphrase"

    def to_json(self) -> str:
        return json.dumps({"query": self.query, "media": self.media, "start_s": round(self.start_s, 3),
                           "end_s": round(self.end_s, 3), "channel": self.channel, "kind": self.kind})


# --- the plan: texts, facts and scene lengths, from the seed alone ------------------------------------------

@dataclass(frozen=True)
class PlannedLine:
    fact: Fact
    text: str
    needle: str | None  # query kind when this line is a needle


@dataclass(frozen=True)
class PlannedScene:
    source: str
    duration_s: float
    caption: Fact
    caption_needle: str | None  # query kind when this caption is a needle
    lines: tuple[PlannedLine, ...]  # candidates: a non-needle second line is dropped if the pair does not fit


@dataclass(frozen=True)
class PlannedVideo:
    media: str
    scenes: tuple[PlannedScene, ...]
    placement_seed: str

    def digest(self) -> str:
        plan = json.dumps([FORMAT_VERSION, SIZE, FPS, asdict(self)], sort_keys=True)
        return hashlib.sha256(plan.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Slot:
    """Where a fact goes while planning: a caption (line None) or a line of a scene."""

    video: int
    scene: int
    line: int | None


def media_name(index: int) -> str:
    folder = ("evening_news", "documentary")[index % 2]
    return f"{folder}/reel_{index + 1:02d}.mp4"


def _scene_lengths_s(rng: random.Random) -> list[int]:
    while True:
        lengths: list[int] = []
        while sum(lengths) < VIDEO_S[0]:
            lengths.append(rng.randint(*SCENE_S))
        if sum(lengths) <= VIDEO_S[1]:
            return lengths


def _backgrounds(rng: random.Random, count: int) -> list[str]:
    def far(a: str, b: str) -> bool:
        ca, cb = BACKGROUNDS[a], BACKGROUNDS[b]
        return ca is None or cb is None or sum(abs(x - y) for x, y in zip(ca, cb)) >= MIN_BACKGROUND_DISTANCE

    chosen = [rng.choice(sorted(BACKGROUNDS))]
    while len(chosen) < count:
        chosen.append(rng.choice([b for b in sorted(BACKGROUNDS) if b != chosen[-1] and far(b, chosen[-1])]))
    return chosen


def _hard_distractors(needle: Fact, rng: random.Random) -> list[Fact]:
    """Facts that share two of the needle's three parts, one per part changed, in random order."""
    sizes = (len(SUBJECTS), len(ACTIONS), len(PLACES))
    out = []
    for part in rng.sample(range(3), 3):
        values = list(needle.as_tuple())
        values[part] = rng.choice([v for v in range(sizes[part]) if v != values[part]])
        out.append(Fact(*values))
    return out


def _random_fact(rng: random.Random) -> Fact:
    return Fact(rng.randrange(len(SUBJECTS)), rng.randrange(len(ACTIONS)), rng.randrange(len(PLACES)))


def _draw_facts(slots: list[_Slot], needles: dict[_Slot, str], rng: random.Random) -> dict[_Slot, Fact]:
    """A distinct fact for every slot: needles first, then hard distractors of each needle, then random facts
    (a quarter of them hard distractors of a random needle). Captions only get facts that fit on screen and
    that do not read like the caption of a neighbouring scene."""
    facts: dict[_Slot, Fact] = {}
    used: set[Fact] = set()

    def fits(slot: _Slot, fact: Fact) -> bool:
        if fact in used:
            return False
        if slot.line is not None:
            return True
        neighbours = (facts.get(_Slot(slot.video, slot.scene + step, None)) for step in (-1, 1))
        return caption_fits(fact) and not any(n and captions_alike(n, fact) for n in neighbours)

    for slot in sorted(needles, key=lambda s: (s.video, s.scene)):
        fact = _random_fact(rng)
        while not fits(slot, fact) or any(fact.shared_parts(f) > 1 for f in used):  # one part in common
            fact = _random_fact(rng)
        facts[slot] = fact
        used.add(fact)
    needle_facts = [facts[s] for s in sorted(needles, key=lambda s: (s.video, s.scene))]
    queue = [f for n in needle_facts for f in _hard_distractors(n, rng)[:HARD_DISTRACTORS]]
    rng.shuffle(queue)
    others = [s for s in slots if s not in needles]
    rng.shuffle(others)
    for slot in others:
        fact = next((f for f in queue if fits(slot, f)), None)
        if fact is not None:
            queue.remove(fact)
        while fact is None or not fits(slot, fact):
            hard = rng.random() < 0.25
            fact = rng.choice(_hard_distractors(rng.choice(needle_facts), rng)) if hard else _random_fact(rng)
        facts[slot] = fact
        used.add(fact)
    return facts


def _line_text(fact: Fact, rng: random.Random) -> str:
    opener = rng.choice(OPENERS) if rng.random() < 0.5 else None
    if opener and len(fact.spoken(opener).split()) > MAX_LINE_WORDS:
        opener = None
    return fact.spoken(opener)


def plan_library(n_videos: int = 20, seed: int = 7) -> list[PlannedVideo]:
    """What every reel says and shows, from the seed alone (no synthesis, no files)."""
    assert n_videos >= 1, f"n_videos must be at least 1, got {n_videos}"
    rng = random.Random(seed)
    layouts = []  # per video: [(scene length, background, line count)]
    slots: list[_Slot] = []
    needles: dict[_Slot, str] = {}
    kinds = ("exact", "paraphrase")
    for v in range(n_videos):
        lengths = _scene_lengths_s(rng)
        layout = [(length, source, 2 if length >= 11 and rng.random() < 0.75 else 1)
                  for length, source in zip(lengths, _backgrounds(rng, len(lengths)))]
        layouts.append(layout)
        for s, (_, _, n_lines) in enumerate(layout):
            slots.append(_Slot(v, s, None))
            slots += [_Slot(v, s, k) for k in range(n_lines)]
        needle_scenes = rng.sample(range(len(layout)), 2 * NEEDLES_PER_CHANNEL)
        for i, s in enumerate(needle_scenes[:NEEDLES_PER_CHANNEL]):  # spoken needles
            needles[_Slot(v, s, rng.randrange(layout[s][2]))] = kinds[(i + v) % 2]
        for i, s in enumerate(needle_scenes[NEEDLES_PER_CHANNEL:]):  # captioned needles
            needles[_Slot(v, s, None)] = kinds[(i + v + 1) % 2]
    facts = _draw_facts(slots, needles, rng)
    videos = []
    for v, layout in enumerate(layouts):
        scenes = []
        for s, (length, source, n_lines) in enumerate(layout):
            lines = tuple(PlannedLine(facts[_Slot(v, s, k)], _line_text(facts[_Slot(v, s, k)], rng),
                                      needles.get(_Slot(v, s, k))) for k in range(n_lines))
            scenes.append(PlannedScene(source, float(length), facts[_Slot(v, s, None)],
                                       needles.get(_Slot(v, s, None)), lines))
        videos.append(PlannedVideo(media_name(v), tuple(scenes), f"{seed}:{v}"))
    return videos
