"""The frozen search library (bench/frozen_library): its plan is what the issue asks for (paraphrases, many that
share no content word with what is said or shown, several voices, busy footage, music and noise, real clips), and
the builder's pieces do what they claim: speech placed inside its scene, music and noise mixed at the stated SNR,
a reel built with ffmpeg and espeak-ng whose file and spans agree."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.frozen_library.build import (
    DEFAULT_FOLDER,
    HOLDOUT_FOLDER,
    HOLDOUT_PLAN,
    build_reel,
    default_folder,
    mix_under,
    music_bed,
    place_lines,
    speech_power,
    voice_args,
)
from bench.frozen_library.plan import (
    BUSY_SOURCES,
    PLAN_PATH,
    Bed,
    Plan,
    PlanError,
    Reel,
    ReelQuery,
    Scene,
    content_words,
    load_plan,
    share_a_word,
)
from scenedex.speech_samples import synthesize


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan()


def test_plan_has_enough_paraphrases_and_thirty_that_share_no_content_word(plan: Plan) -> None:
    queries = [(reel, q) for reel in plan.reels for q in reel.queries]
    assert len(queries) >= 80
    none_shared = [(reel, q) for reel, q in queries if reel.disjoint(q)]
    assert len(none_shared) >= 30, len(none_shared)
    for reel, q in none_shared:  # by word sets after stop-word removal, against every text of the scene
        for text in reel.scenes[q.scene].texts():
            assert not content_words(q.text) & content_words(text), (q.text, text)
    for reel, q in queries:  # a paraphrase is never the target's own wording
        assert content_words(q.text) != content_words(reel.target_text(q)), q.text


def test_word_rule_counts_stems_and_prefixes_as_shared() -> None:
    assert share_a_word("the roasting tin", "Roast it")
    assert share_a_word("couch by the door", "through the doorway")
    assert not share_a_word("peaks glowing at first light", "At dawn the mountains turned pink.")
    assert content_words("It is the one with them") == frozenset()


def test_plan_varies_voices_speeds_footage_and_mix(plan: Plan) -> None:
    assert len({r.voice for r in plan.reels}) >= 4
    speeds = [r.speed_wpm for r in plan.reels]
    assert min(speeds) <= 145 and max(speeds) >= 185
    assert {s.source for r in plan.reels for s in r.scenes} == BUSY_SOURCES
    assert len({r.bed for r in plan.reels}) >= 3 and all(10 <= r.music_snr_db <= 25 for r in plan.reels)
    assert 10 <= len(plan.reels) <= 14
    assert sum(len(c.queries) for c in plan.real) >= 6
    assert {c.media for c in plan.real} == {"nasa_webb_cleanroom.mp4", "bbb_opening_720p.mp4",
                                            "bbb_credits_720p.mp4"}


def test_a_target_that_does_not_exist_is_a_plan_error(tmp_path: Path, plan: Plan) -> None:
    text = Path("bench/frozen_library/plan.toml").read_text().replace('target = "6.caption"', 'target = "60.caption"',
                                                                       1)
    bad = tmp_path / "plan.toml"
    bad.write_text(text)
    with pytest.raises(PlanError, match="does not exist"):
        load_plan(bad)


def test_lines_are_placed_inside_their_scene_in_order() -> None:
    scene = Scene("bars", 12, "Caption", ("one", "two"))
    for seed in range(20):
        starts = place_lines(scene, 30.0, [3.0, 4.0], random.Random(seed))
        assert 30.8 <= starts[0] and starts[0] + 3.0 + 1.2 <= starts[1] + 1e-9 and starts[1] + 4.0 <= 42.0 - 0.8 + 1e-9
    with pytest.raises(PlanError, match="need"):
        place_lines(scene, 0.0, [6.0, 6.0], random.Random(0))


def test_music_and_noise_are_mixed_at_the_stated_snr() -> None:
    rate = 16000
    rng = np.random.default_rng(3)
    speech = np.zeros(rate * 4, dtype=np.int16)
    speech[rate:2 * rate] = (8000 * np.sin(np.arange(rate) * 0.05)).astype(np.int16)  # (n,) a loud tone as speech
    bed = music_bed(Bed(((220.0, 330.0),), 2.0, 1.0), len(speech), rate)
    noise = rng.normal(size=len(speech))
    mixed = mix_under(speech, bed, np.zeros_like(noise), 12.0, 200.0).astype(np.float64)
    music_part = mixed - speech
    snr_db = 10 * np.log10(speech_power(speech) / np.mean(music_part**2))
    assert abs(snr_db - 12.0) < 0.2
    noisy = mix_under(speech, np.zeros_like(bed), noise, 200.0, 20.0).astype(np.float64) - speech
    assert abs(10 * np.log10(speech_power(speech) / np.mean(noisy**2)) - 20.0) < 0.2


@pytest.mark.e2e
def test_one_reel_is_built_with_its_voice_and_spans_inside_its_scenes(tmp_path: Path) -> None:
    reel = Reel("x/one.mp4", "en-gb-scotland", 170, "b", 15.0, 25.0,
                (Scene("mandelbrot", 4, "First caption", ("The kettle is boiling.",)),
                 Scene("life", 5, "Second caption", ("Pour the water slowly.",))), (ReelQuery("tea", 0, 0),))
    plan = Plan(1, (320, 180), 25, {"b": Bed(((220.0, 277.0),), 1.0, 2.0)}, (reel,), ())
    speech = {line: synthesize(line, tmp_path / f"{i}.wav", voice_args(reel))
              for i, line in enumerate(("The kettle is boiling.", "Pour the water slowly."))}
    default_voice, _ = synthesize("The kettle is boiling.", tmp_path / "default.wav")
    assert len(default_voice) != len(speech["The kettle is boiling."][0])  # the voice and speed were used
    record = build_reel(tmp_path, plan, 0, speech)
    assert [(s["start_s"], s["end_s"]) for s in record["scenes"]] == [(0.0, 4.0), (4.0, 9.0)]
    for line in record["lines"]:
        scene = record["scenes"][line["scene"]]
        assert scene["start_s"] + 0.8 <= line["start_s"] < line["end_s"] <= scene["end_s"] - 0.8
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                            str(tmp_path / "x/one.mp4")], capture_output=True, text=True, check=True)
    assert sorted(probe.stdout.split()) == ["audio", "video"]


def test_holdout_plan_is_a_third_library_on_new_wording(plan: Plan) -> None:
    """The holdout (frozen before the search changes of 2026-12-03): six reels of the same kinds, 40+ paraphrases,
    15+ sharing no content word, no query or line taken from the frozen plan, and both kinds of target."""
    holdout = load_plan(HOLDOUT_PLAN)
    queries = [(reel, q) for reel in holdout.reels for q in reel.queries]
    assert len(holdout.reels) == 6 and len(queries) >= 40 and not holdout.real
    assert sum(reel.disjoint(q) for reel, q in queries) >= 15
    assert sum(q.line is None for _, q in queries) >= 6  # caption targets, not only spoken lines
    frozen_texts = {q.text for r in plan.reels for q in r.queries} | {t for r in plan.reels for s in r.scenes
                                                                       for t in s.texts()}
    assert not frozen_texts & ({q.text for _, q in queries} | {t for r in holdout.reels for s in r.scenes
                                                                for t in s.texts()})
    assert not {r.media for r in plan.reels} & {r.media for r in holdout.reels}
    assert len({r.voice for r in holdout.reels}) >= 4 and len({r.bed for r in holdout.reels}) >= 3


def test_build_takes_a_plan_and_keeps_the_frozen_default() -> None:
    assert default_folder(PLAN_PATH) == DEFAULT_FOLDER and default_folder(HOLDOUT_PLAN) == HOLDOUT_FOLDER
    assert HOLDOUT_FOLDER != DEFAULT_FOLDER


def assert_shares_nothing(new: Plan, earlier: list[Plan]) -> None:
    """No query or scene text, media file or voice of ``new`` is in any of the ``earlier`` plans."""

    def texts(p: Plan) -> set[str]:
        said_or_shown = {t for r in p.reels for s in r.scenes for t in s.texts()}
        return {q.text for r in p.reels for q in r.queries} | said_or_shown

    for other in earlier:
        assert not texts(other) & texts(new)
        assert not {r.media for r in other.reels} & {r.media for r in new.reels}
        assert not {r.voice for r in other.reels} & {r.voice for r in new.reels}


def test_holdout3_is_a_fifth_library_in_new_voices_and_words(plan: Plan) -> None:
    """holdout3 (frozen before the search changes of 2026-12-04): six reels, 50+ queries, 30+ sharing no content
    word, both kinds of target, and no text, file or voice any earlier plan has."""
    holdout3 = load_plan(HOLDOUT_PLAN.with_name("holdout3.toml"))
    queries = [(reel, q) for reel in holdout3.reels for q in reel.queries]
    assert len(holdout3.reels) == 6 and len(queries) >= 50 and not holdout3.real
    assert sum(reel.disjoint(q) for reel, q in queries) >= 30
    assert sum(q.line is None for _, q in queries) >= 10
    assert_shares_nothing(holdout3, [plan, load_plan(HOLDOUT_PLAN),
                                     load_plan(HOLDOUT_PLAN.with_name("holdout2.toml"))])


@pytest.mark.parametrize("name, queries_min, disjoint_min, captions_min, music_db_min, noise_db_min", [
    ("holdout4", 54, 35, 12, 13, 24),  # frozen before the search changes of 2026-12-05, session 15
    ("holdout5", 60, 40, 18, 12, 22),  # written blind and frozen before the search changes of session 21
])
def test_a_later_holdout_is_a_library_in_new_voices_and_words(plan: Plan, name: str, queries_min: int,
                                                             disjoint_min: int, captions_min: int,
                                                             music_db_min: int, noise_db_min: int) -> None:
    """Six reels of 11-14 s scenes, enough queries, sharing no content word and aimed at captions, in six
    voices and three beds, and no text, file or voice any earlier plan has."""
    holdout = load_plan(HOLDOUT_PLAN.with_name(f"{name}.toml"))
    queries = [(reel, q) for reel in holdout.reels for q in reel.queries]
    assert len(holdout.reels) == 6 and len(queries) >= queries_min and not holdout.real
    assert sum(reel.disjoint(q) for reel, q in queries) >= disjoint_min
    assert sum(q.line is None for _, q in queries) >= captions_min
    assert all(11 <= s.duration_s <= 14 for r in holdout.reels for s in r.scenes)
    assert all(140 <= r.speed_wpm <= 190 and music_db_min <= r.music_snr_db <= 19
               and noise_db_min <= r.noise_snr_db <= 30 for r in holdout.reels)
    earlier = ["holdout", "holdout2", "holdout3", "holdout4"][:int(name[-1]) - 1]
    assert_shares_nothing(holdout, [plan] + [load_plan(HOLDOUT_PLAN.with_name(f"{e}.toml")) for e in earlier])
    assert len({r.voice for r in holdout.reels}) == 6 and len({r.bed for r in holdout.reels}) >= 3
