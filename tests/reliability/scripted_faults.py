"""Scripted adapters that misbehave on purpose: garbage outputs, and out-of-memory errors above a batch size.

Each is handed to `execute_run(config, adapter=...)`, the runner's hook for an adapter object (one
process). Garbage is chosen per document id, so which document got which garbage does not depend on
batching, and every choice is logged for the assertions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from evals.adapters.scripted import OracleAdapter, seeded_image

# Model text that matches no gold answer of any task: no letters, digits or yes/no words.
GARBAGE_TEXT: dict[str, Any] = {
    "empty": "",
    "whitespace": "  \n\t  \r\n",
    "very long": "~" * 100_000,
    "invalid utf-8 bytes": b"\xff\xfe\x80\xc3(",
    "lone surrogates": b"\xff\xfe\x80".decode("utf-8", errors="surrogateescape"),
    "replacement characters": b"\xff\xfe\x80".decode("utf-8", errors="replace"),
    "not text (None)": None,
    "not text (int)": 42,
}
CONTROL_CHARACTERS = "\x00\x07\x1b[0m\x0b"
GARBAGE_SCORES: dict[str, Any] = {
    "NaN for every choice": "nan-all",
    "NaN for one choice": "nan-one",
    "too few scores": "short",
    "not numbers": "strings",
    "None": None,
}
GARBAGE_IMAGES: dict[str, Any] = {
    "grey (H, W)": lambda: np.zeros((256, 256), np.uint8),
    "channels first": lambda: np.zeros((3, 256, 256), np.uint8),
    "RGBA": lambda: np.zeros((256, 256, 4), np.uint8),
    "float pixels": lambda: np.zeros((256, 256, 3), np.float32),
    "empty image": lambda: np.zeros((0, 0, 3), np.uint8),
    "None": lambda: None,
}
TEXT_ERRORS = {"not text (None)", "not text (int)"}  # the only text garbage that is not text at all


def pick(doc_id: str, choices: Sequence[str]) -> str:
    """A choice that depends only on the document id."""
    return choices[int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % len(choices)]


class GarbageAdapter(OracleAdapter):
    """Answers garbage of a kind picked per document; `given` logs doc id -> kind of garbage."""

    def __init__(self, text: dict[str, Any] | None = None, valid_images_every: int = 3):
        self.text = GARBAGE_TEXT if text is None else text
        self.valid_images_every = valid_images_every
        self.given: dict[str, str] = {}

    def generate_text(self, requests):
        """Garbage text (or not text at all)."""
        kinds = [pick(r.doc_id, list(self.text)) for r in requests]
        self.given.update((r.doc_id, k) for r, k in zip(requests, kinds))
        return [self.text[k] for k in kinds]

    def score_choices(self, requests):
        """NaN, too few, non-numeric or no scores."""
        outputs = []
        for request in requests:
            kind = pick(request.doc_id, list(GARBAGE_SCORES))
            self.given[request.doc_id] = kind
            count = len(request.choices)
            outputs.append({
                "nan-all": [float("nan")] * count,
                "nan-one": [0.0, float("nan"), *([-1.0] * (count - 2))],
                "short": [0.0] * (count - 1),
                "strings": ["high"] * count,
                None: None,
            }[GARBAGE_SCORES[kind]])
        return outputs

    def generate_images(self, requests):
        """Wrong-shaped, wrong-typed or missing images; every `valid_images_every`-th document a valid one."""
        outputs = []
        for request in requests:
            if int(request.doc_id.split("-s")[0][1:]) % self.valid_images_every == 0:
                self.given[request.doc_id] = "valid"
                outputs.append(seeded_image(request.seed))
                continue
            kind = pick(request.doc_id, list(GARBAGE_IMAGES))
            self.given[request.doc_id] = kind
            outputs.append(GARBAGE_IMAGES[kind]())
        return outputs


class OutOfMemoryAbove:
    """Wraps an adapter: a batch larger than `max_batch`, or one holding a `poison` document, runs out of memory."""

    def __init__(self, inner: Any, max_batch: int, poison: frozenset[str] = frozenset()):
        self.inner, self.max_batch, self.poison = inner, max_batch, poison
        self.calls: list[int] = []

    def _check(self, requests) -> None:
        self.calls.append(len(requests))
        if len(requests) > self.max_batch or any(r.doc_id in self.poison for r in requests):
            # The exception CUDA raises; constructible without a GPU.
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(requests)} GiB")

    def generate_text(self, requests):
        """The inner adapter's answers, unless out of memory."""
        self._check(requests)
        return self.inner.generate_text(requests)

    def score_choices(self, requests):
        """The inner adapter's scores, unless out of memory."""
        self._check(requests)
        return self.inner.score_choices(requests)

    def generate_images(self, requests):
        """The inner adapter's images, unless out of memory."""
        self._check(requests)
        return self.inner.generate_images(requests)

    def describe(self) -> dict:
        """The inner adapter's identity (the failures change no output)."""
        return self.inner.describe()
