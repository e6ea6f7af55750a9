"""What the frames stage hands to the text stage when they run as separate tasks (maybe on other machines):
one .npz per file under data_dir/staging, written to a temporary name and renamed, read back bit for bit. It holds
the frames outcome and the text channels the frames task computed beside them (subtitles, speech and, when it read
the on-screen text from the same decode, OCR)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from db.models import Channel, ChannelStatus
from indexer.encoders.base import EncodedFrames
from indexer.shots import Shot
from indexer.text_chunks import TimedText
from workers.channels import ChannelOutcome, FramesOutcome


def staging_file(data_dir: Path, media_id: int, fingerprint: str) -> Path:
    return data_dir / "staging" / f"{media_id}-{fingerprint[:16]}.frames.npz"


def write_frames(path: Path, outcome: ChannelOutcome, text: Sequence[ChannelOutcome] = ()) -> None:
    meta: dict[str, object] = {"status": str(outcome.status), "producer": outcome.producer,
                               "reason": outcome.reason, "hint": outcome.hint,
                               "text": [_outcome_json(o) for o in text]}
    arrays: dict[str, np.ndarray] = {}
    if isinstance(outcome, FramesOutcome):
        meta["fps"] = outcome.fps
        arrays["t_s"] = outcome.t_s  # (N,) float64
        arrays["frame_shot"] = outcome.frame_shot  # (N,) int64
        arrays["shots"] = np.asarray([(s.start_s, s.end_s) for s in outcome.shots], np.float64).reshape(-1, 2)
        arrays["representative"] = np.asarray([-1 if s.representative is None else s.representative
                                               for s in outcome.shots], np.int64)
        if outcome.qa_pooled is not None:
            arrays["qa_pooled"] = outcome.qa_pooled  # (N, D) float32
        if outcome.encoded is not None:
            arrays["embeddings"] = outcome.encoded.embeddings  # (N, embed_dim) float32
            arrays["pooled"] = outcome.encoded.pooled  # (N, feature_dim) float32
            if outcome.encoded.grid is not None:
                arrays["grid"] = outcome.encoded.grid  # (N, k*k, feature_dim) float32
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def remove_staged(path: Path) -> None:
    """Remove a file's staged frames once its result is written, with the temporaries of writers that were killed
    before their rename (a SIGKILLed frames task leaves ``.<name>.<pid>.tmp``; the retry wrote the file itself).
    Only called when the file is done, so no live task of this file is still writing."""
    path.unlink(missing_ok=True)
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        orphan.unlink(missing_ok=True)


def read_frames(path: Path) -> ChannelOutcome:
    """The frames outcome written by ``write_frames``; raises FileNotFoundError when it is not there."""
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        status = ChannelStatus(meta["status"])
        if "t_s" not in data:
            return ChannelOutcome(Channel.FRAMES, status, producer=meta["producer"], reason=meta["reason"],
                                  hint=meta["hint"])
        encoded = None
        if "embeddings" in data:
            encoded = EncodedFrames(data["embeddings"], data["pooled"], data["grid"] if "grid" in data else None)
        shots = [Shot(float(a), float(b), None if int(r) < 0 else int(r))
                 for (a, b), r in zip(data["shots"], data["representative"])]
        return FramesOutcome(Channel.FRAMES, status, producer=meta["producer"], reason=meta["reason"],
                             hint=meta["hint"], t_s=data["t_s"], encoded=encoded, shots=shots,
                             frame_shot=data["frame_shot"], fps=float(meta["fps"]),
                             qa_pooled=data["qa_pooled"] if "qa_pooled" in data else None)


def read_text(path: Path) -> list[ChannelOutcome]:
    """The text channels staged beside the frames (none when the frames task computed none: the text task then
    computes them all); raises FileNotFoundError when nothing is staged. A file staged before the sound was
    computed beside the frames holds the OCR alone, under "ocr"."""
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode())
    staged = meta.get("text", [meta["ocr"]] if meta.get("ocr") else [])
    return [ChannelOutcome(Channel(o["channel"]), ChannelStatus(o["status"]), producer=o["producer"],
                           items=[TimedText(**item) for item in o["items"]], reason=o["reason"], hint=o["hint"])
            for o in staged]


def _outcome_json(outcome: ChannelOutcome) -> dict[str, object]:
    """A text channel's outcome as JSON (floats round-trip exactly through Python's json)."""
    return {"channel": str(outcome.channel), "status": str(outcome.status), "producer": outcome.producer,
            "reason": outcome.reason, "hint": outcome.hint, "items": [asdict(t) for t in outcome.items]}
