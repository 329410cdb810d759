"""VARGPT: LLaVA-1.5 understanding plus VAR next-scale image generation, loaded from the released checkpoint."""

from vargpt.checkpoint_files import ModelLoadError
from vargpt.configuration_vargpt import VARGPTConfig
from vargpt.likelihood import score_continuations
from vargpt.loading import load
from vargpt.modeling_vargpt import VARGPTForConditionalGeneration
from vargpt.processing_vargpt import VARGPTProcessor
from vargpt.text_generation import generate_text


def __getattr__(name: str):
    # generate_images lives in vargpt.image_generation; imported on first use.
    if name == "generate_images":
        from vargpt.image_generation import generate_images

        return generate_images
    raise AttributeError(f"module 'vargpt' has no attribute {name!r}")


__all__ = [
    "VARGPTConfig",
    "VARGPTForConditionalGeneration",
    "VARGPTProcessor",
    "ModelLoadError",
    "load",
    "generate_text",
    "score_continuations",
    "generate_images",
]
