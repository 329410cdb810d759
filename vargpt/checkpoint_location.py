"""Where a checkpoint's files are: a local folder, the Hugging Face cache (no network), or the hub.

`locate_checkpoint` returns a local folder for a folder path or a hub id; the tiny build ("tiny") is
vargpt.loading's business, so that the model class can resolve its own argument without the tiny builder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vargpt.checkpoint_files import PICKLE_PATTERNS, ModelLoadError

logger = logging.getLogger(__name__)

RELEASED_HUB_ID = "VARGPT-family/VARGPT_LLaVA-v1"
# Everything a checkpoint needs; pickled weights only on request (reading them can run code).
HUB_FILE_PATTERNS = ("*.json", "*.safetensors", "tokenizer.model", "*.txt")


def locate_checkpoint(path_or_hub_id: str | Path, allow_pickle: bool = False) -> Path:
    """A local folder holding the checkpoint: the folder itself, the HF cache copy or a download."""
    name = str(path_or_hub_id)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if not is_hub_id(name):
        raise ModelLoadError(
            f"checkpoint folder {name} does not exist; pass an existing folder, 'tiny', or a hub id like {RELEASED_HUB_ID}"
        )
    return _from_hub(name, allow_pickle)


def is_hub_id(name: str) -> bool:
    """A hub id is "owner/name": one slash, no leading dot, slash or tilde."""
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
