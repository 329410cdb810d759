"""Reads `vargpt_state_dict.txt` (the released checkpoint's names and shapes) for the meta-device layout tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import torch

# A verbatim copy of shared/reference/vargpt_state_dict.txt, so the layout tests run from any clone.
REFERENCE = Path(__file__).resolve().parent / "data" / "vargpt_state_dict.txt"
_LAYER = re.compile(r"^(vargpt_gen\.blocks)\.\d+\.")


def released_shapes(prefixes: tuple[str, ...]) -> dict[str, list[int]]:
    """Name -> shape of every released entry under one of `prefixes` ("{i}" stands for each VAR block)."""
    shapes = {}
    for line in REFERENCE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, shape = line.split(" ", 1)
        if name.split(".")[0] in prefixes:
            shapes[name] = ast.literal_eval(shape)
    return shapes


def module_shapes(prefix: str, module: torch.nn.Module) -> dict[str, list[int]]:
    """Name -> shape of `module`'s state dict under `prefix`, VAR block indices folded to "{i}"."""
    return {_LAYER.sub(r"\1.{i}.", f"{prefix}.{k}"): list(t.shape) for k, t in module.state_dict().items()}
