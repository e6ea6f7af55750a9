"""A cross-encoder reading the first moments again (``search.rerank``): its order fused with the search's,
frames-only moments in place, scores still descending; a tiny random cross-encoder loaded through the same
path a user's ms-marco model takes; a search configured with one reorders its moments, and a broken one is
ignored with a warning instead of failing the search."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from search.moments import Evidence, Moment
from search.request import SearchChannel
from search.rerank import CrossEncoderScorer, RerankerError, RerankSpec, fused_order, moment_text, reranked
from tests.test_retrieval_meaning import nasa_library
from tests.tiny_models import SPECIALS, WORDS


def _moment(score: float, text: str | None, start_s: float) -> Moment:
    channel = SearchChannel.VISUAL if text is None else SearchChannel.SPEECH
    evidence = Evidence(channel, start_s, start_s + 2.0, 0.5, 1, ("semantic",), text, None if text else 7)
    return Moment(media_id=1, start_s=start_s, end_s=start_s + 2.0, score=score, thumbnail_t_s=start_s,
                  channels=frozenset({channel}), evidence=(evidence,))


MOMENTS = [_moment(0.5, "a red car", 0.0), _moment(0.4, None, 10.0), _moment(0.3, "a blue boat", 20.0),
           _moment(0.2, "a dog at night", 30.0)]


def _scores_for(texts_scores: dict[str, float]):
    seen: list[list[str]] = []

    def score(query: str, texts: list[str]) -> np.ndarray:
        seen.append(texts)
        return np.array([texts_scores[t] for t in texts])

    return score, seen


def test_the_cross_encoders_order_is_fused_with_the_searchs_and_frames_only_moments_stay() -> None:
    score, seen = _scores_for({"a red car": 0.0, "a blue boat": 0.0, "a dog at night": 1.0})
    equal = reranked(MOMENTS, "dog", score, RerankSpec("m", top_n=4, weight=1.0), k=10.0)
    assert seen == [["a red car", "a blue boat", "a dog at night"]]  # the frames-only moment is not read
    assert [m.start_s for m in equal] == [0.0, 10.0, 30.0, 20.0]  # the dog passes the boat, not the first
    trusted = reranked(MOMENTS, "dog", score, RerankSpec("m", top_n=4, weight=10.0), k=10.0)
    assert [m.start_s for m in trusted] == [30.0, 10.0, 0.0, 20.0]
    for out in (equal, trusted):  # each place keeps its score: the list stays sorted for the cut-off
        assert [m.score for m in out] == [m.score for m in MOMENTS]
    one_text = reranked(MOMENTS, "dog", score, RerankSpec("m", top_n=2), k=10.0)
    assert one_text == MOMENTS  # the first two hold one text: nothing to reorder
    unchanged = reranked(MOMENTS, "dog", score, RerankSpec("m", top_n=4, weight=0.0), k=10.0)
    assert unchanged == MOMENTS
    assert fused_order(np.array([3.0, 2.0, 1.0]), 5.0, 10.0).tolist() == [0, 1, 2]  # agreement: same order


def test_a_moments_text_is_its_distinct_evidence_strongest_first() -> None:
    line = Evidence(SearchChannel.SPEECH, 0.0, 2.0, 0.6, 1, ("semantic",), "Turn left here.")
    same = Evidence(SearchChannel.SUBTITLES, 0.0, 2.0, 0.5, 2, ("lexical",), "Turn left here. ")
    caption = Evidence(SearchChannel.OCR, 0.0, 9.0, 0.4, 3, ("semantic",), "ROUTE 66")
    moment = Moment(1, 0.0, 9.0, 1.0, 1.0, frozenset({SearchChannel.SPEECH}), (line, same, caption))
    assert moment_text(moment) == "Turn left here. / ROUTE 66"
    assert moment_text(MOMENTS[1]) == ""


def _save_tiny_cross_encoder(path: Path) -> Path:
    """A randomly initialised 2-layer BERT with one output, and a word tokenizer that encodes pairs."""
    import torch
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast


    vocab = {token: i for i, token in enumerate(SPECIALS + list(WORDS))}
    core = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer, core.pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", pair="[BOS] $A [EOS] $B:1 [EOS]:1",
        special_tokens=[("[BOS]", 2), ("[EOS]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
                            eos_token="[EOS]").save_pretrained(path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=64, num_labels=1,
                        initializer_range=0.5)  # wide weights: texts score apart
    with torch.random.fork_rng():  # other tests' random models stay as they were
        torch.manual_seed(1)  # this tiny model orders the NASA test's listed moments unlike the search
        BertForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_ce(tmp_path_factory) -> Path:
    return _save_tiny_cross_encoder(tmp_path_factory.mktemp("rerank") / "tiny-cross-encoder")


def test_a_cross_encoder_folder_scores_query_and_text_read_together(tiny_ce: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = ["a red car at night", "the sea and the sky", "a dog in the snow"]
    scores = CrossEncoderScorer(str(tiny_ce))("red car", texts)  # (3,)
    tokenizer = AutoTokenizer.from_pretrained(tiny_ce)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_ce).eval()
    with torch.no_grad():
        pairs = tokenizer(["red car"] * 3, texts, return_tensors="pt", padding=True)
        logits = model(**pairs).logits[:, 0].numpy()  # (3,)
    assert scores.shape == (3,)
    assert np.allclose(scores, logits, atol=1e-4) or np.allclose(scores, 1 / (1 + np.exp(-logits)), atol=1e-4)
    assert np.ptp(scores) > 1e-3  # the texts are told apart


def test_a_missing_or_unreadable_cross_encoder_says_what_to_configure(tmp_path: Path) -> None:
    with pytest.raises(RerankerError, match="SCENEDEX_RERANK_MODEL"):
        CrossEncoderScorer(str(tmp_path / "nowhere"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RerankerError, match="loading failed"):
        CrossEncoderScorer(str(tmp_path))
    (tmp_path / "config.json").write_text('{"architectures": ["BertModel"]}')  # a sentence model's folder
    with pytest.raises(RerankerError, match="no cross-encoder"):
        CrossEncoderScorer(str(tmp_path))


@pytest.mark.e2e
def test_a_search_configured_with_a_cross_encoder_lists_its_fused_order(db, tmp_path: Path, shared_media,
                                                                        tiny_ce: Path, caplog) -> None:
    from dataclasses import replace

    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from workers.index_run import TextChannels, index_paths
    from workers.layout import DataLayout

    library, config = nasa_library(tmp_path, shared_media)
    subtitles_only = TextChannels(speech=False, ocr=None)
    assert index_paths(db, [library], config, (".mp4",), None, text=subtitles_only).indexed
    request = SearchRequest(text="the telescope in the clean room", show_all=True)
    plain_config = SearchConfig(vision=None)
    plain = SearchService(db, DataLayout(tmp_path / "data"), plain_config).search(request).moments.items
    n = min(4, sum(not m.below_cutoff for m in plain))  # what is listed is what is reordered
    assert n >= 2 and all(moment_text(m) for m in plain[:n])
    spec = RerankSpec(str(tiny_ce), top_n=4, weight=10.0)
    service = SearchService(db, DataLayout(tmp_path / "data"), replace(plain_config, rerank=spec))
    listed = service.search(request).moments.items
    texts = [moment_text(m) for m in plain[:n]]
    order = fused_order(CrossEncoderScorer(str(tiny_ce))(request.text, texts), spec.weight, 10.0)
    assert order.tolist() != list(range(n))  # the tiny model disagrees with the search: the test can fail
    assert [(m.start_s, m.end_s) for m in listed[:n]] == [(plain[i].start_s, plain[i].end_s) for i in order]
    assert [m.confidence for m in listed[:n]] == [plain[i].confidence for i in order]  # each keeps its own
    assert listed[n:] == plain[n:]
    broken = replace(plain_config, rerank=RerankSpec(str(tmp_path / "no-such-model")))
    broken_service = SearchService(db, DataLayout(tmp_path / "data"), broken)
    with caplog.at_level(logging.WARNING, logger="search.rerank"):
        kept = broken_service.search(request).moments.items
        broken_service.search(request)
    assert [(m.start_s, m.end_s) for m in kept] == [(m.start_s, m.end_s) for m in plain]
    assert caplog.text.count("SCENEDEX_RERANK_MODEL") == 1  # said once, not at every search

    def failing(pairs, **_):
        raise RuntimeError("out of memory")

    scorer = service._model("reranker", lambda: None)  # the loaded cross-encoder
    scorer._model.predict = failing  # a scoring failure: the search still answers, in its own order
    assert [(m.start_s, m.end_s) for m in service.search(request).moments.items] == \
        [(m.start_s, m.end_s) for m in plain]


def test_prepare_reports_whether_the_configured_cross_encoder_can_serve(tiny_ce: Path, tmp_path: Path) -> None:
    from scenedex.prepare import _check_reranker
    from scenedex.settings import Settings

    said: list[str] = []
    _check_reranker(Settings(rerank_model=str(tiny_ce), rerank_top=10), said.append)
    _check_reranker(Settings(rerank_model=str(tmp_path / "missing")), said.append)
    _check_reranker(Settings(), said.append)  # not configured: nothing to say
    assert said[0] == f"reranking model ready: {tiny_ce} (the first 10 listed moments)"
    assert said[1].startswith("warning: the reranking model") and "SCENEDEX_RERANK_MODEL" in said[1]
    assert len(said) == 2
