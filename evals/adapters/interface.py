"""The one interface between the harness and a model (DESIGN.md, "The adapter")."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from evals.requests import ChoiceRequest, ImageRequest, Request, TextRequest


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


@runtime_checkable
class PreparesRequests(Protocol):
    """Optional for an adapter: preprocessing that the background loader runs on each batch, off the model's path.

    `prepare` gets a batch's requests with their images decoded and returns them, in order, with `inputs` filled
    in (tokens, pixel values); the batch methods then only pad and stack. When `prepare` fails, the batch goes on
    unprepared, so the batch method meets the problem itself and records it for the document it concerns.
    The loader calls it only when `prepare_ahead` is true: a model that waits on an accelerator releases the GIL
    and the loader's work overlaps it; a small model on the CPU holds the GIL, and the same work on a second
    thread only adds contention (bench/RESULTS.md measures it).
    """

    prepare_ahead: bool

    def prepare(self, requests: Sequence[Request]) -> list[Request]:
        """The requests with the model inputs they will need attached (unchanged where there is nothing to do)."""
        ...
