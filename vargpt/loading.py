"""Find a VARGPT checkpoint and load it: `load(path_or_hub_id) -> (model, processor)`.

Resolution order (DESIGN.md, "Offline and defaults"): an explicit local folder; "tiny" (built once into a cache
folder by vargpt.tiny, then read like any other folder); the Hugging Face cache (no network); the hub. Whatever the
source, the weights are read by VARGPTForConditionalGeneration.from_pretrained from a local folder after
vargpt.checkpoint_files has checked it, so a released checkpoint and a tiny one take the same path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vargpt import tiny
from vargpt.checkpoint_files import PICKLE_PATTERNS, ModelLoadError
from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import VARGPTProcessor

logger = logging.getLogger(__name__)

TINY = "tiny"
RELEASED_HUB_ID = "VARGPT-family/VARGPT_LLaVA-v1"
# Everything a checkpoint needs; pickled weights only on request (reading them can run code).
HUB_FILE_PATTERNS = ("*.json", "*.safetensors", "tokenizer.model", "*.txt")


def resolve_checkpoint(path_or_hub_id: str | Path, allow_pickle: bool = False) -> Path:
    """A local folder holding the checkpoint: the folder itself, the tiny build, the HF cache copy or a download."""
    name = str(path_or_hub_id)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name == TINY:
        return tiny.cached_folder()
    if not _is_hub_id(name):
        raise ModelLoadError(
            f"checkpoint folder {name} does not exist; pass an existing folder, 'tiny', or a hub id like {RELEASED_HUB_ID}"
        )
    return _from_hub(name, allow_pickle)


def _is_hub_id(name: str) -> bool:
    # A hub id is "owner/name": one slash, no leading dot, slash or tilde.
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and all(name.split("/"))


def _from_hub(repo_id: str, allow_pickle: bool) -> Path:
    from huggingface_hub import constants, snapshot_download

    patterns = list(HUB_FILE_PATTERNS) + (list(PICKLE_PATTERNS) if allow_pickle else [])
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError and kin): try the hub next
        logger.info("%s is not in the Hugging Face cache; downloading", repo_id)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelLoadError(
            f"{repo_id} is not a local folder, not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and could not "
            f"be downloaded ({type(error).__name__}: {reason}); run `hf download {repo_id}` where there is network, "
            "or pass a local checkpoint folder"
        ) from None


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
