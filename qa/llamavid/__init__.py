"""LLaMA-VID ("An Image is Worth 2 Tokens in Large Language Models", arXiv 2311.17043) as a library: an EVA
ViT-g tower, a question-aware context token and a pooled content token per frame, a Llama decoder, the
released checkpoint layout, and an answer model for scenedex's question answering.

Modules: ``config`` (typed sizes and modes), ``tokens`` (the token formulas as pure functions), ``head``
(the ``vlm_att_*`` modules and ``mm_projector``), ``vision`` (tower and preprocessing), ``prompt`` (chat
template and subtitle interleaving), ``model`` (assembly and generation), ``checkpoint*`` (safe loading of
released files), ``answerer`` (``LlamaVidAnswerer``).
"""

from qa.llamavid.answerer import LlamaVidAnswerer
from qa.llamavid.checkpoint import (LoadedLlamaVid, LoadOptions, build_model, load_llamavid,
                                    load_vision_tower, save_llamavid)
from qa.llamavid.config import (AllPatches, GridPooling, ImageMode, LlamaVidConfig, LlmConfig, LongVideoMode,
                                MeanPooling, Mode, QFormerConfig, VideoMode, VisionTowerConfig, release_7b)
from qa.llamavid.head import InstructionTokens, LlamaVidHead, tokenize_instruction
from qa.llamavid.model import LlamaVidModel, LlamaVidTokenizers
from qa.llamavid.vision import VisionTower, preprocess_frames

__all__ = ["AllPatches", "GridPooling", "ImageMode", "InstructionTokens", "LlamaVidAnswerer",
           "LlamaVidConfig", "LlamaVidHead", "LlamaVidModel", "LlamaVidTokenizers", "LlmConfig",
           "LoadOptions", "LoadedLlamaVid", "LongVideoMode", "MeanPooling", "Mode", "QFormerConfig",
           "VideoMode", "VisionTower", "VisionTowerConfig", "build_model", "load_llamavid",
           "load_vision_tower", "preprocess_frames", "release_7b", "save_llamavid", "tokenize_instruction"]
