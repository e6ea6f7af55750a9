"""LLaMA-VID token generation on random tensors and tiny random models: the paper's formulas restated with
plain torch ops, pooling, block-wise computation, what the Q-Former reads in each mode, and exact shapes
per mode."""

from __future__ import annotations

import math

import pytest
import torch

from qa.llamavid.config import AllPatches, GridPooling, ImageMode, LongVideoMode, MeanPooling, VideoMode
from qa.llamavid.head import InstructionTokens, tokenize_instruction
from qa.llamavid.tokens import context_attention, pool_content
from tests.tiny_llamavid import TINY_LLM, TINY_QFORMER, TINY_VISION, VOCAB, random_frames, tiny_model

N_FRAMES = 5
PATCHES = TINY_VISION.patches_per_frame  # 16, a 4×4 grid
WIDTH = TINY_VISION.width
Q = TINY_QFORMER.queries


def random_features(n: int = N_FRAMES, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 1 + PATCHES, WIDTH, generator=torch.Generator().manual_seed(seed))  # (N, 1 + P, D)


def random_instruction(length: int = 7, seed: int = 0) -> InstructionTokens:
    ids = torch.randint(4, VOCAB, (1, length), generator=torch.Generator().manual_seed(seed))
    return InstructionTokens(ids=ids, mask=torch.ones_like(ids))


def test_context_attention_is_the_mean_over_queries_of_softmax_attention_over_raw_features() -> None:
    g = torch.Generator().manual_seed(1)
    q = torch.randn(3, 4, 8, generator=g)  # 3 frames, 4 queries
    k, x = torch.randn(3, 6, 8, generator=g), torch.randn(3, 6, 8, generator=g)  # 6 patches
    expected = torch.zeros(3, 8)
    for t in range(3):  # frame by frame, query by query, written out
        for i in range(4):
            scores = torch.stack([q[t, i].dot(k[t, j]) / math.sqrt(8) for j in range(6)])
            weights = scores.exp() / scores.exp().sum()
            expected[t] += sum(weights[j] * x[t, j] for j in range(6)) / 4
    torch.testing.assert_close(context_attention(q, k, x), expected, atol=1e-5, rtol=1e-5)


def test_frame_tokens_equal_the_papers_formulas_with_plain_ops() -> None:
    model = tiny_model(VideoMode(), seed=2)
    head, features, instruction = model.head, random_features(), random_instruction()
    with torch.no_grad():
        tokens = head.frame_tokens(features, instruction)  # (N, 2, H)
        text_q = head.text_queries(features, instruction)  # (N, Q, D); in video mode it reads CLS too
        x = features[:, 1:]  # (N, P, D): CLS dropped
        keys = x @ head.vlm_att_key_projector.weight.T + head.vlm_att_key_projector.bias
        attention = torch.softmax(text_q @ keys.transpose(1, 2) / math.sqrt(WIDTH), dim=-1)  # (N, Q, P)
        e_t = (attention @ x).mean(dim=1)  # (N, D): values are the raw features
        context = e_t @ head.vlm_att_val_projector.weight.T + head.vlm_att_val_projector.bias
        first, second = head.mm_projector[0], head.mm_projector[2]
        hidden = torch.nn.functional.gelu(x.mean(dim=1) @ first.weight.T + first.bias)
        content = hidden @ second.weight.T + second.bias
    assert tokens.shape == (N_FRAMES, 2, TINY_LLM.hidden)
    torch.testing.assert_close(tokens[:, 0], context, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tokens[:, 1], content, atol=1e-5, rtol=1e-5)


def test_text_queries_are_the_projected_query_outputs_of_the_qformer_fed_queries_and_question() -> None:
    head, features, instruction = tiny_model(seed=3).head, random_features(2), random_instruction()
    with torch.no_grad():
        queries = head.vlm_att_query.expand(2, -1, -1)
        out = head.vlm_att_encoder(input_ids=instruction.ids.expand(2, -1),
                                   attention_mask=torch.ones(2, Q + instruction.ids.shape[1]),
                                   query_embeds=queries, encoder_hidden_states=head.vlm_att_ln(features)
                                   ).last_hidden_state
        expected = out[:, :Q] @ head.vlm_att_projector.weight.T + head.vlm_att_projector.bias
        torch.testing.assert_close(head.text_queries(features, instruction), expected, atol=1e-5, rtol=1e-5)


