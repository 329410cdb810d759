"""The one interface between the harness and a model (DESIGN.md, "The adapter")."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from evals.requests import ChoiceRequest, ImageRequest, TextRequest


class NotSupportedByModel(RuntimeError):
    """Raised when a model cannot serve a request kind (e.g. image generation on LLaVA-1.5)."""


@runtime_checkable
class Adapter(Protocol):
    """A loaded model answering batches of requests; outputs come back in request order."""

    name: str  # model id as recorded in run.json

    def generate_text(self, requests: Sequence[TextRequest]) -> list[str]:
        """Greedy or sampled continuation of each request's prompt, stop strings removed."""
        ...

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[list[float]]:
        """Summed log-likelihood of each candidate continuation, one list per request."""
        ...

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[np.ndarray]:
        """One uint8 array of shape (256, 256, 3) per request."""
        ...

    def describe(self) -> dict:
        """Model identity for run.json: id, weights hash, dtype, device."""
        ...
