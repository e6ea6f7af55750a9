"""Where the OCR's CPU goes on real footage, and what it read, for comparing two versions of the code line by line.

    .venv/bin/python bench/ocr_cpu.py [--only bbb_credits_720p.mp4] [--readings out.json]
    .venv/bin/python bench/ocr_cpu.py --compare old.json new.json
    python bench/ocr_cpu.py --device cuda --media-dir DIR --readings cuda.json   # the same pass on a GPU

Each excerpt of ../shared/media is decoded as the shared pass decodes it (960 px frames, the cuts' shots), then read
by ``ScreenTextReader`` with the default engine. Printed per file: the process's CPU seconds for the OCR (every
thread: the recognitions run two at a time), of which the recogniser's and the detector's onnxruntime calls
(thread CPU, so load on the machine changes them less than wall time), the rest (tracking, crops, filters, the
detector's post-processing), recognitions by input width, and the spans. ``--readings`` saves every frame's
readings and the spans; ``--compare`` lists the span texts only one of two saved runs has.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.ocr import OcrEngine, load_ocr_engine  # noqa: E402
from indexer.probe import choose_video_stream, probe  # noqa: E402
from indexer.sampling import FrameSampler, SamplingPolicy  # noqa: E402
from indexer.screen_text import ScreenTextReader  # noqa: E402
from indexer.shots import build_shots  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
FILES = ("bbb_credits_720p.mp4", "bbb_opening_720p.mp4", "chaplin_street.mp4")
WIDTH_BUCKETS_PX = (320, 640, 1280, 2560)  # recogniser input widths (48 px high) the CPU is reported by


def process_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


class CallClock:
    """Thread CPU seconds of each call of the engine's recogniser and detector sessions."""

    def __init__(self, engine: OcrEngine) -> None:
        self.rec: list[tuple[int, float]] = []  # (input width px, CPU s) per call
        self.det: list[tuple[int, float]] = []  # (input pixels, CPU s) per call
        self._lock = threading.Lock()
        rec, det = engine._rec, engine._det
        run_rec, run_det = rec.__call__, det.infer

        def timed_rec(x: np.ndarray) -> Any:  # x: (B, 3, 48, W)
            t0 = time.thread_time()
            out = run_rec(x)
            with self._lock:
                self.rec.append((x.shape[3], time.thread_time() - t0))
            return out

        def timed_det(x: np.ndarray) -> Any:  # x: (1, 3, H, W)
            t0 = time.thread_time()
            out = run_det(x)
            self.det.append((x.shape[2] * x.shape[3], time.thread_time() - t0))
            return out

        engine._rec, det.infer = timed_rec, timed_det  # type: ignore[assignment]

    def clear(self) -> None:
        self.rec.clear()
        self.det.clear()


def count_repeats(engine: OcrEngine) -> collections.Counter[str]:
    """Counts of the engine's recognitions from now on: "new" (a text not read before), "repeat" (a text already
    read: work that following lines did not save), "none" (not text); the engine's ``recognise_boxes`` is wrapped."""
    counts: collections.Counter[str] = collections.Counter()
    texts: set[str] = set()
    recognise_boxes = engine.recognise_boxes

    def counted(frame: np.ndarray, boxes: Any) -> Any:
        readings = recognise_boxes(frame, boxes)
        for r in readings:
            counts["none" if r is None else "repeat" if r.text in texts else "new"] += 1
            if r is not None:
                texts.add(r.text)
        return readings

    engine.recognise_boxes = counted  # type: ignore[method-assign]
    return counts


