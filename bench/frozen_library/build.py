"""Build the frozen search library from ``plan.toml``: narrated, captioned reels over busy footage with music and
noise under the speech, the real clips of the shared media folder, and ``queries.jsonl`` with ground truth.

    .venv/bin/python -m bench.frozen_library.build [FOLDER]     # default bench/out/frozen_library
    .venv/bin/python -m bench.frozen_library.build --plan bench/frozen_library/holdout.toml [FOLDER]
                                                                # default bench/out/holdout_library

A reel is rebuilt only when its part of the plan changed (a digest per reel in ``library.json``); the real clips
are copied once. Generic pieces come from ``scenedex.samples`` (make_clip) and ``scenedex.speech_samples``
(synthesize with a voice, write_placed_speech, mux); placement, the music bed and the mix are this module's own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench.frozen_library.plan import PLAN_PATH, Bed, Plan, PlanError, Reel, Scene, load_plan
from scenedex.samples import Segment, make_clip
from scenedex.speech_samples import mux, synthesize, write_placed_speech

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "out" / "frozen_library"
HOLDOUT_PLAN = Path(__file__).with_name("holdout.toml")  # the third library, frozen before the search changes of 12-03
HOLDOUT_FOLDER = DEFAULT_FOLDER.with_name("holdout_library")
SHARED_MEDIA = Path(os.environ.get("SCENEDEX_SHARED_MEDIA", Path(__file__).resolve().parents[3] / "shared" / "media"))
MANIFEST = "library.json"
QUERIES = "queries.jsonl"
LEAD_S = 0.8  # silence from a cut to the first line's samples, at least
TAIL_S = 0.8  # from the end of a line's samples to the next cut, at least
GAP_S = 1.2  # between two lines' samples
LOUD = 500  # of 32767: what counts as speech when measuring its power (as speech_bounds_s)

Synthesised = tuple[np.ndarray, int]  # ((n,) int16 mono, sample rate)


def voice_args(reel: Reel) -> tuple[str, ...]:
    return ("-v", reel.voice, "-s", str(reel.speed_wpm))


def place_lines(scene: Scene, start_s: float, lengths_s: list[float], rng: random.Random) -> list[float]:
    """Where each line's samples start: every line of the scene, the slack spread at random around them."""
    needed_s = LEAD_S + TAIL_S + GAP_S * (len(lengths_s) - 1) + sum(lengths_s)
    slack_s = scene.duration_s - needed_s
    if slack_s < 0:
        raise PlanError(f"scene {scene.caption!r}: its lines need {needed_s:.1f} s, it lasts {scene.duration_s} s")
    weights = [rng.random() for _ in range(len(lengths_s) + 1)]
    starts, t = [], start_s + LEAD_S
    for length_s, w in zip(lengths_s, weights):
        t = round(t + slack_s * w / sum(weights), 2)
        starts.append(t)
        t += length_s + GAP_S
    return starts


def music_bed(bed: Bed, n: int, rate: int) -> np.ndarray:
    """(n,) float64: the bed's chords, one after another, with a slow swell (tremolo); unit-free."""
    t = np.arange(n) / rate  # (n,) s
    chord = (t // bed.chord_s).astype(int) % len(bed.chords_hz)  # (n,) which chord sounds
    out = np.zeros(n)
    for i, notes in enumerate(bed.chords_hz):
        on = chord == i
        out[on] = sum(np.sin(2 * np.pi * f * t[on]) + 0.3 * np.sin(4 * np.pi * f * t[on]) for f in notes)
    return out * (0.7 + 0.3 * np.sin(2 * np.pi * bed.tremolo_hz * t))


def speech_power(speech: np.ndarray) -> float:
    loud = speech[np.abs(speech) > LOUD].astype(np.float64)
    return float(np.mean(loud**2)) if loud.size else 0.0


def scaled_to_snr(signal: np.ndarray, reference_power: float, snr_db: float) -> np.ndarray:
    """``signal`` scaled so that reference_power / its power = snr_db."""
    power = float(np.mean(signal.astype(np.float64) ** 2))
    return signal * np.sqrt(reference_power / 10 ** (snr_db / 10) / power) if power > 0 else signal


def mix_under(speech: np.ndarray, bed: np.ndarray, noise: np.ndarray, music_snr_db: float,
              noise_snr_db: float) -> np.ndarray:
    """(n,) int16 speech with the bed and the noise, each at its SNR against the speech's power, added."""
    power = speech_power(speech)
    mixed = speech.astype(np.float64) + scaled_to_snr(bed, power, music_snr_db) + scaled_to_snr(noise, power,
                                                                                             noise_snr_db)
    return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)


