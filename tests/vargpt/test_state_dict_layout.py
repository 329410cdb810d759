"""The full-size model has the released checkpoint's exact names and shapes; saving keeps them; save -> load is exact."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from vargpt import VARGPTConfig, VARGPTForConditionalGeneration

# A verbatim copy of shared/reference/vargpt_state_dict.txt, so the layout tests run from any clone.
REFERENCE = Path(__file__).resolve().parent / "data" / "vargpt_state_dict.txt"
RELEASED_BUFFERS = ("lvl_1L", "attn_bias_for_masking", "zero_k_bias", "ema_vocab_hit_SV")


def released_layout(config: VARGPTConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape from vargpt_state_dict.txt with "{i}" expanded per stack (LLaMA, CLIP, VAR blocks)."""
    layers = {
        "language_model": config.text_config.num_hidden_layers,  # 32
        "vision_tower": config.vision_config.num_hidden_layers,  # 24
        "vargpt_gen": config.var.depth,  # 30
    }
    layout = {}
    for line in REFERENCE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, shape = line.split(" ", 1)
        indices = range(layers[name.split(".")[0]]) if "{i}" in name else [None]
        for i in indices:
            layout[name.replace("{i}", str(i))] = tuple(ast.literal_eval(shape))
    return layout


@pytest.fixture(scope="module")
def full_size_meta_model() -> VARGPTForConditionalGeneration:
    with torch.device("meta"):
        return VARGPTForConditionalGeneration(VARGPTConfig())




def test_full_size_model_has_the_released_names_and_shapes(full_size_meta_model):
    ours = {name: tuple(tensor.shape) for name, tensor in full_size_meta_model.state_dict().items()}
    released = released_layout(full_size_meta_model.config)
    assert sorted(set(released) - set(ours)) == []
    assert sorted(set(ours) - set(released)) == []
    assert {name: shape for name, shape in ours.items() if released[name] != shape} == {}
    # Entries of the reference, counted per module: VAR 12 + 13 per block x 30, VQ-VAE 324, bridges 2 x 6,
    # CLIP 7 + 16 per layer x 24, projector 4, LLaMA 3 + 9 per layer x 32.
    assert len(ours) == (12 + 13 * 30) + 324 + 2 * 6 + (7 + 16 * 24) + 4 + (3 + 9 * 32) == 1424


def test_released_buffers_are_in_the_state_dict(full_size_meta_model):
    names = full_size_meta_model.state_dict().keys()
    for buffer in RELEASED_BUFFERS:
        assert any(name.endswith(buffer) for name in names), buffer


def test_a_state_dict_in_released_naming_loads_with_no_missing_or_unexpected_keys(full_size_meta_model):
    released = {
        name: torch.empty(shape, device="meta") for name, shape in released_layout(full_size_meta_model.config).items()
    }
    result = full_size_meta_model.load_state_dict(released, strict=False, assign=True)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_save_writes_the_released_layout(tiny_model, tmp_path):
    model, _ = tiny_model
    model.save_pretrained(tmp_path, max_shard_size=200_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(model.state_dict())
    assert len(set(index["weight_map"].values())) >= 2
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "vargpt_llava"
    assert config["var_config"] == model.config.var.to_dict()
    assert config["special_tokens"] == model.config.special_tokens


def test_save_then_load_gives_identical_weights_and_outputs(tiny_model, images, tmp_path):
    model, processor = tiny_model
    model.save_pretrained(tmp_path)
    reloaded = VARGPTForConditionalGeneration.from_pretrained(tmp_path).eval()
    before, after = model.state_dict(), reloaded.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    batch = processor.encode_batch(["What is in the image?", "Hello"], [[images[0]], []])
    with torch.no_grad():
        assert torch.equal(model(**batch.model_inputs()).logits, reloaded(**batch.model_inputs()).logits)
