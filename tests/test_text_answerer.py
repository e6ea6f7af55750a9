"""The text answer model and its prompt: moments numbered in time order with their timed lines, citations read
back from the answer, streaming that equals transformers' own greedy generation (tiny random Llama), refusals of
what it cannot use, and the packaged SmolLM2 checked against its pinned sha256 before it is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answering import AnswerInput, AnswerStats, EvidenceFrame, EvidenceMoment, TimedLine
from qa.errors import AnswerModelError, CheckpointError
from qa.packaged_llm import (DONE_MARKER, SMOLLM2_135M, dense_checkpoint, dense_dir, dense_state, packaged_gguf,
                             verify_sha256)
from qa.prompt import cited_numbers, drop_repeated_lines, number_in_time_order, user_message
from qa.text_answerer import TEXT_NOTE, TextAnswerer, TextModelSpec, resolve_text_model
from tests.tiny_models import save_tiny_clip, save_word_tokenizer

GODDARD = TimedLine("subtitles", 8.35, 12.47, "at NASA's Goddard Space Flight Center in Greenbelt, Maryland.")
SAID = TimedLine("speech", 8.58, 12.06, "at NASA's Goddard Space Flight Center in Greenbelt, Maryland")
OPENING = TimedLine("subtitles", 0.21, 4.26, "This is the optical and science segment of the Webb")
CHAT_TEMPLATE = ("{% for m in messages %}[BOS] {{ m['role'] }} {{ m['content'] }} [EOS] {% endfor %}"
                 "{% if add_generation_prompt %}[BOS] assistant{% endif %}")


def test_moments_are_numbered_in_time_order_file_by_file() -> None:
    later = EvidenceMoment(0, 2, "b.mp4", 8.076, 12.06, (GODDARD,))
    earlier = EvidenceMoment(0, 2, "b.mp4", 0.0, 4.97, (OPENING,))
    other = EvidenceMoment(0, 1, "a.mp4", 30.0, 33.5, (TimedLine("ocr", 30.2, 33.0, "BUILDING 29"),))
    numbered = number_in_time_order([later, other, earlier])  # search's ranking order
    assert [(m.n, m.media_name, m.start_s) for m in numbered] == [(1, "a.mp4", 30.0), (2, "b.mp4", 0.0),
                                                                   (3, "b.mp4", 8.076)]
    text = user_message("Where is the Webb telescope being assembled?", numbered)
    assert "[3] b.mp4 0:08.1–0:12.1\n0:08.4 subtitle: at NASA's Goddard" in text
    assert "[1] a.mp4 0:30.0–0:33.5\n0:30.2 on screen: BUILDING 29" in text
    assert text.index("[1]") < text.index("[2]") < text.index("[3]") < text.index("Question: Where is the Webb")


def test_citations_are_read_back_in_order_and_only_for_given_moments() -> None:
    assert cited_numbers("At Goddard [3], in Maryland [1][3].", 3) == [3, 1]
    assert cited_numbers("See [1, 2] and [2 and 4]; not [7] or [x].", 4) == [1, 2, 4]
    assert cited_numbers("No citation at all (1) or 1.", 3) == []


def test_speech_that_repeats_a_subtitle_is_given_once() -> None:
    other_time = TimedLine("speech", 20.0, 24.0, SAID.text)
    kept = drop_repeated_lines([SAID, OPENING, GODDARD, other_time])
    assert kept == (OPENING, GODDARD, other_time)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a word-level tokenizer and a chat template, saved as a checkpoint folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    vocab_size = save_word_tokenizer(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def _question(*moments: EvidenceMoment, max_new_tokens: int = 12) -> AnswerInput:
    return AnswerInput("where is the rocket", tuple(moments), max_new_tokens)


def test_streaming_equals_transformers_greedy_generation(tiny_llama: Path) -> None:
    import torch

    answerer = TextAnswerer(TextModelSpec(tiny_llama, "tiny", max_context_tokens=256))
    assert answerer.info.kind == "text" and answerer.info.visual_tokens_per_frame == 0
    assert answerer.info.note == TEXT_NOTE and answerer.info.context_tokens == 256
    question = _question(EvidenceMoment(1, 1, "a.mp4", 0.0, 4.0,
                                        (TimedLine("speech", 0.5, 3.5, "the rocket is on the launch pad"),)))
    stats = AnswerStats()
    pieces = list(answerer.stream(question, stats))
    ids = answerer.prompt_ids(question)  # (1, T)
    with torch.inference_mode():
        expected_ids = answerer.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12,
                                               do_sample=False, eos_token_id=sorted(answerer.stop_ids),
                                               pad_token_id=0)[0, ids.shape[1]:]
    expected_ids = [int(i) for i in expected_ids if int(i) not in answerer.stop_ids]
    assert "".join(pieces) == answerer.tokenizer.decode(expected_ids, skip_special_tokens=True)
    assert stats.prompt_tokens == ids.shape[1] and stats.generated_tokens == len(expected_ids)
    assert len(pieces) > 1 and 0 < stats.first_token_s <= stats.total_s


def test_a_prompt_too_long_for_the_context_is_refused(tiny_llama: Path) -> None:
    answerer = TextAnswerer(TextModelSpec(tiny_llama, "tiny", max_context_tokens=40))
    lines = tuple(TimedLine("speech", t, t + 1, "the rocket and the sea at night") for t in range(20))
    long_moment = EvidenceMoment(1, 1, "a.mp4", 0.0, 60.0, lines)
    with pytest.raises(AnswerModelError, match="more than the 40 tokens"):
        list(answerer.stream(_question(long_moment)))


def test_a_text_model_refuses_pixels(tiny_llama: Path) -> None:
    import numpy as np

    answerer = TextAnswerer(TextModelSpec(tiny_llama, "tiny"))
    with_frame = EvidenceMoment(1, 1, "a.mp4", 0.0, 4.0, frames=(EvidenceFrame(1.0, np.zeros((8, 8, 3), np.uint8)),))
    with pytest.raises(AnswerModelError, match="cannot look at frames"):
        list(answerer.stream(_question(with_frame)))


def test_only_llama_instruct_checkpoints_are_answer_models(tiny_llama: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a Llama-architecture"):
        TextAnswerer(TextModelSpec(save_tiny_clip(tmp_path / "clip"), "clip"))
    with pytest.raises(CheckpointError, match="is not a folder"):
        resolve_text_model(str(tmp_path / "missing"), tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in tiny_llama.iterdir():
        if f.name != "chat_template.jinja":
            (plain / f.name).write_bytes(f.read_bytes())
    config = plain / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"chat_template"', '"unused_template"'))
    with pytest.raises(CheckpointError, match="no chat template"):
        TextAnswerer(TextModelSpec(plain, "plain"))


def test_a_gguf_that_is_not_the_pinned_file_is_refused_before_loading(tmp_path: Path) -> None:
    impostor = tmp_path / SMOLLM2_135M.file_name
    impostor.write_bytes(b"GGUF" + bytes(4096))
    with pytest.raises(CheckpointError, match="not the pinned") as caught:
        dense_checkpoint(tmp_path / "cache", SMOLLM2_135M, gguf_path=impostor)
    assert "reinstall" in caught.value.hint
    assert not dense_dir(tmp_path / "cache", SMOLLM2_135M).exists(), "nothing is written from a refused file"


def test_the_packaged_gguf_is_the_pinned_file() -> None:
    verify_sha256(packaged_gguf(SMOLLM2_135M), SMOLLM2_135M.sha256)


def test_a_finished_dense_copy_is_used_without_the_gguf(tmp_path: Path) -> None:
    target = dense_dir(tmp_path, SMOLLM2_135M)
    target.mkdir(parents=True)
    (target / DONE_MARKER).write_text("{}")
    assert dense_checkpoint(tmp_path, SMOLLM2_135M, gguf_path=tmp_path / "absent.gguf") == target


def _tiny_llama(tied: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=tied))


def test_a_tied_head_left_without_data_is_taken_from_the_embeddings(tmp_path: Path) -> None:
    import torch

    model = _tiny_llama(tied=True)
    model.lm_head.weight = torch.nn.Parameter(torch.empty(64, 16, device="meta"))  # as the loader once left it
    state = dense_state(model, tmp_path / "m.gguf")
    assert torch.equal(state["lm_head.weight"], model.get_input_embeddings().weight)
    assert not any(v.is_meta for v in state.values())


def test_any_other_tensor_without_data_is_refused_by_name(tmp_path: Path) -> None:
    import torch

    model = _tiny_llama(tied=False)
    model.lm_head.weight = torch.nn.Parameter(torch.empty(64, 16, device="meta"))  # untied: nothing to take it from
    with pytest.raises(CheckpointError, match="lm_head.weight"):
        dense_state(model, tmp_path / "m.gguf")
