"""Fixtures for the vargpt/ tests: one tiny checkpoint per session, loaded through the released-checkpoint path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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
