"""Retrieval-trained sentence models want a prompt before a query and another before stored text (e5's
"query: " / "passage: "): scenedex reads them from the model's folder, embeds queries and stored text each
after its own, and keys the stored vectors by the document prompt, so text embedded without it is embedded
again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workers.layout import DataLayout
from db.session import Database
from indexer.errors import EncoderError
from indexer.text_embedding import MINILM_NAME, TextEncoder, TextPrompts, describe_text_model, model_prompts
from tests.test_retrieval_meaning import _save_tiny_sentence_model, nasa_library

TEXTS = ["The train leaves at nine.", "We ate dinner in the dining car."]
# e5 writes "query: " and "passage: "; the tiny model's tokenizer knows only a few words
# (tests.tiny_models.WORDS) and would read both as the same unknown token, so its prompts are words it knows
QUERY, PASSAGE = "red sky: ", "blue sea: "


def _write_prompts(folder: Path, prompts: dict[str, str] | None) -> None:
    config = folder / "config_sentence_transformers.json"
    data = json.loads(config.read_text()) if config.is_file() else {}
    data["prompts"] = prompts or {}
    config.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "tiny-plain"
    _save_tiny_sentence_model(path, seed=0, initializer_range=0.5)  # vectors apart: a prompt moves them
    _write_prompts(path, None)
    return path


@pytest.fixture(scope="module")
def prompted(plain: Path) -> Path:
    """The same weights as ``plain``, with e5's prompts in its folder."""
    path = plain.parent / "tiny-e5-style"
    shutil.copytree(plain, path)
    _write_prompts(path, {"query": QUERY, "passage": PASSAGE})
    return path


def test_prompts_are_read_under_the_names_models_publish_them_with(tmp_path: Path) -> None:
    assert model_prompts(tmp_path) == TextPrompts()  # no config: a symmetric model
    _write_prompts(tmp_path, {"query": "search_query: ", "search_document": "search_document: "})  # nomic's
    assert model_prompts(tmp_path) == TextPrompts("search_query: ", "search_document: ")
    bge = "Represent this sentence for searching relevant passages: "
    _write_prompts(tmp_path, {"query": bge})  # a query instruction only
    assert model_prompts(tmp_path) == TextPrompts(bge, "")
    (tmp_path / "config_sentence_transformers.json").write_text('{"prompts": {"query": 3}}')
    with pytest.raises(EncoderError, match="must map names to strings"):
        model_prompts(tmp_path)


def test_queries_and_stored_text_are_embedded_each_after_its_own_prompt(plain: Path, prompted: Path) -> None:
    from sentence_transformers import SentenceTransformer

    raw = SentenceTransformer(str(plain), device="cpu")
    encoder = TextEncoder(str(prompted))
    assert encoder.prompts == TextPrompts(QUERY, PASSAGE)
    documents, queries = encoder.encode(TEXTS), encoder.encode_queries(TEXTS)  # (2, 32) each
    np.testing.assert_allclose(documents, raw.encode([PASSAGE + t for t in TEXTS], normalize_embeddings=True),
                               atol=1e-5)
    np.testing.assert_allclose(queries, raw.encode([QUERY + t for t in TEXTS], normalize_embeddings=True),
                               atol=1e-5)
    assert not np.allclose(documents, queries, atol=1e-3)
    symmetric = TextEncoder(str(plain))
    np.testing.assert_allclose(symmetric.encode(TEXTS), symmetric.encode_queries(TEXTS), atol=1e-6)


def test_stored_vectors_are_keyed_by_the_document_prompt_not_the_query_prompt(plain: Path, prompted: Path,
                                                                               tmp_path: Path) -> None:
    query_only = tmp_path / "tiny-query-only"
    shutil.copytree(plain, query_only)
    _write_prompts(query_only, {"query": QUERY})
    plain_key, prompted_key = describe_text_model(str(plain)).key, describe_text_model(str(prompted)).key
    assert prompted_key == plain_key.replace(str(plain), str(prompted)) + TextPrompts(document=PASSAGE).tag
    assert describe_text_model(str(query_only)).key == plain_key.replace(str(plain), str(query_only))
    assert TextEncoder(str(prompted)).info == describe_text_model(str(prompted))  # loaded == described


def test_a_joint_gives_each_model_its_own_prompts(prompted: Path) -> None:
    joint, minilm = TextEncoder(f"{MINILM_NAME},{prompted}"), TextEncoder(MINILM_NAME)
    tiny = TextEncoder(str(prompted))
    expected = np.concatenate([minilm.encode(TEXTS), tiny.encode_queries(TEXTS)], axis=1) / np.sqrt(2)
    np.testing.assert_allclose(joint.encode_queries(TEXTS), expected, atol=1e-5)
    expected = np.concatenate([minilm.encode(TEXTS), tiny.encode(TEXTS)], axis=1) / np.sqrt(2)
    np.testing.assert_allclose(joint.encode(TEXTS), expected, atol=1e-5)


@pytest.mark.e2e
def test_search_compares_the_prompted_query_with_text_stored_after_its_prompt(
        db: Database, tmp_path: Path, shared_media, prompted: Path) -> None:
    from db.repositories import library as library_repo
    from db.repositories import text as text_repo
    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from workers.index_run import TextChannels, index_paths

    library, config = nasa_library(tmp_path, shared_media)
    channels = TextChannels(speech=False, ocr=None, text_model=str(prompted))
    assert len(index_paths(db, [library], config, (".mp4",), None, text=channels).indexed) == 1
    encoder = TextEncoder(str(prompted))
    with db.session() as session:
        (media,) = library_repo.list_media(session)
        chunks = [text for *_, text in text_repo.chunk_spans(session, media.id)[1]]
    assert len(chunks) >= 4
    query = "zebra quantum harbour"  # no word of the clip's subtitles: only sentence vectors match it
    cosines = encoder.encode(chunks) @ encoder.encode_queries([query])[0]  # (n,)
    search = SearchConfig(vision=None, text_model=str(prompted))
    service = SearchService(db, DataLayout(tmp_path / "data"), search)
    response = service.search(SearchRequest(text=query, show_all=True))
    assert response.moments is not None and response.moments.items
    unprompted = encoder.encode(chunks) @ encoder.encode([query])[0]  # (n,) what a symmetric search would see
    assert abs(float(unprompted.max()) - float(cosines.max())) > 5e-3  # the check below tells them apart
    assert response.moments.items[0].signals.semantic == pytest.approx(float(cosines.max()), abs=1e-3)
