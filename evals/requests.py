"""What a task asks of a model: one request type per adapter method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union

from PIL import Image

# Images are loaded lazily: a request holds a callable that decodes them on demand, so that the
# background loader (not the planner) pays for decoding, and a corrupt image fails one document only.
ImageLoader = Callable[[], list[Image.Image]]


def no_images() -> list[Image.Image]:
    """The image loader of a text-only request."""
    return []


@dataclass(frozen=True)
class TextRequest:
    """Free-form generation: the user text (no chat template) after the document's images."""

    doc_id: str
    text: str
    load_images: ImageLoader = no_images
    max_new_tokens: int = 16
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    seed: int = 0
    target: str | None = None  # the gold answer; read only by the oracle adapter and the logs
    # Model inputs the adapter built ahead of the batch (`prepare`, on the loader thread); opaque to the harness.
    inputs: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ChoiceRequest:
    """Multiple choice by likelihood: log p(continuation | context) for each candidate."""

    doc_id: str
    text: str
    choices: tuple[str, ...]
    load_images: ImageLoader = no_images
    target: int | None = None  # index of the gold choice; read only by the oracle adapter


@dataclass(frozen=True)
class ImageRequest:
    """Text-to-image: one 256x256 RGB image per request, all randomness from `seed`."""

    doc_id: str
    prompt: str
    seed: int
    cfg: float = 0.0
    top_k: int = 900
    top_p: float = 0.95
    extra: dict = field(default_factory=dict)  # task-specific sampler options, recorded as given


Request = Union[TextRequest, ChoiceRequest, ImageRequest]
