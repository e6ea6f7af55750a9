"""Speech-recognition throughput of the configured model against plain ffmpeg decoding, in the same run.

    .venv/bin/python bench/speech.py [--duration-s 60] [--repeats 3] [--device auto] [--model whisper-base]
        [--beam-size 5] [--cpu-threads 2]

Baseline: `ffmpeg -i FILE -map 0:a:0 -ac 1 -ar 16000 -f f32le -` to a null sink (decode and resample only).
scenedex: `transcribe_media` (the same decode through a pipe in chunks, Silero VAD, faster-whisper with word
times), the model loaded once beforehand (load time reported apart). Media: a generated espeak-ng speech track
(lines over short silences, H.264 + AAC) and the NASA narration of ../shared/media when present.
"x real time" is audio seconds per wall second; "cpu s" counts all threads and child processes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save, timed  # noqa: E402
from indexer.probe import probe  # noqa: E402
from indexer.speech import SpeechModelSpec, Transcript, load_speech_recognizer, transcribe_media  # noqa: E402
from indexer.text_metrics import word_error_rate  # noqa: E402
from scenedex.samples import Segment, make_clip  # noqa: E402
from scenedex.speech_samples import SpokenLine, mux, write_speech_track  # noqa: E402

NASA = Path(__file__).resolve().parents[2] / "shared" / "media" / "nasa_webb_cleanroom.mp4"
NASA_TEXT = ("This is the optical and science segment of the Webb space telescope in one of the largest "
             "cleanrooms in the world at NASA's Goddard Space Flight Center in Greenbelt, Maryland. "
             "This half of the observatory element successfully")
SENTENCES = (
    "Our team finished the project last Friday.", "Please open the window in the kitchen.",
    "Tomorrow we will visit the museum by train.", "We need more paper for the printer.",
    "Remember to water the garden.", "The library is closed on Sunday.",
    "Please close the door behind you.", "Please call me when you arrive.",
    "The children are playing outside.", "Good morning, the weather is sunny and warm today.",
)
LINE_EVERY_S = 4.5  # a line (1.8-3 s) and then silence


def make_speech_clip(duration_s: float) -> tuple[Path, str]:
    """A generated video with one espeak-ng line every LINE_EVERY_S seconds; (path, the text spoken)."""
    folder = OUT_DIR / f"speech_{duration_s:.0f}s"
    path = folder / "speech.mp4"
    n_lines = int((duration_s - 3.5) // LINE_EVERY_S) + 1
    lines = [SpokenLine(0.5 + i * LINE_EVERY_S, SENTENCES[i % len(SENTENCES)]) for i in range(n_lines)]
    text = " ".join(line.text for line in lines)
    if path.exists():
        return path, text
    folder.mkdir(parents=True, exist_ok=True)
    make_clip(folder / "video.mp4", [Segment("bars", duration_s, "Speech")], size=(320, 240))
    write_speech_track(folder / "speech.wav", lines, duration_s)
    return mux(folder / "video.mp4", folder / "speech.wav", path, "aac"), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", default=None,
                        help="speech_model (default: the packaged whisper-base, English)")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--cpu-threads", type=int, default=0, help="0: CTranslate2's default")
    args = parser.parse_args()
    clips = {"generated speech": make_speech_clip(args.duration_s)}
    if NASA.is_file():
        clips["NASA narration"] = (NASA, NASA_TEXT)

    started = time.perf_counter()
    recognizer = load_speech_recognizer(SpeechModelSpec(model=args.model, device=args.device, beam_size=args.beam_size,
                                                      cpu_threads=args.cpu_threads))
    load_s = time.perf_counter() - started
    model = recognizer.info
    print(f"model {model.key} on {model.device} ({model.compute_type}), loaded in {load_s:.1f} s; "
          f"{args.repeats} runs each (median)\n")
    print(f"{'':34} {'wall s':>7} {'cpu s':>7} {'x real time':>12} {'vs ffmpeg':>10}")
    clip_results: dict[str, object] = {}
    results = {"model": model.key, "device": model.device, "compute_type": model.compute_type, "load_s": load_s,
               "clips": clip_results}
    for name, (path, reference) in clips.items():
        info = probe(path)
        transcripts: list[Transcript] = []

        def baseline() -> None:
            subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0", "-ac", "1",
                            "-ar", "16000", "-f", "f32le", "-y", "/dev/null"], check=True)

        def scenedex() -> None:
            transcripts.append(transcribe_media(recognizer, info))

        rows = {"baseline": timed(baseline, args.repeats), "transcribe": timed(scenedex, args.repeats)}
        audio_s = transcripts[-1].duration_s
        wer = word_error_rate(reference, transcripts[-1].text)
        print(f"{name}: {audio_s:.1f} s of audio, word error rate {wer:.2f}")
        for key, label in (("baseline", "  ffmpeg decode to 16 kHz mono"),
                           ("transcribe", "  scenedex transcribe_media")):
            r = rows[key]
            r["x_real_time"] = audio_s / r["wall_s"]
            r["speed_vs_baseline"] = rows["baseline"]["wall_s"] / r["wall_s"]
            print(f"{label:34} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} {r['x_real_time']:11.1f}x "
                  f"{r['speed_vs_baseline']:9.3f}x")
        clip_results[name] = {"path": str(path), "audio_s": audio_s, "wer": wer, **rows}
    if model.device == "cpu":
        print("\nCPU only: the GPU path (CUDA, float16) was not measured on this machine.")
    variant = (f"_{args.model}" if args.model else "") + (f"_b{args.beam_size}" if args.beam_size > 1 else "")
    print(f"saved {save('speech' + variant, results)}")


if __name__ == "__main__":
    main()
