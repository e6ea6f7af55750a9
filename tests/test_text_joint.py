"""Sentence models joined (``indexer.text_embedding.JOIN``): one unit vector per text whose inner product is the
mean of the models' cosines, keyed apart from each model alone, and re-embedded into on a model change like any
other sentence model."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.errors import EncoderError
from indexer.text_embedding import DEFAULT_TEXT_MODEL, MINILM_NAME, TextEncoder, describe_text_model
from tests.test_retrieval_meaning import _save_tiny_sentence_model

TEXTS = ["The train leaves at nine.", "We ate dinner in the dining car.", "", "ORIGINAL STORY AND SCRIPT"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("joint") / "tiny-sentence"
    _save_tiny_sentence_model(path)
    return str(path)


def test_a_joined_vector_is_each_models_unit_vector_over_root_n_so_its_inner_product_is_their_mean_cosine(
        tiny: str) -> None:
    joint, default, other = TextEncoder(f"all-MiniLM-L6-v2,{tiny}"), TextEncoder(MINILM_NAME), TextEncoder(tiny)
    v, a, b = joint.encode(TEXTS), default.encode(TEXTS), other.encode(TEXTS)  # (4, 416), (4, 384), (4, 32)
    assert v.shape == (len(TEXTS), a.shape[1] + b.shape[1]) == (len(TEXTS), joint.info.dim)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(v @ v.T, (a @ a.T + b @ b.T) / 2, atol=1e-5)
    assert describe_text_model(f"all-MiniLM-L6-v2,{tiny}") == joint.info  # what ingest records without loading
    batch = joint.encode(TEXTS * 3)  # more than JOINED_AT_ONCE_TEXTS: the parts run in turn, same vectors
    np.testing.assert_allclose(batch[: len(TEXTS)], v, atol=1e-5)


def test_a_joint_is_keyed_apart_from_its_parts_and_from_another_order(tiny: str) -> None:
    keys = {describe_text_model(m).key for m in (MINILM_NAME, tiny, f"all-MiniLM-L6-v2,{tiny}",
                                                 f"{tiny},all-MiniLM-L6-v2", None)}
    assert len(keys) == 5  # an index of one is never searched with another's vectors
    default = describe_text_model(None)  # an empty setting: MiniLM and the int8 mpnet joined
    assert default == describe_text_model(DEFAULT_TEXT_MODEL) and default.dim == 384 + 768
    assert describe_text_model(MINILM_NAME).key == f"sentence:{MINILM_NAME}@53aa51172d142c89"  # as before joints


def test_the_verifier_reads_with_minilm_where_search_joins_it(tiny: str) -> None:
    joint = TextEncoder(f"all-MiniLM-L6-v2,{tiny}")
    assert joint.part(MINILM_NAME) is joint._parts[0] and joint.part("other") is None
    minilm = TextEncoder(MINILM_NAME)
    assert minilm.part(MINILM_NAME) is minilm


def test_a_joint_naming_one_model_twice_is_refused_with_what_to_write(tiny: str) -> None:
    with pytest.raises(EncoderError, match="names each model once"):
        describe_text_model(f"{tiny}, {tiny}")
    with pytest.raises(EncoderError, match="names each model once"):
        TextEncoder("all-MiniLM-L6-v2,")  # an empty part
