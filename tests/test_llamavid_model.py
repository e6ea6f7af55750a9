"""The LLaMA-VID model end to end on tiny random checkpoints loaded the way a user loads one: prompt assembly
with subtitle interleaving, streaming answers through the answer-model protocol, pooled features for
ingest, frame preprocessing, and the released configuration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from qa.answering import AnswerInput, AnswerStats, EvidenceFrame, EvidenceMoment, TimedLine
from qa.errors import AnswerModelError, QuestionError
from qa.llamavid import LlamaVidAnswerer, LongVideoMode, VideoMode
from qa.llamavid.config import GridPooling, ImageMode, VisionTowerConfig, release_7b
from qa.llamavid.config_json import config_from_released, released_config_json
from qa.llamavid.model import question_instruction, tokenize_pieces
from qa.llamavid.prompt import Frame, SubtitleLine, Text, place_subtitles
from qa.llamavid.vision import preprocess_frames
from tests.tiny_llamavid import TINY_VISION, random_frames, save_tiny_llamavid, tiny_model


def moment(n: int, start_s: float, frames: int, lines: tuple[TimedLine, ...] = (), pixels: bool = True,
           seed: int = 0) -> EvidenceMoment:
    images = random_frames(frames, seed=seed)
    return EvidenceMoment(n=n, media_id=n, media_name=f"reel{n}.mp4", start_s=start_s, end_s=start_s + frames,
                          lines=lines, frames=tuple(EvidenceFrame(start_s + i, images[i] if pixels else None)
                                                    for i in range(frames)))


@pytest.fixture(scope="module")
def video_answerer(tmp_path_factory) -> LlamaVidAnswerer:
    return LlamaVidAnswerer.from_directory(save_tiny_llamavid(tmp_path_factory.mktemp("llamavid"), seed=21))


def test_subtitle_lines_follow_the_last_frame_that_starts_before_they_end() -> None:
    lines = [SubtitleLine(0.2, 1.5, "a"), SubtitleLine(2.0, 2.5, "b"), SubtitleLine(0.0, 1.0, "c"),
             SubtitleLine(0.0, 0.0, "d")]
    assert place_subtitles([0.0, 1.0, 2.0], lines) == [["d"], ["c"], ["a"], ["b"]]


def test_answerer_streams_the_greedy_answer_of_a_saved_tiny_model(video_answerer) -> None:
    spoken = (TimedLine("speech", 0.5, 1.5, "the dog"),)
    question = AnswerInput("where is the dog", (moment(1, 0.0, 3, spoken), moment(2, 10.0, 2, seed=1),
                                                moment(3, 20.0, 2, pixels=False)), max_new_tokens=6)
    stats = AnswerStats()
    pieces = list(video_answerer.stream(question, stats))

    model, tokenizer = video_answerer.model, video_answerer.tokenizers.llm
    prompt, frames = video_answerer.prompt(question)
    embeds = model.embed_prompt(prompt, model.video_tokens(frames, question_instruction(
        video_answerer.tokenizers, model.config, question.question)), tokenize_pieces(tokenizer, prompt),
        bos_token_id=tokenizer.bos_token_id)
    reference = model.llm.generate(inputs_embeds=embeds.embeds, max_new_tokens=6, do_sample=False,
                                   eos_token_id=tokenizer.eos_token_id, pad_token_id=0)[0].tolist()
    if tokenizer.eos_token_id in reference:
        reference = reference[:reference.index(tokenizer.eos_token_id)]
    assert stats.generated_tokens == len(reference) > 0
    assert "".join(pieces) == tokenizer.decode(reference, skip_special_tokens=True)
    assert video_answerer.info.kind == "vision-language" and video_answerer.info.visual_tokens_per_frame == 2
    assert video_answerer.info.kv_cache_bytes_per_token == 2 * 2 * 2 * 16 * 4  # K+V·layers·kv heads·dim·fp32
    assert stats.visual_tokens == 2 * 5  # the frames of moment 3 have no pixels
    assert stats.prompt_tokens == embeds.length
    assert 0 < stats.first_token_s <= stats.total_s


def test_video_prompt_numbers_moments_and_puts_lines_after_their_frames(video_answerer) -> None:
    prompt, frames = video_answerer.prompt(AnswerInput("why", (moment(
        4, 65.5, 2, (TimedLine("subtitles", 66.0, 66.5, "red boat"),)),)))
    texts = [piece.text for piece in prompt if isinstance(piece, Text)]
    assert [piece for piece in prompt if isinstance(piece, Frame)] == [Frame(0), Frame(1)]
    assert len(frames) == 2
    assert any("[4] reel4.mp4, 0:01:05.5–0:01:07.5:" in text for text in texts)
    line_at = next(i for i, p in enumerate(prompt) if isinstance(p, Text) and "red boat" in p.text)
    assert prompt.index(Frame(1)) < line_at
    assert texts[0].startswith("A chat between") and texts[-1].endswith("Question: why ASSISTANT:")


def test_long_video_mode_interleaves_subtitles_per_frame(tmp_path) -> None:
    answerer = LlamaVidAnswerer.from_directory(save_tiny_llamavid(tmp_path, mode=LongVideoMode(), seed=22))
    lines = (TimedLine("subtitles", 0.0, 0.5, "the dog"), TimedLine("subtitles", 1.2, 2.5, "a boat"))
    question = AnswerInput("what is on the sea", (moment(1, 0.0, 3, lines),), max_new_tokens=3)
    prompt, frames = answerer.prompt(question)
    frame_at = {piece.index: i for i, piece in enumerate(prompt) if isinstance(piece, Frame)}
    assert prompt[frame_at[0] + 1] == Text("the dog")  # ends at 0.5 s: after the frame at 0 s
    assert prompt[frame_at[1] + 1] == Frame(2)  # nothing ends between 1 s and 2 s
    assert prompt[frame_at[2] + 1].text.startswith("a boat Now the movie end.")  # ends at 2.5 s: after 2 s
    stats = AnswerStats()
    list(answerer.stream(question, stats))
    text_tokens = sum(len(ids) for ids in tokenize_pieces(answerer.tokenizers.llm, prompt)) + 1  # + BOS
    assert stats.visual_tokens == 2 * len(frames) == 6
    assert stats.prompt_tokens == text_tokens + stats.visual_tokens


def test_image_mode_reports_its_tokens_per_frame(tmp_path) -> None:
    answerer = LlamaVidAnswerer.from_directory(save_tiny_llamavid(tmp_path, mode=ImageMode(GridPooling(2))))
    stats = AnswerStats()
    list(answerer.stream(AnswerInput("the sky", (moment(1, 0.0, 1),), max_new_tokens=2), stats))
    assert answerer.info.visual_tokens_per_frame == stats.visual_tokens == 1 + 4


def test_questions_that_do_not_fit_are_refused_with_a_hint(video_answerer) -> None:
    with pytest.raises(AnswerModelError, match="over the model's 512") as error:
        list(video_answerer.stream(AnswerInput("why", (moment(1, 0.0, 2),), max_new_tokens=600)))
    assert "fewer moments or frames" in error.value.hint
    with pytest.raises(QuestionError, match="empty"):
        list(video_answerer.stream(AnswerInput("  ", (moment(1, 0.0, 1),))))


def test_pooled_features_are_the_mean_patch_feature_of_each_frame() -> None:
    tower = tiny_model(VideoMode(), seed=23).vision_tower
    frames = random_frames(5, seed=23)
    pooled = tower.pooled_features(frames, block_frames=2)
    assert pooled.shape == (5, TINY_VISION.width) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, tower.features(frames)[:, 1:].mean(dim=1).numpy(), atol=1e-6)


def test_preprocessing_crops_the_centre_square_and_normalises_with_clip_statistics() -> None:
    frame = np.zeros((48, 96, 3), dtype=np.uint8)
    frame[:, 24:72] = (255, 128, 0)  # the centre square, flanked by black bars that the crop removes
    pixels = preprocess_frames([frame], TINY_VISION)
    assert pixels.shape == (1, 3, 32, 32)
    expected = (torch.tensor([255, 128, 0]) / 255.0 - torch.tensor(TINY_VISION.image_mean)) / torch.tensor(
        TINY_VISION.image_std)
    torch.testing.assert_close(pixels[0, :, 4:28, 4:28].mean(dim=(1, 2)), expected.float(), atol=0.02, rtol=0)


def test_released_configs_map_to_release_sizes_and_modes() -> None:
    video = released_config_json(release_7b(VideoMode()))
    config = config_from_released(video)
    assert config.vision == VisionTowerConfig()
    vision = config.vision
    assert (vision.width, vision.layers_used, vision.patches_per_frame) == (1408, 39, 256)
    assert config.qformer.queries == 32 and config.qformer.instruction_max_tokens == 256
    assert config.mode == VideoMode() and config.tokens_per_frame == 2 and config.llm.context_tokens == 4096
    sizes = config.projector_sizes
    assert (sizes.text_query, sizes.key, sizes.context_value, sizes.content_mlp) == (
        (768, 1408), (1408, 1408), (1408, 4096), (1408, 4096, 4096))
    long_video = config_from_released({**video, "rope_scaling": {"type": "linear", "factor": 16.0}})
    assert long_video.mode == LongVideoMode() and long_video.llm.context_tokens == 65536
    assert config_from_released({**video, "compress_type": "grid:4"}).mode == ImageMode(GridPooling(4))


def test_release_sizes_build_the_released_parameter_counts_and_shapes() -> None:
    from qa.llamavid.model import LlamaVidModel

    with torch.device("meta"):  # shapes only, no memory
        model = LlamaVidModel(release_7b(LongVideoMode()))
    millions = {name: round(sum(p.numel() for p in part.parameters()) / 1e6, 1)
                for name, part in (("tower", model.vision_tower), ("llm", model.llm))}
    assert millions == {"tower": 985.9, "llm": 6738.4}  # EVA ViT-g, 39 of 40 blocks; Vicuna-7B
    state = model.state_dict()
    assert state["vision_tower.embeddings.position_embedding"].shape == (1, 257, 1408)
    assert state["head.vlm_att_query"].shape == (1, 32, 768)
    assert state["head.vlm_att_encoder.embeddings.word_embeddings.weight"].shape == (30523, 768)
    cross_key = "head.vlm_att_encoder.encoder.layer.{}.crossattention.attention.key.weight"
    assert state[cross_key.format(10)].shape == (768, 1408) and cross_key.format(11) not in state
    assert state["head.mm_projector.2.weight"].shape == (4096, 4096)
    assert model.llm.config.max_position_embeddings * 16 == model.config.llm.context_tokens == 65536


def test_the_tower_alone_loads_from_the_eva_file_for_ingest(tmp_path) -> None:
    from qa.errors import CheckpointError
    from qa.llamavid.checkpoint import EVA_FILE, load_vision_tower

    model = tiny_model(VideoMode(), seed=24)
    save_tiny_llamavid(tmp_path, model=model)
    frames = random_frames(3, seed=24)
    tower = load_vision_tower(tmp_path / EVA_FILE, TINY_VISION)
    np.testing.assert_array_equal(tower.pooled_features(frames), model.vision_tower.pooled_features(frames))
    with pytest.raises(CheckpointError, match=r"missing encoder\.layers\.3\."):
        load_vision_tower(tmp_path / EVA_FILE, replace(TINY_VISION, layers_used=4))  # the file has 3 blocks
