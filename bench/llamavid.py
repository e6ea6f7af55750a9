"""LLaMA-VID's cost for an hour of video: visual tokens, token generation per frame, time to first token,
memory.

    .venv/bin/python bench/llamavid.py [--size tiny|small|7b] [--device cpu|cuda] [--frames 3600]

A randomly initialised model of the chosen size (``7b``: EVA ViT-g + BERT-base Q-Former + Vicuna-7B
dimensions, only sensible on a GPU; ``small``: 224 px frames with the real 257 tokens per frame through a
narrow tower, a 4-layer 512-wide Llama with a 32K vocabulary) turns ``--frames`` frames (3600 = one hour at
1 fps) into tokens block by block, then the Llama reads them behind a short text prompt and the time to its
first token is measured. Baseline in the same run: the same Llama on a text-only prompt of the same length,
so the ratio shows what the visual tokens cost beyond their length (the frame-token generation). Pixels are
random normalised tensors (decode and resize are the ingest benchmarks' business). Peak memory:
torch.cuda.max_memory_allocated on a GPU, peak RSS on a CPU.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from qa.llamavid.checkpoint import build_model  # noqa: E402
from qa.llamavid.config import (LlamaVidConfig, LlmConfig, LongVideoMode, QFormerConfig,  # noqa: E402
                                VideoMode, VisionTowerConfig, release_7b)
from qa.llamavid.head import InstructionTokens  # noqa: E402
from qa.llamavid.model import LlamaVidModel, PromptEmbeds  # noqa: E402

SIZES = {
    "tiny": lambda mode: LlamaVidConfig(
        vision=VisionTowerConfig(width=32, layers_used=2, heads=2, mlp_width=64, patch_px=8, image_px=32),
        qformer=QFormerConfig(hidden=32, layers=2, heads=2, intermediate=64, queries=4, vocab_size=1000),
        llm=LlmConfig(hidden=64, layers=2, heads=4, kv_heads=4, intermediate=128, vocab_size=1000,
                      max_positions=16384), mode=mode),
    "small": lambda mode: LlamaVidConfig(
        vision=VisionTowerConfig(width=256, layers_used=4, heads=4, mlp_width=1024),
        qformer=QFormerConfig(hidden=256, layers=4, heads=4, intermediate=1024),
        llm=LlmConfig(hidden=512, layers=4, heads=8, kv_heads=8, intermediate=1376, max_positions=16384),
        mode=mode),
    "7b": release_7b,
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def random_pixels(n: int, config: LlamaVidConfig, device: str, generator: torch.Generator) -> torch.Tensor:
    size = config.vision.image_px
    return torch.randn(n, 3, size, size, generator=generator).to(device)  # (N, 3, S, S), already normalised


@torch.inference_mode()
def tokens_for_frames(model: LlamaVidModel, frames: int, instruction: InstructionTokens, device: str,
                      seed: int = 0) -> tuple[torch.Tensor, float, float]:
    """All frames through tower and head, ``block_frames`` at a time; (tokens (N, T, H), tower s, head s)."""
    generator = torch.Generator().manual_seed(seed)
    block, out, tower_s, head_s = model.config.block_frames, [], 0.0, 0.0
    for start in range(0, frames, block):
        pixels = random_pixels(min(block, frames - start), model.config, device, generator)
        sync(device)
        t0 = time.perf_counter()
        features = model.vision_tower(pixels)  # (n, 1 + P, D)
        sync(device)
        t1 = time.perf_counter()
        out.append(model.head.frame_tokens(features, instruction))  # (n, T, H)
        sync(device)
        tower_s, head_s = tower_s + t1 - t0, head_s + time.perf_counter() - t1
    return torch.cat(out), tower_s, head_s


@torch.inference_mode()
def first_token_s(model: LlamaVidModel, embeds: torch.Tensor, device: str) -> float:
    """Prefill of ``embeds`` (1, L, H) and the first greedy token."""
    sync(device)
    t0 = time.perf_counter()
    out = model.llm(inputs_embeds=embeds, use_cache=True)
    int(out.logits[0, -1].argmax())
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                        help="default: float32 on CPU, bfloat16 on a GPU")
    parser.add_argument("--mode", choices=["video", "long_video"], default="video")
    parser.add_argument("--frames", type=int, default=3600, help="frames of the video (3600: 1 h at 1 fps)")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--block-frames", type=int, default=64)
    parser.add_argument("--question-tokens", type=int, default=16)
    parser.add_argument("--text-tokens", type=int, default=64, help="text around the frames in the prompt")
    parser.add_argument("--repeats", type=int, default=3, help="prefill timings (the fastest is kept)")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32"))
    mode = LongVideoMode() if args.mode == "long_video" else VideoMode()
    config = SIZES[args.size](mode)
    config = LlamaVidConfig(vision=config.vision, qformer=config.qformer, llm=config.llm, mode=mode,
                            block_frames=args.block_frames)

    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(config, args.device, dtype)
    build_s = time.perf_counter() - t0
    params = {name: sum(p.numel() for p in part.parameters()) / 1e6
              for name, part in (("tower", model.vision_tower), ("head", model.head), ("llm", model.llm))}
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(4, config.qformer.vocab_size, (1, args.question_tokens), generator=generator)
    instruction = InstructionTokens(ids=ids, mask=torch.ones_like(ids))

    warm = min(args.block_frames, args.frames)  # one block first: warm-up and the per-frame figure
    tokens_for_frames(model, warm, instruction, args.device)
    _, block_tower_s, block_head_s = tokens_for_frames(model, warm, instruction, args.device, seed=2)
    tokens, tower_s, head_s = tokens_for_frames(model, args.frames, instruction, args.device, seed=3)
    visual = tokens.reshape(1, -1, config.llm.hidden)  # (1, N·T, H)
    text_ids = torch.randint(4, config.llm.vocab_size, (1, args.text_tokens), generator=generator)
    text_ids = text_ids.to(args.device)
    text = model.llm.get_input_embeddings()(text_ids)  # (1, L_text, H)
    half = args.text_tokens // 2
    embeds = torch.cat([text[:, :half], visual.to(text.dtype), text[:, half:]], dim=1)  # (1, L, H)
    prompt = PromptEmbeds(embeds, args.text_tokens, visual.shape[1])
    if prompt.length > config.llm.context_tokens:
        sys.exit(f"{prompt.length} prompt tokens exceed the LLM's {config.llm.context_tokens}; "
                 "use --mode long_video or fewer --frames")
    text_only = model.llm.get_input_embeddings()(torch.randint(
        4, config.llm.vocab_size, (1, prompt.length), generator=generator).to(args.device))
    first_token_s(model, text_only[:, :64], args.device)  # warm-up
    timings = [(first_token_s(model, prompt.embeds, args.device), first_token_s(model, text_only, args.device))
               for _ in range(args.repeats)]  # interleaved, the fastest of each: the machine is shared
    video_first_s, text_first_s = min(t[0] for t in timings), min(t[1] for t in timings)
    generation_s = tower_s + head_s

    hours = args.frames / args.fps / 3600
    tokens_per_hour = 3600 * args.fps * config.tokens_per_frame
    rows = [
        ("model", f"{args.size} ({', '.join(f'{k} {v:.1f}M' for k, v in params.items())} params), {dtype}, "
                  f"{args.device}, built in {build_s:.1f} s"),
        ("visual tokens per hour at", f"{args.fps:g} fps: {tokens_per_hour:.0f} "
                                      f"({config.tokens_per_frame} per frame)"),
        ("token generation per frame", f"{1000 * (block_tower_s + block_head_s) / warm:.1f} ms (tower "
                                       f"{1000 * block_tower_s / warm:.1f} + head "
                                       f"{1000 * block_head_s / warm:.1f}), blocks of {args.block_frames}"),
        (f"{args.frames} frames ({hours:.2f} h)", f"{generation_s:.1f} s to tokens (tower {tower_s:.1f} + "
                                                   f"head {head_s:.1f}) → {visual.shape[1]} visual tokens"),
        ("prompt", f"{prompt.length} tokens ({prompt.visual_tokens} visual + {prompt.text_tokens} text)"),
        ("first token, prefill only", f"{video_first_s:.2f} s"),
        ("first token, frames → answer", f"{generation_s + video_first_s:.2f} s"),
        ("baseline: text-only prompt", f"{text_first_s:.2f} s for {prompt.length} text tokens"),
        ("ratio to baseline", f"prefill {video_first_s / text_first_s:.2f}x, with token generation "
                              f"{(generation_s + video_first_s) / text_first_s:.2f}x"),
        ("peak memory", f"{peak_memory_mb(args.device):.0f} MB "
                        f"({'max allocated' if args.device.startswith('cuda') else 'RSS'})"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    result = {"size": args.size, "device": args.device, "dtype": str(dtype), "mode": args.mode,
              "frames": args.frames, "fps": args.fps, "block_frames": args.block_frames, "params_m": params,
              "visual_tokens_per_hour": tokens_per_hour, "token_generation_ms_per_frame":
              1000 * (block_tower_s + block_head_s) / warm, "frames_to_tokens_s": generation_s,
              "tower_s": tower_s, "head_s": head_s, "prompt_tokens": prompt.length,
              "visual_tokens": prompt.visual_tokens, "first_token_prefill_s": video_first_s,
              "first_token_with_generation_s": generation_s + video_first_s,
              "baseline_text_first_token_s": text_first_s,
              "peak_memory_mb": peak_memory_mb(args.device)}
    print(f"saved {save(f'llamavid_{args.size}_{args.mode}', result)}")


if __name__ == "__main__":
    main()
