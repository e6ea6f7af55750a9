"""The GPU figures of bench/gpu.sh, one section per call, each printing its figures to stdout:

    .venv/bin/python bench/gpu.py encoders|ocr|whisper|faiss [--cpu-fallback]

* encoders: images/s of randomly initialised CLIP vision towers of ViT-B/16 and ViT-L/14 shape (224 px), bf16
  on CUDA, batch 64, after warm-up;
* ocr: frames/s of the OCR engine (detect at 640 px + recognise each line) on generated 960 x 540 frames with
  text, on onnxruntime's CUDA provider when installed (onnxruntime-gpu; else its CPU provider, said so), then
  on the CPU provider as the same run's baseline;
* whisper: real-time factor of the packaged faster-whisper tiny.en in float16 on CUDA on a minute of generated
  espeak-ng speech, decoded beforehand and fed in the chunks ingest uses (``--audio``/``--save-audio`` carry
  the samples to a machine without espeak-ng or ffmpeg);
* frames: the frames channel's sampler feeding a random ViT-B/16-shaped CLIP in bf16 on CUDA through ingest's
  prefetch queue, against plain ``ffmpeg -vf fps=1 -f null -`` on the same 720p file (``--media``; ratio ≥ 0.8
  is issue 13's goal when the encoder outruns decoding);
* faiss: queries/s of exact inner-product search on 1M x 512 float32 vectors on the GPU (faiss GPU build) or
  the CPU (flat index), 1,000 queries, k=10.

With ``--cpu-fallback`` (what gpu.sh passes when CUDA is absent) each section runs a small CPU version that
only shows the path works; its figures are not GPU figures and are labelled so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import VIT_B16_SHAPE  # noqa: E402

SHAPES = {"ViT-B/16": VIT_B16_SHAPE,
          "ViT-L/14": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           patch_size=14)}


def encoders(cpu: bool) -> None:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    device, dtype, batch, steps = ("cpu", torch.float32, 2, 1) if cpu else ("cuda", torch.bfloat16, 64, 10)
    torch.manual_seed(0)
    for name, shape in SHAPES.items():
        if cpu and name != "ViT-B/16":
            print(f"encoder {name}: skipped on the CPU fallback")
            continue
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(image_size=224, projection_dim=512, **shape))
        model = model.to(device=device, dtype=dtype).eval()
        x = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype)  # (B, 3, 224, 224)
        with torch.inference_mode():
            model(pixel_values=x)
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(steps):
                model(pixel_values=x)
            if device == "cuda":
                torch.cuda.synchronize()
        rate = batch * steps / (time.perf_counter() - t0)
        print(f"encoder {name} {str(dtype).removeprefix('torch.')} on {device}, batch {batch}: {rate:.0f} images/s")
        del model


def text_frames(n: int) -> np.ndarray:
    """(n, 540, 960, 3) uint8 RGB: noise with a few lines of text that move a little each frame."""
    import cv2

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 120, size=(n, 540, 960, 3), dtype=np.uint8)
    for i in range(n):
        for k, line in enumerate(("QUARTERLY REVENUE 2024", "Launch window opens at dawn", f"frame {i}")):
            cv2.putText(frames[i], line, (60 + 3 * i, 120 + 140 * k), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                        (255, 255, 255), 3)
    return frames


def ocr(cpu: bool) -> None:
    """Frames/s of the OCR engine on CUDA and, as the baseline in the same run, on this machine's CPU (what
    ``device="auto"`` runs: indexer.ocr_sessions.ocr_providers says why)."""
    from indexer.ocr import load_ocr_engine

    frames = text_frames(3 if cpu else 60)
    rates = {}  # provider that ran -> frames/s
    for device in ("cpu",) if cpu else ("cuda", "cpu"):
        engine = load_ocr_engine(device=device)
        engine.read(frames[0])  # warm-up
        t0 = time.perf_counter()
        lines = sum(len(engine.read(f)) for f in frames)
        rates[engine.provider] = len(frames) / (time.perf_counter() - t0)
        print(f"ocr on {engine.provider}: {rates[engine.provider]:.1f} frames/s (960x540, detect 640 px + "
              f"recognise, {lines / len(frames):.1f} lines a frame)")
    if "CUDAExecutionProvider" in rates:
        print(f"ocr: CUDA {rates['CUDAExecutionProvider'] / rates['CPUExecutionProvider']:.2f}x the CPU's frames/s")


def speech_samples(seconds: float, lines: int) -> np.ndarray:
    """(n,) float32 at 16 kHz: generated espeak-ng speech (needs espeak-ng and ffmpeg), decoded by ffmpeg."""
    import subprocess
    import tempfile

    from indexer.audio import SAMPLE_RATE_HZ
    from scenedex.speech_samples import SpokenLine, write_speech_track

    with tempfile.TemporaryDirectory() as tmp:
        spoken = [SpokenLine(1.0 + 6.0 * i, f"Line {i}: the harbour lights come on at dusk over the water.")
                  for i in range(lines)]
        path = Path(tmp) / "speech.wav"
        write_speech_track(path, spoken, duration_s=seconds)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar",
                              str(SAMPLE_RATE_HZ), "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32)


def whisper(cpu: bool, audio_path: Path | None = None, save_audio: Path | None = None) -> None:
    """Transcription time of the recogniser on decoded samples, chunk by chunk as ingest feeds it (decode not
    counted). ``audio_path``: samples saved by ``save_audio`` on another machine (the GPU one may lack
    espeak-ng and ffmpeg)."""
    from indexer.audio import SAMPLE_RATE_HZ
    from indexer.speech import SpeechModelSpec, load_speech_recognizer

    if audio_path is not None:
        samples = np.load(audio_path).astype(np.float32)  # saved as float16 to travel light
    else:
        samples = speech_samples(12.0, 2) if cpu else speech_samples(60.0, 10)
    if save_audio is not None:
        np.save(save_audio, samples.astype(np.float16))
        print(f"saved {len(samples) / SAMPLE_RATE_HZ:.0f} s of speech samples to {save_audio}")
        return
    # tiny.en by name: earlier sessions' figures are its; the device machine has only what is carried there
    spec = SpeechModelSpec(model="tiny.en", device="cpu" if cpu else "cuda",
                           compute_type="int8" if cpu else "float16")
    recognizer = load_speech_recognizer(spec)
    chunk = int(spec.chunk_s * SAMPLE_RATE_HZ)
    recognizer.transcribe_audio(samples[:chunk])  # warm-up
    t0 = time.perf_counter()
    words = 0
    for start in range(0, len(samples), chunk):
        result = recognizer.transcribe_audio(samples[start:start + chunk], start / SAMPLE_RATE_HZ, "en")
        words += sum(len(segment.words) for segment in result.segments)
    elapsed = time.perf_counter() - t0
    duration_s = len(samples) / SAMPLE_RATE_HZ
    print(f"whisper tiny.en {spec.compute_type} on {spec.device}: {duration_s / elapsed:.1f}x real time "
          f"(real-time factor {elapsed / duration_s:.3f}) on {duration_s:.0f} s of speech, {words} words")


def frames(cpu: bool, media: Path) -> None:
    """The frames channel's decode and encoder on one file against plain ``ffmpeg -vf fps=1 -f null -``: the
    ingest sampler (1 fps, 224 px, shot detection) feeding a random ViT-B/16-shaped CLIP through the prefetch
    queue ingest uses, so decoding overlaps encoding (no database: that is bench/ingest.py's business)."""
    import tempfile

    from bench.common import plain_ffmpeg, vit_b16
    from indexer.encoders.base import EncoderSpec
    from indexer.encoders.loading import load_vision_encoder
    from indexer.probe import choose_video_stream, probe
    from indexer.sampling import FrameSampler, SamplingPolicy, prefetch

    with tempfile.TemporaryDirectory() as tmp:
        encoder = load_vision_encoder(EncoderSpec(model=str(vit_b16(Path(tmp) / "vit-b16")),
                                                  device="cpu" if cpu else "cuda", batch_size=32))
    info = probe(media)
    stream = choose_video_stream(info)
    encoder.encode(np.zeros((4, 224, 224, 3), np.uint8))  # warm-up
    t0 = time.perf_counter()
    plain_ffmpeg(media)
    ffmpeg_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    count, encode_s = 0, 0.0
    sampler = FrameSampler(info, stream, SamplingPolicy(size_px=encoder.info.image_size))
    for batch in prefetch(sampler.batches()):
        t1 = time.perf_counter()
        encoder.encode(batch.frames)
        encode_s += time.perf_counter() - t1
        count += len(batch.frames)
    scenedex_s = time.perf_counter() - t0
    print(f"frames channel on {media.name} ({info.duration_s:.0f} s): plain ffmpeg fps=1 {ffmpeg_s:.2f} s; "
          f"sampler + ViT-B/16 on {'cpu' if cpu else 'cuda'} "
          f"{scenedex_s:.2f} s for {count} frames (encoder busy {encode_s:.2f} s) → "
          f"{ffmpeg_s / scenedex_s:.2f}x ffmpeg's speed")


def faiss_search(cpu: bool) -> None:
    import faiss

    n, d, nq, k = (20_000, 512, 100, 10) if cpu else (1_000_000, 512, 1_000, 10)
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((n, d), dtype=np.float32)
    xq = rng.standard_normal((nq, d), dtype=np.float32)
    index = faiss.IndexFlatIP(d)
    where = "cpu"
    if not cpu and hasattr(faiss, "StandardGpuResources"):
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
        where = "cuda"
    elif not cpu:
        print("faiss: this faiss build has no GPU support (faiss-cpu); exact search on the CPU instead")
    index.add(xb)
    index.search(xq[:10], k)
    t0 = time.perf_counter()
    index.search(xq, k)
    rate = nq / (time.perf_counter() - t0)
    print(f"faiss exact inner-product search on {where}: {rate:.0f} queries/s over {n:,} x {d}, k={k}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=["encoders", "ocr", "whisper", "frames", "faiss"])
    parser.add_argument("--cpu-fallback", action="store_true")
    parser.add_argument("--audio", type=Path, help="whisper: transcribe these saved samples (.npy)")
    parser.add_argument("--save-audio", type=Path, help="whisper: only generate the samples and save them (.npy)")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media" / "bbb_opening_720p.mp4",
                        help="frames: the file to decode (default: the 720p24 Big Buck Bunny opening excerpt)")
    args = parser.parse_args()
    if args.section == "whisper":
        whisper(args.cpu_fallback, args.audio, args.save_audio)
    elif args.section == "frames":
        frames(args.cpu_fallback, args.media)
    else:
        {"encoders": encoders, "ocr": ocr, "faiss": faiss_search}[args.section](args.cpu_fallback)


if __name__ == "__main__":
    main()
