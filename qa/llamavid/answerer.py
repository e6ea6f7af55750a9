"""``LlamaVidAnswerer``: the answer-model protocol of ``qa.answering`` on top of a loaded LLaMA-VID model.

The prompt numbers each evidence moment ``[n]`` with its file and span; the frames of a moment become 2
tokens each (video modes) and its lines become text: after the moment's frames in image and video modes,
interleaved per frame in long-video mode (each line after the last frame that starts before it ends, as the
long-video model was trained). The context token of every frame is computed from the question, so nothing
visual is cached between questions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qa.answering import AnswerInput, AnswerModelInfo, AnswerStats, EvidenceMoment
from qa.errors import AnswerModelError, QuestionError
from qa.llamavid.checkpoint import LoadedLlamaVid, LoadOptions, load_llamavid
from qa.llamavid.config import LongVideoMode, interleaves_subtitles
from qa.llamavid.model import question_instruction, stream_text, tokenize_pieces
from qa.llamavid.prompt import (MOVIE_END, MOVIE_START, Frame, Piece, SubtitleLine, Text, interleaved_frames,
                                vicuna_chat)

INSTRUCTION = ("Answer the question from the video moments below. Cite the moments you use by their number "
               "in brackets, like [1].")


def clock(t_s: float) -> str:
    """0:01:05.5 style time for the prompt."""
    minutes, seconds = divmod(max(t_s, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{seconds:04.1f}"


def moment_pieces(moment: EvidenceMoment, first_frame: int,
                  interleave: bool) -> tuple[list[Piece], list[np.ndarray]]:
    """One moment's header, frames and lines; returns the pieces and the frames' pixels (frames without pixels
    are left out)."""
    frames = [frame for frame in moment.frames if frame.pixels is not None]
    span = f"{clock(moment.start_s)}–{clock(moment.end_s)}"
    pieces: list[Piece] = [Text(f"\n[{moment.n}] {moment.media_name}, {span}:")]
    if interleave:
        lines = [SubtitleLine(line.start_s, line.end_s, line.text) for line in moment.lines]
        pieces += interleaved_frames(first_frame, [frame.t_s for frame in frames], lines)
    else:
        pieces += [Frame(first_frame + i) for i in range(len(frames))]
        pieces += [Text(f"\n{line.channel} {clock(line.start_s)}: {line.text}") for line in moment.lines]
    return pieces, [frame.pixels for frame in frames]


class LlamaVidAnswerer:
    """Answers from evidence moments with their frames (2 visual tokens each in video modes) and their
    text."""

    def __init__(self, loaded: LoadedLlamaVid) -> None:
        self.model = loaded.model
        self.tokenizers = loaded.tokenizers
        config = self.model.config
        llm = config.llm
        head_dim = llm.hidden // llm.heads
        kv_bytes = 2 * llm.layers * llm.kv_heads * head_dim * self.model.dtype.itemsize  # K and V
        self.info = AnswerModelInfo(key=f"llama-vid:{loaded.directory}", kind="vision-language",
                                    context_tokens=llm.context_tokens,
                                    visual_tokens_per_frame=config.tokens_per_frame,
                                    note="answered by LLaMA-VID from the moments' frames and text",
                                    kv_cache_bytes_per_token=kv_bytes, frame_px=config.vision.image_px)

    @classmethod
    def from_directory(cls, directory: Path, options: LoadOptions = LoadOptions()) -> LlamaVidAnswerer:
        return cls(load_llamavid(Path(directory), options))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizers.llm(text, add_special_tokens=False)["input_ids"])

    def prompt(self, question: AnswerInput) -> tuple[tuple[Piece, ...], list[np.ndarray]]:
        """The chat prompt's pieces and the pixels of its frames, in order."""
        interleave = interleaves_subtitles(self.model.config.mode)
        user: list[Piece] = [Text(INSTRUCTION)]
        if isinstance(self.model.config.mode, LongVideoMode):
            user.append(Text(" " + MOVIE_START))
        frames: list[np.ndarray] = []
        for moment in question.moments:  # already in the order the model should see them
            pieces, pixels = moment_pieces(moment, len(frames), interleave)
            user += pieces
            frames += pixels
        if isinstance(self.model.config.mode, LongVideoMode):
            user.append(Text(" " + MOVIE_END))
        user.append(Text(f"\nQuestion: {question.question.strip()}"))
        return vicuna_chat(user), frames

    def stream(self, question: AnswerInput, stats: AnswerStats | None = None) -> Iterator[str]:
        stats = stats if stats is not None else AnswerStats()
        t0 = time.perf_counter()
        if not question.question.strip():
            raise QuestionError("the question is empty", hint="ask something about the moments found")
        config, llm_tokenizer = self.model.config, self.tokenizers.llm
        pieces, frames = self.prompt(question)
        instruction = question_instruction(self.tokenizers, config, question.question.strip())
        text_ids = tokenize_pieces(llm_tokenizer, pieces)
        visual_tokens = len(frames) * config.tokens_per_frame
        prompt_tokens = int(llm_tokenizer.bos_token_id is not None) + sum(map(len, text_ids)) + visual_tokens
        if prompt_tokens + question.max_new_tokens > config.llm.context_tokens:  # checked before any encoding
            raise AnswerModelError(
                f"the prompt takes {prompt_tokens} tokens ({visual_tokens} visual) and the answer up to "
                f"{question.max_new_tokens}, over the model's {config.llm.context_tokens}",
                hint=f"send fewer moments or frames (each frame costs {config.tokens_per_frame} tokens), "
                     "or use the long-video model")
        try:
            tokens = self.model.video_tokens(frames, instruction)  # (N, T, H)
            stats.extra["frames"] = float(len(frames))
            stats.extra["frame_tokens_s"] = time.perf_counter() - t0
            embeds = self.model.embed_prompt(pieces, tokens, text_ids,
                                             bos_token_id=llm_tokenizer.bos_token_id)
            assert embeds.length == prompt_tokens, f"{embeds.length} prompt tokens, {prompt_tokens} planned"
            stats.prompt_tokens, stats.visual_tokens = embeds.length, embeds.visual_tokens
            ids = self.model.generate_ids(embeds, question.max_new_tokens,
                                          eos_token_id=llm_tokenizer.eos_token_id)
            for piece in stream_text(llm_tokenizer, self._counted(ids, stats)):
                if not stats.first_token_s:
                    stats.first_token_s = time.perf_counter() - t0
                yield piece
        except (RuntimeError, MemoryError) as exc:  # out of memory, or a broken checkpoint found late
            raise AnswerModelError(f"{self.info.key} failed while answering from {len(frames)} frames: {exc}",
                                   hint="send fewer frames, lower block_frames, or use a smaller dtype"
                                   ) from exc
        finally:
            stats.total_s = time.perf_counter() - t0

    @staticmethod
    def _counted(ids: Iterator[int], stats: AnswerStats) -> Iterator[int]:
        for token_id in ids:
            stats.generated_tokens += 1
            yield token_id
