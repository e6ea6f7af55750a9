"""Speech models compared on the narration of the search libraries: word error rate per reel and speed.

    .venv/bin/python bench/speech_models.py --library tuned|frozen|holdout|holdout2|...|holdout5
        [--model tiny.en] [--beam-size 1] [--language en|auto] [--cpu-threads 2]
    .venv/bin/python bench/speech_models.py --library frozen --oracle

Every reel of the library (built by bench/search_quality.py: bench/out/quality_library_20,
bench/out/frozen_library, bench/out/holdoutN_library) is transcribed with ``transcribe_media`` and the spec
given (default: the product's, whisper-base in English); the reference is the reel's narrated lines in order
(the manifest ``library.json``). Reported: WER over all the library's words and per reel (with its voice on
the generated-plan libraries), audio seconds per wall second ("x real time") and the process's CPU seconds per
minute of audio, with the model loaded beforehand. The transcripts are saved
(bench/out/speech_transcripts_LIBRARY_LABEL.json) so that
bench/speech_swap.py can put them into a copy of the library's index without transcribing again.

``--oracle`` saves the manifest's own lines as a transcript (label "oracle"; each line one segment on its true
span, its words spread evenly over it): what search would do if speech were heard perfectly, an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from bench.search_misses import ROOTS  # noqa: E402
from indexer.packaged_whisper import WHISPER_BASE_NAME  # noqa: E402
from indexer.speech import TINY_EN_NAME  # noqa: E402
from workers.models import TextChannels  # noqa: E402


def reels(library: str) -> list[dict[str, Any]]:
    """Each reel of the library's manifest: media (relative path), reference text, voice (frozen only)."""
    manifest = json.loads((ROOTS[library] / "library.json").read_text())
    rows = manifest["videos"] if library == "tuned" else manifest["reels"]
    return [{"media": r["media"], "voice": r.get("voice", "en-us"),
             "reference": " ".join(line["text"] for line in sorted(r["lines"], key=lambda x: x["start_s"]))}
            for r in rows]


def transcript_label(model: str | None, beam_size: int, language: str | None) -> str:
    """A short name for a speech spec: 'tiny.en', 'whisper-base-en-b5' (the language is named unless the model
    hears only English; None: detected).

    >>> transcript_label(None, 1, "en"), transcript_label("tiny.en", 5, "en"), transcript_label(None, 1, None)
    ('whisper-base-en', 'tiny.en-b5', 'whisper-base')
    """
    name = model or WHISPER_BASE_NAME
    spoken = f"-{language}" if language and name != TINY_EN_NAME else ""
    return name + spoken + (f"-b{beam_size}" if beam_size > 1 else "")


def oracle_transcripts(library: str) -> dict[str, list[dict[str, Any]]]:
    """The manifest's lines as transcripts: one segment per line on its true span, words spread evenly."""
    manifest = json.loads((ROOTS[library] / "library.json").read_text())
    out = {}
    for r in manifest["videos"] if library == "tuned" else manifest["reels"]:
        segments = []
        for line in sorted(r["lines"], key=lambda x: x["start_s"]):
            words = line["text"].split()
            step_s = (line["end_s"] - line["start_s"]) / len(words)
            segments.append({"start_s": line["start_s"], "end_s": line["end_s"], "text": line["text"],
                             "avg_logprob": 0.0, "language": "en",
                             "words": [[round(line["start_s"] + i * step_s, 3),
                                        round(line["start_s"] + (i + 1) * step_s, 3), w]
                                       for i, w in enumerate(words)]})
        out[r["media"]] = segments
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", choices=tuple(ROOTS), required=True)
    parser.add_argument("--model", default=None, help="speech_model (default: the packaged whisper-base)")
    parser.add_argument("--beam-size", type=int, default=TextChannels().speech_beam_size,
                        help="beam search width (default: the product's)")
    parser.add_argument("--language", default="en", help="ISO 639-1 code, or 'auto' to detect (default: en)")
    parser.add_argument("--cpu-threads", type=int, default=2)
    parser.add_argument("--no-vad", action="store_true",
                        help="transcribe everything, not only what Silero VAD hears as speech (the product's "
                             "default filters with it)")
    parser.add_argument("--oracle", action="store_true", help="save the true lines as transcripts, and stop")
    args = parser.parse_args()
    if args.oracle:
        print(f"saved {save(f'speech_transcripts_{args.library}_oracle', oracle_transcripts(args.library))}")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", str(args.cpu_threads))
    from indexer.probe import probe
    from indexer.speech import SpeechModelSpec, load_speech_recognizer, transcribe_media
    from indexer.text_metrics import edit_distance, normalize_words

    args.language = None if args.language == "auto" else args.language
    label = transcript_label(args.model, args.beam_size, args.language) + ("-novad" if args.no_vad else "")
    spec = SpeechModelSpec(model=args.model, device="cpu", cpu_threads=args.cpu_threads, beam_size=args.beam_size,
                           language=args.language, vad=not args.no_vad)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    t0 = time.perf_counter()
    recognizer = load_speech_recognizer(spec)
    load_s = time.perf_counter() - t0
    rows, transcripts, errors, words, audio_s, wall_s = [], {}, 0, 0, 0.0, 0.0
    cpu0 = time.process_time()  # every thread's, CTranslate2's included
    for reel in reels(args.library):
        info = probe(ROOTS[args.library] / reel["media"])
        t0 = time.perf_counter()
        transcript = transcribe_media(recognizer, info)
        took = time.perf_counter() - t0
        ref, hyp = normalize_words(reel["reference"]), normalize_words(transcript.text)
        e = edit_distance(ref, hyp)
        errors, words, audio_s, wall_s = errors + e, words + len(ref), audio_s + transcript.duration_s, wall_s + took
        rows.append({"media": reel["media"], "voice": reel["voice"], "wer": round(e / len(ref), 3),
                     "x_real_time": round(transcript.duration_s / took, 2), "language": transcript.language})
        transcripts[reel["media"]] = [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                                       "avg_logprob": s.avg_logprob, "language": transcript.language,
                                       "words": [[w.start_s, w.end_s, w.text] for w in s.words]}
                                      for s in transcript.segments]
        print(f"  {reel['media']:<40} {reel['voice']:<16} WER {e / len(ref):.3f}  {transcript.duration_s / took:5.1f}x"
              f"  {transcript.language}", flush=True)
    cpu_s = time.process_time() - cpu0
    result = {"library": args.library, "label": label, "model": recognizer.info.key, "beam_size": args.beam_size,
              "language": args.language, "cpu_threads": args.cpu_threads, "load_s": round(load_s, 1),
              "wer": round(errors / words, 4), "x_real_time": round(audio_s / wall_s, 2), "audio_s": round(audio_s),
              "cpu_s_per_min": round(60 * cpu_s / audio_s, 2),
              "reels": rows, "load_before": load,
              "load_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    print(f"{args.library} {label}: WER {errors / words:.3f} over {words} words; {audio_s / wall_s:.1f}x real time "
          f"on {args.cpu_threads} threads ({audio_s:.0f} s of audio in {wall_s:.0f} s, "
          f"{60 * cpu_s / audio_s:.1f} CPU s a minute); load {load}")
    save(f"speech_models_{args.library}_{label}", result)
    print(f"saved {save(f'speech_transcripts_{args.library}_{label}', transcripts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