def test_grid_pooling_averages_each_cell_and_mean_pooling_all_patches() -> None:
    patches = torch.randn(2, 16, 3, generator=torch.Generator().manual_seed(4))  # a 4×4 grid
    grid = pool_content(patches, GridPooling(2))
    assert grid.shape == (2, 4, 3)
    for cell_row in range(2):
        for cell_col in range(2):
            members = [(2 * cell_row + r) * 4 + 2 * cell_col + c for r in range(2) for c in range(2)]
            torch.testing.assert_close(grid[:, 2 * cell_row + cell_col], patches[:, members].mean(dim=1))
    torch.testing.assert_close(pool_content(patches, MeanPooling())[:, 0], patches.mean(dim=1))
    assert pool_content(patches, AllPatches()) is patches


def test_block_wise_tokens_equal_all_at_once() -> None:
    head, features, instruction = tiny_model(seed=5).head, random_features(7), random_instruction()
    with torch.no_grad():
        all_at_once = head.frame_tokens(features, instruction, block_frames=64)
        in_blocks = head.frame_tokens(features, instruction, block_frames=3)  # blocks of 3, 3, 1
    torch.testing.assert_close(in_blocks, all_at_once, atol=1e-6, rtol=1e-5)


def test_block_wise_video_tokens_from_pixels_equal_all_at_once() -> None:
    frames, instruction = random_frames(5, seed=6), random_instruction()
    small_blocks, one_block = tiny_model(VideoMode(), seed=6, block_frames=2), tiny_model(VideoMode(), seed=6)
    torch.testing.assert_close(small_blocks.video_tokens(frames, instruction),
                               one_block.video_tokens(frames, instruction), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode, qformer_reads_cls", [(VideoMode(), True), (LongVideoMode(), False)])
def test_qformer_reads_cls_in_video_mode_and_patches_only_in_long_video_mode(mode, qformer_reads_cls) -> None:
    head, features, instruction = tiny_model(mode, seed=7).head, random_features(3), random_instruction()
    other_cls = features.clone()
    # a new random CLS, not a shift: vlm_att_ln would hide a constant shift
    other_cls[:, 0] = torch.randn(3, WIDTH, generator=torch.Generator().manual_seed(70))
    with torch.no_grad():
        before, after = head.frame_tokens(features, instruction), head.frame_tokens(other_cls, instruction)
    torch.testing.assert_close(after[:, 1], before[:, 1])  # content never reads CLS
    assert (not torch.allclose(after[:, 0], before[:, 0])) == qformer_reads_cls


def test_the_question_changes_the_context_token_and_not_the_content_token() -> None:
    head, features = tiny_model(VideoMode(), seed=8).head, random_features(3)
    with torch.no_grad():
        one, other = (head.frame_tokens(features, random_instruction(seed=s)) for s in (1, 2))
    torch.testing.assert_close(one[:, 1], other[:, 1])
    assert not torch.allclose(one[:, 0], other[:, 0])


def test_long_questions_are_truncated_from_the_left(tmp_path) -> None:
    from transformers import AutoTokenizer

    from tests.tiny_models import save_word_tokenizer

    save_word_tokenizer(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    question = " ".join(["the dog"] * 20 + ["red", "rocket", "at", "night"])
    instruction = tokenize_instruction(tokenizer, question, max_tokens=TINY_QFORMER.instruction_max_tokens)
    assert instruction.ids.shape == (1, TINY_QFORMER.instruction_max_tokens)
    words = tokenizer.convert_ids_to_tokens(instruction.ids[0].tolist())
    assert words[-5:] == ["red", "rocket", "at", "night", "[EOS]"]


@pytest.mark.parametrize("mode, tokens_per_frame", [
    (ImageMode(AllPatches()), 1 + PATCHES), (ImageMode(GridPooling(2)), 1 + 4),
    (ImageMode(GridPooling(1)), 2), (VideoMode(), 2), (LongVideoMode(), 2)])
def test_frame_tokens_have_the_exact_shape_of_each_mode(mode, tokens_per_frame) -> None:
    model = tiny_model(mode, seed=9)
    tokens = model.video_tokens(random_frames(3, seed=9), random_instruction())
    assert model.config.tokens_per_frame == tokens_per_frame
    assert tokens.shape == (3, tokens_per_frame, TINY_LLM.hidden)
    assert torch.isfinite(tokens).all()


def test_no_frames_give_no_tokens() -> None:
    model = tiny_model(VideoMode(), seed=10)
    assert model.video_tokens([], random_instruction()).shape == (0, 2, TINY_LLM.hidden)
