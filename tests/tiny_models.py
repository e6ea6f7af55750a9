"""Tiny randomly initialised CLIP and SigLIP checkpoints with both towers and a word-level tokenizer, written the
way a real checkpoint directory is (config, weights, tokenizer files), so scenedex loads them through its own code."""

from __future__ import annotations

from pathlib import Path

TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, image_size=32,
                   patch_size=8)
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 max_position_embeddings=32)
WORDS = ("a the of in on at and to is with red green blue sky sea dog cat car rocket launch night day man woman "
         "city street boat fire snow tree house room light dark").split()
SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


def save_word_tokenizer(path: Path) -> int:
    """A lower-casing word-level tokenizer that adds [BOS]/[EOS]; returns the vocabulary size."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + list(WORDS))}
    core = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="[BOS] $A [EOS]",
                                                        special_tokens=[("[BOS]", 2), ("[EOS]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
                            eos_token="[EOS]").save_pretrained(path)
    return len(vocab)


def save_tiny_clip(path: Path) -> Path:
    from transformers import CLIPConfig, CLIPModel

    vocab_size = save_word_tokenizer(path)
    config = CLIPConfig(text_config=dict(TINY_TEXT, vocab_size=vocab_size, eos_token_id=3, bos_token_id=2,
                                         pad_token_id=0),
                        vision_config=TINY_VISION, projection_dim=16)
    CLIPModel(config).save_pretrained(path)
    return path


def save_tiny_siglip(path: Path) -> Path:
    from transformers import SiglipConfig, SiglipModel

    vocab_size = save_word_tokenizer(path)
    config = SiglipConfig(text_config=dict(TINY_TEXT, vocab_size=vocab_size, pad_token_id=0),
                          vision_config=TINY_VISION)
    SiglipModel(config).save_pretrained(path)
    return path
