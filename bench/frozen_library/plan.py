"""The frozen library's plan (``plan.toml``) as typed records, and the word rule its queries are checked with.

Nothing here synthesises or writes media: ``bench.frozen_library.build`` does. The plan is data written by hand
and frozen before search was tuned (README.md in this folder); this module only reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

PLAN_PATH = Path(__file__).with_name("plan.toml")
BUSY_SOURCES = frozenset({"bars", "mandelbrot", "life"})  # moving lavfi patterns (keys of scenedex.samples.SOURCES)
MAX_CAPTION_CHARS = 34
# Function words a query may share with its target and still count as "no shared content word".
STOP_WORDS = frozenset("""
a an the and or but nor so yet if then than as of at by for from in into on onto off out over under up down
to with without about above below after before during until while since through across around behind beside
beneath near past per via is are was were be been being am do does did done have has had having will would
shall should can could may might must it its it's this that these those there here what which who whom whose
when where why how all any both each every few more most other some such no not only own same too very just
i me my mine we us our ours you your yours he him his she her hers they them their theirs one ones get gets
got go goes going went come came let lets make makes made
""".split())
WORD = re.compile(r"[a-z0-9]+")
SUFFIXES = ("ings", "ing", "edly", "ed", "es", "s", "ers", "er", "ly")


class PlanError(ValueError):
    """The plan file does not describe a buildable library (a target that does not exist, a line too long)."""


def stem(word: str) -> str:
    """A light suffix strip, so "roasting" and "roast", "bunks" and "bunk" count as one word.

    >>> stem("roasting"), stem("bunks"), stem("glass")
    ('roast', 'bunk', 'glass')
    """
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> frozenset[str]:
    """Stems of the words of ``text`` that carry meaning.

    >>> sorted(content_words("The seeds go on a tray with salt."))
    ['salt', 'seed', 'tray']
    """
    return frozenset(stem(w) for w in WORD.findall(text.lower().replace("'", "")) if w not in STOP_WORDS)


def share_a_word(a: str, b: str) -> bool:
    """Whether two texts share a content word; stems of 4+ letters that begin one another count too
    ("cook" / "cooker"), so the rule errs towards calling words shared."""
    wa, wb = content_words(a), content_words(b)
    if wa & wb:
        return True
    return any(len(x) >= 4 and len(y) >= 4 and (x.startswith(y) or y.startswith(x)) for x in wa for y in wb)


@dataclass(frozen=True)
class Bed:
    chords_hz: tuple[tuple[float, ...], ...]
    chord_s: float
    tremolo_hz: float


@dataclass(frozen=True)
class Scene:
    source: str
    duration_s: int
    caption: str
    lines: tuple[str, ...]

    def texts(self) -> tuple[str, ...]:
        return (self.caption, *self.lines)


@dataclass(frozen=True)
class ReelQuery:
    text: str
    scene: int
    line: int | None  # None: the caption


@dataclass(frozen=True)
class RealQuery:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Reel:
    media: str
    voice: str
    speed_wpm: int
    bed: str
    music_snr_db: float
    noise_snr_db: float
    scenes: tuple[Scene, ...]
    queries: tuple[ReelQuery, ...]

    def target_text(self, q: ReelQuery) -> str:
        scene = self.scenes[q.scene]
        return scene.caption if q.line is None else scene.lines[q.line]

    def disjoint(self, q: ReelQuery) -> bool:
        """Whether the query shares no content word with any text of its scene (its target included)."""
        return not any(share_a_word(q.text, t) for t in self.scenes[q.scene].texts())


@dataclass(frozen=True)
class RealClip:
    media: str  # a file name in the shared media folder
    channel: str
    queries: tuple[RealQuery, ...]


@dataclass(frozen=True)
class Plan:
    seed: int
    size: tuple[int, int]
    fps: int
    beds: dict[str, Bed]
    reels: tuple[Reel, ...]
    real: tuple[RealClip, ...]

    def reel_digest(self, reel: Reel) -> str:
        """Changes when anything that shapes the reel's file changes."""
        text = json.dumps([self.seed, self.size, self.fps, asdict(self.beds[reel.bed]), asdict(reel)],
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _target(raw: str, reel: dict) -> tuple[int, int | None]:
    match = re.fullmatch(r"(\d+)\.(caption|line(\d+))", raw)
    if match is None:
        raise PlanError(f"{reel['media']}: target {raw!r} is not SCENE.caption or SCENE.lineN")
    scene = int(match.group(1))
    line = None if match.group(2) == "caption" else int(match.group(3))
    if scene >= len(reel["scenes"]) or (line is not None and line >= len(reel["scenes"][scene]["lines"])):
        raise PlanError(f"{reel['media']}: target {raw!r} does not exist")
    return scene, line


def load_plan(path: Path = PLAN_PATH) -> Plan:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    beds = {name: Bed(tuple(tuple(c) for c in b["chords"]), float(b["chord_s"]), float(b["tremolo_hz"]))
            for name, b in raw["beds"].items()}
    reels = []
    for r in raw["reel"]:
        scenes = tuple(Scene(s["source"], int(s["duration_s"]), s["caption"], tuple(s["lines"])) for s in r["scenes"])
        for s in scenes:
            if s.source not in BUSY_SOURCES or len(s.caption) > MAX_CAPTION_CHARS:
                raise PlanError(f"{r['media']}: scene {s.caption!r} needs a busy source and <= 34 characters")
        queries = tuple(ReelQuery(q["text"], *_target(q["target"], r)) for q in r["queries"])
        if r["bed"] not in beds:
            raise PlanError(f"{r['media']}: no bed named {r['bed']!r}")
        reels.append(Reel(r["media"], r["voice"], int(r["speed_wpm"]), r["bed"], float(r["music_snr_db"]),
                          float(r["noise_snr_db"]), scenes, queries))
    real = tuple(RealClip(c["media"], c["channel"], tuple(RealQuery(q["text"], float(q["start_s"]),
                                                                    float(q["end_s"])) for q in c["queries"]))
                 for c in raw.get("real", []))
    return Plan(int(raw["seed"]), (int(raw["size"][0]), int(raw["size"][1])), int(raw["fps"]), beds, tuple(reels),
                real)
