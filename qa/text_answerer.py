"""The text answer model: a small Llama-architecture instruct LLM that answers from what was said, subtitled and
shown on screen in the retrieved moments. It sees no pixels and carries no visual projection: a vision-language
answer needs a model trained for it (LLaMA-VID, ``qa/llamavid``), never a text LLM with untrained projections.

Greedy decoding, one token at a time with the KV cache, so each piece is handed out as soon as it exists and a
caller that stops reading stops the generation. CPU by default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answering import AnswerInput, AnswerModelInfo, AnswerStats
from qa.errors import AnswerModelError, CheckpointError
from qa.prompt import SYSTEM_PROMPT, user_message

log = logging.getLogger(__name__)
TEXT_NOTE = ("answered from transcript, subtitle and on-screen text only; no vision-language model is configured")
LLAMA_MODEL_TYPES = ("llama",)


@dataclass(frozen=True)
class TextModelSpec:
    directory: Path  # a transformers checkpoint: config.json, weights, tokenizer with a chat template
    key: str  # shown with every answer, e.g. "smollm2-135m-instruct:q4_1"
    max_context_tokens: int = 4096  # prompt + answer, at most (less when the model's own context is smaller)
    device: str = "cpu"
    threads: int | None = None  # torch CPU threads (None: torch's default)


class TextAnswerer:
    """``AnswerModel`` over a Llama-architecture instruct checkpoint; load once, answer many times."""

    def __init__(self, spec: TextModelSpec) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        try:
            config = AutoConfig.from_pretrained(spec.directory)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{spec.directory} is not a model directory: {exc}",
                                  "give a transformers checkpoint folder (config.json, weights, tokenizer)") from exc
        if config.model_type not in LLAMA_MODEL_TYPES:
            raise CheckpointError(f"{spec.directory} holds a {config.model_type!r} model, not a Llama-architecture "
                                  "language model", "point SCENEDEX_ASK_MODEL at a Llama-architecture instruct model")
        if spec.threads:
            torch.set_num_threads(spec.threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.directory)
            self.model = AutoModelForCausalLM.from_pretrained(spec.directory, dtype=torch.float32).to(spec.device)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"cannot load the answer model in {spec.directory}: {exc}",
                                  "check the folder holds complete weights and a tokenizer") from exc
        if not self.tokenizer.chat_template:
            raise CheckpointError(f"{spec.directory} has no chat template: it is not an instruct model",
                                  "use an instruct (chat) model, whose tokenizer carries a chat template")
        self.model.eval()
        model_context = int(getattr(config, "max_position_embeddings", spec.max_context_tokens))
        self.info = AnswerModelInfo(key=spec.key, kind="text", visual_tokens_per_frame=0, note=TEXT_NOTE,
                                    context_tokens=min(model_context, spec.max_context_tokens))
        self.stop_ids = _stop_ids(self.tokenizer, self.model)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, question: AnswerInput) -> Any:
        """(1, T) int64 token ids of the chat prompt, ending where the assistant's answer begins."""
        if any(f.pixels is not None for m in question.moments for f in m.frames):
            raise AnswerModelError(f"{self.info.key} is a text model: it cannot look at frames",
                                   "configure a vision-language answer model to answer from pictures")
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": user_message(question.question, question.moments)}]
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)
        return encoded["input_ids"]

    def stream(self, question: AnswerInput, stats: AnswerStats | None = None) -> Iterator[str]:
        import torch

        t0 = time.perf_counter()
        stats = stats if stats is not None else AnswerStats()
        ids = self.prompt_ids(question).to(self.spec.device)  # (1, T)
        prompt_tokens = int(ids.shape[1])
        if prompt_tokens + question.max_new_tokens > self.info.context_tokens:
            raise AnswerModelError(f"the prompt takes {prompt_tokens} tokens and the answer up to "
                                   f"{question.max_new_tokens}: more than the {self.info.context_tokens} tokens "
                                   f"{self.info.key} takes", "ask with fewer moments (max_moments)")
        stats.prompt_tokens = prompt_tokens
        generated: list[int] = []
        shown = ""
        with torch.inference_mode():
            try:
                out = self.model(input_ids=ids, use_cache=True)
                for _ in range(question.max_new_tokens):
                    next_id = int(out.logits[0, -1].argmax())  # greedy
                    if next_id in self.stop_ids:
                        break
                    generated.append(next_id)
                    text = self.tokenizer.decode(generated, skip_special_tokens=True)
                    if not stats.first_token_s:
                        stats.first_token_s = time.perf_counter() - t0
                    stats.generated_tokens = len(generated)
                    if not text.endswith("\ufffd") and len(text) > len(shown):  # never half a character
                        piece, shown = text[len(shown):], text
                        yield piece
                    step = torch.tensor([[next_id]], device=ids.device)  # (1, 1)
                    out = self.model(input_ids=step, past_key_values=out.past_key_values, use_cache=True)
            except RuntimeError as exc:  # out of memory, or a broken checkpoint found late
                raise AnswerModelError(f"{self.info.key} failed while answering: {exc}",
                                       "try fewer moments, or a smaller model") from exc
            finally:
                stats.total_s = time.perf_counter() - t0
        final = self.tokenizer.decode(generated, skip_special_tokens=True)
        if len(final) > len(shown):
            yield final[len(shown):]


def _stop_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """Token ids that end an answer: the tokenizer's end of sequence, the generation config's, and a chat
    template's end-of-turn marker."""
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list):
            ids.update(int(i) for i in source)
    for marker in ("<|im_end|>", "<|eot_id|>", "</s>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return frozenset(ids)


def resolve_text_model(model: str | None, cache_dir: Path, max_context_tokens: int = 4096) -> TextModelSpec:
    """The configured model directory, or (None) the packaged SmolLM2's dense copy, made on first use."""
    if model is None:
        from qa.packaged_llm import SMOLLM2_135M, dense_checkpoint

        return TextModelSpec(dense_checkpoint(cache_dir, SMOLLM2_135M), SMOLLM2_135M.key, max_context_tokens)
    directory = Path(model).expanduser()
    if not directory.is_dir():
        raise CheckpointError(f"the answer model {model!r} is not a folder",
                              "set SCENEDEX_ASK_MODEL to a local Llama-architecture instruct model directory, or "
                              "leave it empty for the packaged SmolLM2-135M-Instruct")
    return TextModelSpec(directory, f"local:{directory.resolve().name}", max_context_tokens)
