"""LLaMA-VID checkpoints in the released layout: key names, a round trip through sharded .bin and safetensors
files, the Q-Former and EVA files, and each way a checkpoint can be broken raising a CheckpointError that
names it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from qa.errors import CheckpointError
from qa.llamavid.checkpoint import EVA_FILE, QFORMER_FILE, load_llamavid, released_state
from qa.llamavid.checkpoint_files import BIN_INDEX, save_sharded
from qa.llamavid.config import VideoMode
from qa.llamavid.model import LlamaVidModel
from tests.tiny_llamavid import TINY_VISION, save_tiny_llamavid, tiny_model

W = TINY_VISION.width


def scrambled_model(seed: int) -> LlamaVidModel:
    """A tiny model whose every weight is random (not the zeros and ones of a fresh init), so a round trip
    that mixed up two weights or dropped one would show. The key third of each tower qkv bias stays 0: EVA
    has none."""
    model = tiny_model(VideoMode(), seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
            if name.endswith("self_attn.qkv.bias"):
                tensor[W:2 * W] = 0
    return model


def assert_same_weights(loaded: LlamaVidModel, original: LlamaVidModel) -> None:
    expected = original.state_dict()
    got = loaded.state_dict()
    assert got.keys() == expected.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key


def main_shards(directory: Path) -> dict[str, dict[str, torch.Tensor]]:
    index = json.loads((directory / BIN_INDEX).read_text())["weight_map"]
    return {name: torch.load(directory / name, weights_only=True) for name in dict.fromkeys(index.values())}


def rewrite_main(directory: Path, edit) -> None:
    """Load every shard, let ``edit`` change the merged state, write it back as 2 shards."""
    state = {k: v for shard in main_shards(directory).values() for k, v in shard.items()}
    edit(state)
    for path in directory.glob("pytorch_model-*.bin"):
        path.unlink()
    save_sharded(state, directory, shards=2)


def test_released_files_use_the_lavis_eva_and_llamavid_key_names() -> None:
    main, eva, qformer = released_state(tiny_model(VideoMode(), seed=0))
    block = ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.q_bias", "attn.v_bias",
             "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
             "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]
    assert set(eva) == ({"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
                        | {f"blocks.{i}.{name}" for i in range(2) for name in block})
    assert eva["cls_token"].shape == (1, 1, W) and eva["pos_embed"].shape == (1, 17, W)
    assert eva["blocks.0.attn.qkv.weight"].shape == (3 * W, W) and eva["blocks.0.attn.q_bias"].shape == (W,)
    bert = "model.vlm_att_encoder.bert."
    for name in ["model.vlm_att_query", "model.vlm_att_ln.weight", "model.vlm_att_projector.weight",
                 "model.vlm_att_key_projector.bias", "model.vlm_att_val_projector.weight",
                 "model.mm_projector.0.weight", "model.mm_projector.2.bias",
                 bert + "embeddings.word_embeddings.weight", bert + "embeddings.position_embeddings.weight",
                 bert + "embeddings.LayerNorm.weight", bert + "encoder.layer.0.attention.self.query.weight",
                 bert + "encoder.layer.0.attention.output.dense.bias",
                 bert + "encoder.layer.0.crossattention.self.key.weight",
                 bert + "encoder.layer.0.crossattention.output.LayerNorm.bias",
                 bert + "encoder.layer.1.intermediate.dense.weight",
                 bert + "encoder.layer.1.output_query.LayerNorm.weight", "model.embed_tokens.weight",
                 "model.layers.1.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight",
                 "model.norm.weight", "lm_head.weight"]:
        assert name in main, name
    assert not any(".self." not in k and ".attention.attention." in k for k in main)
    assert bert + "encoder.layer.1.crossattention.self.key.weight" not in main  # every 2nd layer only
    assert main["model.vlm_att_query"].shape == (1, 4, 32)
    assert main["model.vlm_att_key_projector.weight"].shape == (W, W)
    assert {"query_tokens", "ln_vision.weight", "ln_vision.bias",
            "Qformer.bert.encoder.layer.0.attention.self.query.weight"} <= set(qformer)
    assert not any(k.startswith(("model.", "lm_head")) for k in qformer)


@pytest.mark.parametrize("safetensors", [False, True], ids=["bin-shards", "safetensors-shards"])
def test_round_trip_through_released_files_restores_every_weight_exactly(tmp_path, safetensors) -> None:
    original = scrambled_model(seed=11)
    save_tiny_llamavid(tmp_path, model=original, safetensors=safetensors)
    assert len(list(tmp_path.glob("*.safetensors" if safetensors else "pytorch_model-*.bin"))) == 2
    assert_same_weights(load_llamavid(tmp_path).model, original)


def test_qformer_file_fills_what_the_main_checkpoint_lacks_and_the_main_checkpoint_wins(tmp_path) -> None:
    original = scrambled_model(seed=12)
    save_tiny_llamavid(tmp_path, model=original)
    rewrite_main(tmp_path, lambda state: [state.pop(k) for k in list(state)
                                          if k.startswith(("model.vlm_att_encoder.", "model.vlm_att_ln."))])
    qformer = torch.load(tmp_path / QFORMER_FILE, weights_only=True)
    qformer["model"]["query_tokens"] = torch.zeros_like(qformer["model"]["query_tokens"])
    torch.save(qformer, tmp_path / QFORMER_FILE)
    assert_same_weights(load_llamavid(tmp_path).model, original)  # vlm_att_query from the main checkpoint


def test_tower_weights_inside_the_main_checkpoint_replace_the_eva_file(tmp_path) -> None:
    original = scrambled_model(seed=13)
    save_tiny_llamavid(tmp_path, model=original)
    eva = torch.load(tmp_path / EVA_FILE, weights_only=True)
    (tmp_path / EVA_FILE).unlink()
    rewrite_main(tmp_path, lambda state: state.update({f"model.vision_tower.vision_tower.{k}": v
                                                       for k, v in eva.items()}))
    assert_same_weights(load_llamavid(tmp_path).model, original)


def test_missing_shard_is_named(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    (tmp_path / "pytorch_model-00002-of-00002.bin").unlink()
    with pytest.raises(CheckpointError, match="pytorch_model-00002-of-00002.bin") as error:
        load_llamavid(tmp_path)
    assert "download" in error.value.hint


def test_unexpected_key_is_named(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    rewrite_main(tmp_path, lambda state: state.update({"model.vlm_att_bert_proj.weight": torch.zeros(W, W)}))
    with pytest.raises(CheckpointError, match=r"unexpected key.*model\.vlm_att_bert_proj\.weight") as error:
        load_llamavid(tmp_path)
    assert error.value.hint


def test_unexpected_eva_key_is_named(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    eva = torch.load(tmp_path / EVA_FILE, weights_only=True)
    torch.save({**eva, "blocks.0.attn.relative_position_bias_table": torch.zeros(3, 2)}, tmp_path / EVA_FILE)
    with pytest.raises(CheckpointError, match=r"attn\.relative_position_bias_table \(eva_vit_g\.pth\)"):
        load_llamavid(tmp_path)


def test_wrong_shape_names_the_key_with_expected_and_found_shapes(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    rewrite_main(tmp_path, lambda state: state.update({"model.vlm_att_projector.weight": torch.zeros(W, 16)}))
    with pytest.raises(CheckpointError, match=r"model\.vlm_att_projector\.weight.*expected shape \(32, 32\), "
                                              r"found \(32, 16\)"):
        load_llamavid(tmp_path)


def test_missing_weight_is_named_by_its_released_name(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    rewrite_main(tmp_path, lambda state: state.pop("model.norm.weight"))
    with pytest.raises(CheckpointError, match=r"lacks weight\(s\): model\.norm\.weight"):
        load_llamavid(tmp_path)


def test_missing_eva_file_says_where_the_tower_comes_from(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    (tmp_path / EVA_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"lacks weight\(s\): cls_token \(eva_vit_g\.pth\)") as error:
        load_llamavid(tmp_path)
    assert "eva_vit_g.pth" in error.value.hint


def test_half_a_qkv_bias_reports_the_pair_missing(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    eva = torch.load(tmp_path / EVA_FILE, weights_only=True)
    del eva["blocks.1.attn.v_bias"]
    torch.save(eva, tmp_path / EVA_FILE)
    with pytest.raises(CheckpointError, match=r"lacks weight\(s\): blocks\.1\.attn\.q_bias \+ "
                                              r"blocks\.1\.attn\.v_bias"):
        load_llamavid(tmp_path)


def test_files_holding_more_than_tensors_are_refused_unread(tmp_path) -> None:
    save_tiny_llamavid(tmp_path)
    eva = torch.load(tmp_path / EVA_FILE, weights_only=True)
    torch.save({"model": eva, "args": argparse.Namespace(note="an arbitrary object")}, tmp_path / EVA_FILE)
    with pytest.raises(CheckpointError, match="cannot read checkpoint file .*eva_vit_g.pth") as error:
        load_llamavid(tmp_path)
    assert "weights-only" in error.value.hint


def test_missing_directory_and_missing_qformer_tokenizer_are_explained(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_llamavid(tmp_path / "nowhere")
    save_tiny_llamavid(tmp_path)
    for path in sorted((tmp_path / "qformer_tokenizer").iterdir()):
        path.unlink()
    (tmp_path / "qformer_tokenizer").rmdir()
    with pytest.raises(CheckpointError, match="no Q-Former tokenizer") as error:
        load_llamavid(tmp_path)
    assert "bert-base-uncased" in error.value.hint
