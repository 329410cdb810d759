"""Find a VARGPT checkpoint and load it: `load(path_or_hub_id) -> (model, processor)`.

Resolution order (DESIGN.md, "Offline and defaults"): an explicit local folder; "tiny" (built once into a cache
folder by vargpt.tiny, then read like any other folder); the Hugging Face cache (no network); the hub. Whatever the
source, the weights are read by VARGPTForConditionalGeneration.from_pretrained from a local folder after
vargpt.checkpoint_files has checked it, so a released checkpoint and a tiny one take the same path.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vargpt import tiny
from vargpt.checkpoint_files import ModelLoadError
from vargpt.checkpoint_location import RELEASED_HUB_ID, locate_checkpoint
from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import VARGPTProcessor

TINY = "tiny"


def resolve_checkpoint(path_or_hub_id: str | Path, allow_pickle: bool = False) -> Path:
    """A local folder holding the checkpoint: the folder itself, the tiny build, the HF cache copy or a download."""
    if str(path_or_hub_id) == TINY and not Path(TINY).is_dir():
        return tiny.cached_folder()
    return locate_checkpoint(path_or_hub_id, allow_pickle=allow_pickle)


def load(
    path_or_hub_id: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    allow_pickle: bool = False,
) -> tuple[VARGPTForConditionalGeneration, VARGPTProcessor]:
    """Load a VARGPT checkpoint (folder, "tiny" or hub id) as (model in eval mode on `device` in `dtype`, processor)."""
    folder = resolve_checkpoint(path_or_hub_id, allow_pickle=allow_pickle)
    model = VARGPTForConditionalGeneration.from_pretrained(
        folder, dtype=dtype, device_map=str(torch.device(device)), allow_pickle=allow_pickle
    )
    processor = VARGPTProcessor.from_pretrained(folder, model.config)
    return model.eval(), processor


__all__ = ["load", "resolve_checkpoint", "ModelLoadError", "RELEASED_HUB_ID"]
