"""The two bridges between VAR's width and the LLM's (`image_gen_projector`, `image_gen_projector_out`).

VARGPT-family/VARGPT @453d3cf (`GenPatchMerger` in modeling_vargpt_llava.py): Linear(d, d) -> GELU -> Linear(d, d_out)
on the last dimension. Each bridge also owns a LayerNorm `ln_q` that the released forward never applies; it is
kept so the checkpoint loads with no unexpected keys, and it stays unused here too.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageGenProjector(nn.Module):
    """(..., in_dim) -> (..., out_dim) through a 2-layer GELU MLP; `ln_q` is carried but not applied."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.ln_q = nn.LayerNorm(in_dim, eps=1e-6)  # in the checkpoint, never used by the released forward
        self.mlp = nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)