def _read_wav(path: Path) -> Synthesised:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16), wav.getframerate()


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype(np.int16).tobytes())


def build_reel(folder: Path, plan: Plan, index: int, speech: dict[str, Synthesised]) -> dict[str, Any]:
    """Write the reel's file and return its record: scene spans and line speech spans on the reel's clock."""
    reel = plan.reels[index]
    rng = random.Random(f"{plan.seed}:{reel.media}")
    scenes, placed, t = [], [], 0.0
    for s, scene in enumerate(reel.scenes):
        end_s = t + scene.duration_s
        scenes.append({"start_s": t, "end_s": end_s, "caption": scene.caption})
        lengths_s = [len(speech[line][0]) / speech[line][1] for line in scene.lines]
        placed += [(s, k, at_s) for k, at_s in enumerate(place_lines(scene, t, lengths_s, rng))]
        t = end_s
    rate = next(iter(speech.values()))[1]
    target = folder / reel.media
    target.parent.mkdir(parents=True, exist_ok=True)
    hidden = target.with_name(f".{target.stem}")
    clean, mixed, silent, muxed = (Path(f"{hidden}.{x}") for x in ("clean.wav", "mixed.wav", "video.mp4", "muxed.mp4"))
    try:
        spans = write_placed_speech(clean, [(at_s, speech[reel.scenes[s].lines[k]][0]) for s, k, at_s in placed],
                                    rate, t)
        samples, _ = _read_wav(clean)
        noise = np.random.default_rng(plan.seed + index).normal(size=len(samples))
        _write_wav(mixed, mix_under(samples, music_bed(plan.beds[reel.bed], len(samples), rate), noise,
                                    reel.music_snr_db, reel.noise_snr_db), rate)
        segments = [Segment(s.source, float(s.duration_s), s.caption) for s in reel.scenes]
        cuts = make_clip(silent, segments, size=plan.size, fps=plan.fps, frame_code=False, clock=False)
        assert cuts == [s["start_s"] for s in scenes[1:]], "cut times differ from the planned scenes"
        mux(silent, mixed, muxed, "aac")
        os.replace(muxed, target)  # the reel appears only when complete
    finally:
        for leftover in (clean, mixed, silent, muxed):
            leftover.unlink(missing_ok=True)
    lines = [{"scene": s, "line": k, "text": reel.scenes[s].lines[k], "start_s": round(a, 3), "end_s": round(b, 3)}
             for (s, k, _), (a, b) in zip(placed, spans)]
    return {"media": reel.media, "digest": plan.reel_digest(reel), "duration_s": t, "voice": reel.voice,
            "speed_wpm": reel.speed_wpm, "music_snr_db": reel.music_snr_db, "noise_snr_db": reel.noise_snr_db,
            "scenes": scenes, "lines": lines}


def _synthesise(plan: Plan, reels: list[int], workdir: Path) -> dict[int, dict[str, Synthesised]]:
    jobs = [(i, line) for i in reels for scene in plan.reels[i].scenes for line in scene.lines]

    def one(job: tuple[int, tuple[int, str]]) -> Synthesised:
        n, (i, line) = job
        return synthesize(line, workdir / f"line_{n:04d}.wav", voice_args(plan.reels[i]))

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, enumerate(jobs)))
    out: dict[int, dict[str, Synthesised]] = {i: {} for i in reels}
    for (i, line), result in zip(jobs, results):
        out[i][line] = result
    return out


