"""Sizes of the generation side (VAR decoder and multi-scale VQ-VAE), from config.json's `var_config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class VARConfig:
    """The `var_config` dict of VARGPTConfig; absent keys take the released VAR-d30 values."""

    depth: int = 30
    embed_dim: int = 1920  # 64 * depth in VAR
    num_heads: int = 30
    mlp_ratio: float = 4.0
    patch_nums: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    vocab_size: int = 4096  # VQ codebook size
    z_channels: int = 32  # code dimension
    vae_ch: int = 160
    vae_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    share_quant_resi: int = 4

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "VARConfig":
        """Build from a (possibly partial) dict; unknown keys are an error, lists become tuples."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"var_config has unknown keys {unknown}; known keys: {sorted(known)}")
        for key in ("patch_nums", "vae_ch_mult"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists) for config.json."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def num_image_tokens(self) -> int:
        """Tokens in one image's pyramid (680 for the released patch_nums)."""
        return sum(pn * pn for pn in self.patch_nums)
