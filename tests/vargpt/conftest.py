"""Fixtures for the vargpt/ tests: one tiny checkpoint per session, loaded through the released-checkpoint path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import LlavaConfig, LlavaForConditionalGeneration

import vargpt
from vargpt import tiny


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Folder of a tiny checkpoint in the released layout (sharded safetensors, tokenizer, processor config)."""
    torch.set_num_threads(1)
    return tiny.build(tmp_path_factory.mktemp("tiny-checkpoint"), seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    """(model, processor) loaded from the tiny checkpoint with vargpt.load, fp32 on CPU."""
    return vargpt.load(tiny_checkpoint)


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Three small random RGB images of different sizes (the processor resizes and crops them)."""
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((40, 36), (28, 28), (50, 64))]


# Released (4.46) key prefix -> transformers 5 Llava key prefix; the generation side has no Llava counterpart.
LLAVA_PREFIXES = (
    ("vision_tower.vision_model.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
)


def to_llava_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The understanding tensors of a VARGPT state dict under transformers 5 Llava names."""
    renamed = {}
    for name, tensor in state_dict.items():
        for ours, theirs in LLAVA_PREFIXES:
            if name.startswith(ours):
                renamed[theirs + name[len(ours) :]] = tensor
    return renamed


@pytest.fixture(scope="session")
def llava(tiny_model) -> LlavaForConditionalGeneration:
    """transformers' LlavaForConditionalGeneration holding the tiny model's understanding weights (fp32, CPU)."""
    model, processor = tiny_model
    config = model.config
    llava_config = LlavaConfig(
        vision_config=config.vision_config.to_dict(),
        text_config=config.text_config.to_dict(),
        image_token_index=config.image_token_index,
        image_seq_length=processor.num_image_features,
        projector_hidden_act=config.projector_hidden_act,
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        tie_word_embeddings=False,
    )
    reference = LlavaForConditionalGeneration(llava_config).eval()
    result = reference.load_state_dict(to_llava_state_dict(model.state_dict()), strict=False)
    assert not result.missing_keys and not result.unexpected_keys, result
    return reference