def queries_of(plan: Plan, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One JSON-ready query per plan query, with its ground-truth span and the groups it belongs to."""
    out = []
    for reel in plan.reels:
        record = records[reel.media]
        for q in reel.queries:
            if q.line is None:
                span, channel = record["scenes"][q.scene], "ocr"
            else:
                span = next(x for x in record["lines"] if x["scene"] == q.scene and x["line"] == q.line)
                channel = "speech"
            out.append({"query": q.text, "media": reel.media, "start_s": span["start_s"], "end_s": span["end_s"],
                        "channel": channel, "source": "generated",
                        "words": "none_shared" if reel.disjoint(q) else "some_shared"})
    for clip in plan.real:
        out += [{"query": q.text, "media": f"real/{clip.media}", "start_s": q.start_s, "end_s": q.end_s,
                 "channel": clip.channel, "source": "real"} for q in clip.queries]
    return out


def _copy_real(plan: Plan, folder: Path) -> None:
    for clip in plan.real:
        source, target = SHARED_MEDIA / clip.media, folder / "real" / clip.media
        if not source.is_file():
            raise PlanError(f"{source} is missing: set SCENEDEX_SHARED_MEDIA to the shared media folder")
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def build_frozen_library(folder: Path = DEFAULT_FOLDER, plan_path: Path = PLAN_PATH,
                         progress: Any = lambda _: None) -> list[dict[str, Any]]:
    """Create (reusing reels already built from the same plan) the library under ``folder``, write its manifest
    and ``queries.jsonl``; return the queries."""
    plan = load_plan(plan_path)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        known = {r["media"]: r for r in json.loads((folder / MANIFEST).read_text())["reels"]}
    except (OSError, ValueError, KeyError):
        known = {}
    records = {r.media: known[r.media] for r in plan.reels if r.media in known
               and known[r.media]["digest"] == plan.reel_digest(r) and (folder / r.media).is_file()}
    todo = [i for i, r in enumerate(plan.reels) if r.media not in records]
    if todo:
        with tempfile.TemporaryDirectory(prefix="scenedex-frozen-") as workdir:
            progress(f"synthesising the lines of {len(todo)} reels …")
            speech = _synthesise(plan, todo, Path(workdir))

            def one(i: int) -> dict[str, Any]:
                progress(f"generating {folder / plan.reels[i].media} …")
                return build_reel(folder, plan, i, speech[i])

            with ThreadPoolExecutor(max_workers=2) as pool:
                records.update((r["media"], r) for r in pool.map(one, todo))
    _copy_real(plan, folder)
    ordered = [records[r.media] for r in plan.reels]
    (folder / MANIFEST).write_text(json.dumps({"format": 1, "seed": plan.seed, "reels": ordered}, indent=1) + "\n")
    queries = queries_of(plan, records)
    (folder / QUERIES).write_text("".join(json.dumps(q) + "\n" for q in queries))
    return queries


def default_folder(plan_path: Path) -> Path:
    """Where a plan's library is built unless told: the frozen plan's and the holdout's own folders, else a folder
    named after the plan file."""
    if plan_path.resolve() == PLAN_PATH.resolve():
        return DEFAULT_FOLDER
    if plan_path.resolve() == HOLDOUT_PLAN.resolve():
        return HOLDOUT_FOLDER
    return DEFAULT_FOLDER.with_name(f"{plan_path.stem}_library")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="where to build (default: the plan's own folder)")
    parser.add_argument("--plan", type=Path, default=PLAN_PATH, help=f"the plan (default {PLAN_PATH.name})")
    args = parser.parse_args(argv)
    built = build_frozen_library(args.folder or default_folder(args.plan), args.plan, progress=print)
    print(f"{len(built)} queries written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