def decode(media: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(frames (N, H, 960, 3) uint8, t_s (N,), frame_shot (N,), duration_s) as the shared pass samples them."""
    info = probe(media / name)
    sampler = FrameSampler(info, choose_video_stream(info), SamplingPolicy(size_px=960, resize_mode="fit_width"))
    batches = list(sampler.batches())
    frames = np.concatenate([b.frames for b in batches])
    t_s = np.concatenate([b.t_s for b in batches])
    _, frame_shot = build_shots(t_s, sampler.result.cut_t_s, info.duration_s)
    return frames, t_s, np.asarray(frame_shot, dtype=np.int64), info.duration_s


def read_file(engine: OcrEngine, clock: CallClock, media: Path, name: str) -> dict[str, Any]:
    frames, t_s, frame_shot, duration_s = decode(media, name)
    clock.clear()
    repeats = count_repeats(engine)
    c0, t0 = process_cpu_s(), time.perf_counter()
    reader = ScreenTextReader(engine)
    for i in range(0, len(frames), 16):  # fed in the shared pass's batches
        reader.feed(frames[i:i + 16], t_s[i:i + 16], frame_shot[i:i + 16])
    spans = reader.finish(1.0, duration_s)
    cpu_s, wall_s = process_cpu_s() - c0, time.perf_counter() - t0
    rec_s, det_s = sum(s for _, s in clock.rec), sum(s for _, s in clock.det)
    by_width: dict[int, list[float]] = collections.defaultdict(list)  # bucket's upper bound px -> CPU s a line
    for width, s in clock.rec:
        by_width[next((b for b in WIDTH_BUCKETS_PX if width < b), 10 ** 6)].append(s)
    engine.__dict__.pop("recognise_boxes", None)  # unwrap
    s = reader.stats
    print(f"{name}: OCR CPU {cpu_s:.1f} s (wall {wall_s:.1f} s): recogniser {rec_s:.1f} s ({len(clock.rec)} lines), "
          f"detector {det_s:.1f} s ({len(clock.det)} calls), the rest {cpu_s - rec_s - det_s:.1f} s")
    print("  recognitions by input width: " + ", ".join(
        f"<{k} px {len(v)} x {1000 * sum(v) / len(v):.0f} ms" for k, v in sorted(by_width.items())))
    print(f"  frames {s.frames_given}: read {s.frames_read} ({s.frames_by_strip} by strip), probed {s.frames_probed}, "
          f"unchanged {s.frames_unchanged}; {len(spans)} spans, {len({sp.text for sp in spans})} texts")
    print(f"  recognitions: {repeats['new']} a new text, {repeats['repeat']} a text already read, "
          f"{repeats['none']} not text; lines followed without recognition {s.lines_followed}, "
          f"re-read {s.lines_reread}")
    return {"cpu_s": cpu_s, "wall_s": wall_s, "recogniser_cpu_s": rec_s, "detector_cpu_s": det_s,
            "lines_recognised": s.lines_recognised,
            "recognitions": dict(repeats), "spans": [(sp.start_s, sp.end_s, sp.text) for sp in spans],
            "readings": {int(k): [(b.text, b.confidence) for b in v] for k, v in sorted(reader._read.items())}}


def compare(old_path: Path, new_path: Path) -> None:
    old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
    for name in old:
        a = collections.Counter(t for _, _, t in old[name]["spans"])
        b = collections.Counter(t for _, _, t in new.get(name, {}).get("spans", []))
        same = old[name]["readings"] == new.get(name, {}).get("readings")
        print(f"{name}: spans {sum(a.values())} -> {sum(b.values())}, every frame's readings the same: {same}")
        for label, only in (("only old", a - b), ("only new", b - a)):
            for text in sorted(only.elements()):
                print(f"  {label}: {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=None, help="this excerpt alone (repeatable)")
    parser.add_argument("--readings", type=Path, default=None, help="save readings and spans to this JSON file")
    parser.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("OLD", "NEW"))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where the OCR models run (cuda: onnxruntime's CUDA provider, onnxruntime-gpu)")
    parser.add_argument("--media-dir", type=Path, default=MEDIA, help=f"where the excerpts are (default {MEDIA})")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    engine = load_ocr_engine(device=args.device)
    print(f"OCR engine on {engine.provider}")
    clock = CallClock(engine)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    results = {name: read_file(engine, clock, args.media_dir, name) for name in (args.only or FILES)}
    print(f"load average before {load}, after {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    if args.readings:
        args.readings.write_text(json.dumps(results))
        print(f"saved {args.readings}")


if __name__ == "__main__":
    main()
