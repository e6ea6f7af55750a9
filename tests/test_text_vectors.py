"""A chunk text some chunk of the same text model already holds takes that stored vector (``workers.text_vectors``):
what embedding it again would store, on the real Postgres, through whole index runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from db.models import TextChunk
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.sampling import SamplingPolicy
from indexer.text_embedding import TextEncoder
from scenedex.samples import Segment, make_clip
from tests.test_text_channels import _srt
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

TEXTS = ["Good night", "The rocket launches from the north pad at dawn, weather permitting, with four crew on board",
         "MUSIC AND SOUND DESIGN Jan Morgenstern", "Good night", "ok", "Sacha Goedegebure · Andreas Goralczyk · "
         "Enrico Valenza · Nathan Vegdahl · William Reynish · Brecht Van Lommel · Campbell Barton"]
CUES = [(0.5, 2.5, "Welcome to the quarterly briefing"), (3.0, 5.5, "The rocket launches from the north pad"),
        (6.0, 7.5, "Thank you and good night")]


def test_the_packaged_models_store_the_same_vector_for_a_text_alone_or_among_others() -> None:
    """What makes a stored vector reusable: a text's vector does not depend on the texts embedded with it (MiniLM
    batches texts of like length; the int8 mpnet embeds each alone), compared as stored, in float16."""
    encoder = TextEncoder()
    together = encoder.encode(TEXTS).astype("<f2")  # (6, 1152)
    alone = np.concatenate([encoder.encode([t]) for t in TEXTS]).astype("<f2")
    assert together.shape == (len(TEXTS), encoder.info.dim)
    assert (together == alone).all(), np.abs(together.astype(np.float32) - alone.astype(np.float32)).max()


def test_stored_embeddings_finds_exactly_the_texts_of_that_model(db: Database) -> None:
    long_text = "credits " * 700  # longer than a btree entry may be: found by its digest
    with db.session() as session:
        root = library_repo.get_or_create_root(session, "/library")
        media = library_repo.add_media(session, root.id, "/library/a.mp4", 1, 1)
        model = models_repo.get_or_create_model(session, key="sentence:m@1", family="sentence", name="m",
                                                revision="1", embed_dim=4, feature_dim=0, grid_k=0)
        other = models_repo.get_or_create_model(session, key="sentence:n@1", family="sentence", name="n",
                                                revision="1", embed_dim=4, feature_dim=0, grid_k=0)
        vectors = np.eye(4, dtype=np.float32)[:3]  # (3, 4)
        rows = [{"channel": "speech", "start_s": float(i), "end_s": i + 1.0, "text": t}
                for i, t in enumerate(["Good night", long_text, "Ünïcode line"])]
        text_repo.replace_chunks(session, media.id, model.id, rows, vectors)
        model_id, other_id = model.id, other.id
    with db.session() as session:
        found = text_repo.stored_embeddings(session, model_id, ["Good night", "good night", long_text,
                                                                "Ünïcode line", "never stored"])
        assert sorted(found) == sorted(["Good night", long_text, "Ünïcode line"])
        assert np.frombuffer(found[long_text], "<f2").tolist() == [0, 1, 0, 0]
        assert text_repo.stored_embeddings(session, other_id, ["Good night"]) == {}
        assert text_repo.stored_embeddings(session, model_id, []) == {}


def _subtitled(folder: Path, name: str, cues: list[tuple[float, float, str]], colour: str = "blue") -> None:
    make_clip(folder / f"{name}.mp4", [Segment(colour, 8.0, "")], size=(160, 120), frame_code=False, clock=False)
    (folder / f"{name}.srt").write_text(_srt(cues))


def test_a_text_already_stored_is_not_embedded_again(db: Database, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    embedded: list[str] = []
    encode = TextEncoder.encode

    def counted(self: TextEncoder, texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return encode(self, texts)

    monkeypatch.setattr(TextEncoder, "encode", counted)
    library = tmp_path / "library"
    library.mkdir()
    _subtitled(library, "episode1", CUES)
    _subtitled(library, "episode2", CUES)  # the same lines: a series' titles, a channel's bumper
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=64))
    channels = TextChannels(speech=False, ocr=None)
    summary = index_paths(db, [library], config, (".mp4",), None, text=channels, jobs=1)
    assert len(summary.indexed) == 2
    assert sorted(embedded) == sorted(c[2] for c in CUES)  # each text once, for the first file
    with db.session() as session:
        stored = {}
        for chunk in session.scalars(select(TextChunk)):
            stored.setdefault(chunk.text, set()).add(bytes(chunk.embedding))
    assert sorted(stored) == sorted(c[2] for c in CUES) and all(len(v) == 1 for v in stored.values())

    embedded.clear()  # episode 2 re-cut, one line changed: only that line is embedded when it is indexed again
    _subtitled(library, "episode2", [*CUES[:2], (6.0, 7.5, "Thank you, and good night to all")], colour="red")
    again = index_paths(db, [library], config, (".mp4",), None, text=channels, jobs=1)
    assert [Path(p).name for p in again.indexed] == ["episode2.mp4"]
    assert embedded == ["Thank you, and good night to all"]

    fresh = TextEncoder().encode(sorted(stored)).astype("<f2")  # what embedding them again would store
    assert [next(iter(stored[t])) for t in sorted(stored)] == [row.tobytes() for row in fresh]
