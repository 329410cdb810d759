"""What a VARGPT checkpoint folder must hold, checked before any weight is read, with one-line errors.

The released layout (transformers 4.46 `save_pretrained`): config.json (model_type "vargpt_llava"),
model-0000k-of-0000n.safetensors shards listed in model.safetensors.index.json (or one model.safetensors),
generation_config.json, preprocessor_config.json and the tokenizer files. Pickled weights (.bin/.pt) can run code
when read, so they are refused unless the caller opts in.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from vargpt.configuration_vargpt import MODEL_TYPE

SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth")
MAX_NAMES_IN_MESSAGE = 3


class ModelLoadError(RuntimeError):
    """A checkpoint cannot be found or does not fit the model; the message is one line saying what and how to fix."""


def read_config_dict(folder: Path) -> dict:
    """config.json of `folder` as a dict, after checking that it describes a VARGPT model."""
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no config.json; pass a VARGPT checkpoint folder (see vargpt.tiny.build)")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ModelLoadError(f"{path} is not valid JSON ({error})") from None
    model_type = config.get("model_type")
    if model_type != MODEL_TYPE:
        raise ModelLoadError(
            f"{path} has model_type {model_type!r}, expected {MODEL_TYPE!r}; this folder is not a VARGPT checkpoint"
        )
    return config


def has_pickled_weights(folder: Path) -> bool:
    """Whether `folder` holds pickled weight files (.bin, .pt, .pth)."""
    return any(next(folder.glob(pattern), None) is not None for pattern in PICKLE_PATTERNS)


def has_safetensors(folder: Path) -> bool:
    """Whether `folder` holds safetensors weights (an index or a single file)."""
    return (folder / SAFETENSORS_INDEX).is_file() or (folder / SAFETENSORS_SINGLE).is_file()


def safetensors_weight_map(folder: Path) -> dict[str, str]:
    """Tensor name -> shard file name, from the index (sharded) or the single file; every listed shard must exist."""
    index_path = folder / SAFETENSORS_INDEX
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as error:
            raise ModelLoadError(f"{index_path} is not a safetensors index ({error!r})") from None
        for shard in sorted(set(weight_map.values())):
            if not (folder / shard).is_file():
                count = sum(1 for name in weight_map.values() if name == shard)
                raise ModelLoadError(
                    f"shard {shard} listed in {SAFETENSORS_INDEX} is missing from {folder} ({count} tensors); "
                    "download it again or copy the complete checkpoint"
                )
        return weight_map
    single = folder / SAFETENSORS_SINGLE
    if single.is_file():
        with safe_open(single, framework="pt") as handle:
            return {name: SAFETENSORS_SINGLE for name in handle.keys()}  # noqa: SIM118 (not iterable)
    raise ModelLoadError(f"{folder} has no {SAFETENSORS_INDEX} or {SAFETENSORS_SINGLE}")


def safetensors_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape for the whole checkpoint, read from the shard headers only (no tensor data)."""
    weight_map = safetensors_weight_map(folder)
    shapes: dict[str, tuple[int, ...]] = {}
    for shard in sorted(set(weight_map.values())):
        with safe_open(folder / shard, framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                shapes[name] = tuple(handle.get_slice(name).get_shape())
    listed_not_stored = sorted(name for name, shard in weight_map.items() if name not in shapes)
    if listed_not_stored:
        raise ModelLoadError(
            f"{SAFETENSORS_INDEX} lists {len(listed_not_stored)} tensors its shards do not hold "
            f"({_names(listed_not_stored)}); the index and the shards come from different saves"
        )
    return shapes


def compare_shapes(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], source: str) -> None:
    """Raise ModelLoadError naming missing keys, unexpected keys and shape mismatches between model and checkpoint."""
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(name for name in set(expected) & set(found) if tuple(expected[name]) != tuple(found[name]))
    if mismatched:
        name = mismatched[0]
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        problems.append(
            f"shape mismatch for {name}: checkpoint {list(found[name])}, model {list(expected[name])}{more}"
        )
    if missing:
        problems.append(f"{len(missing)} missing keys ({_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_names(unexpected)})")
    if problems:
        raise ModelLoadError(
            f"checkpoint {source} does not fit the model its config.json describes: " + "; ".join(problems)
        )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_IN_MESSAGE])
    return shown + (", ..." if len(names) > MAX_NAMES_IN_MESSAGE else "")


__all__ = [
    "ModelLoadError",
    "read_config_dict",
    "has_pickled_weights",
    "has_safetensors",
    "safetensors_weight_map",
    "safetensors_shapes",
    "compare_shapes",
]
