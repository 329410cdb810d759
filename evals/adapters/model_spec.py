"""What a --model value names (scripted adapter, `tiny`, local folder, hub id) and how it is built."""

from __future__ import annotations

from evals.adapters.interface import Adapter
from evals.adapters.scripted import scripted_adapter


def build_adapter(model: str, device: str, dtype: str, allow_pickle: bool = False) -> Adapter:
    """The adapter for a --model value on one device, model weights loaded."""
    scripted = scripted_adapter(model)
    if scripted is not None:
        return scripted
    from evals.adapters.vargpt_adapter import VargptAdapter

    return VargptAdapter.load(model, device=device, dtype=dtype, allow_pickle=allow_pickle)


def model_identity(model: str, dtype: str, allow_pickle: bool = False) -> dict:
    """Id and weights hash of a --model value without loading it onto a device (for the fingerprint)."""
    scripted = scripted_adapter(model)
    if scripted is not None:
        return scripted.describe()
    from evals.adapters.vargpt_adapter import checkpoint_identity

    return checkpoint_identity(model, dtype, allow_pickle)


def resolve_dtype(dtype: str, devices: tuple[str, ...]) -> str:
    """`auto` -> bfloat16 on CUDA devices, float32 on the CPU; explicit values unchanged."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if devices and all(d.startswith("cuda") for d in devices) else "float32"
