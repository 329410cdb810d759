"""Two scripted stand-ins for a model, for testing the harness itself: `oracle` and `constant:<text>`.

`oracle` answers each request's gold target (so every understanding task must score 100%);
`constant:<text>` answers the same text to everything (hand-computable metrics, e.g. always "yes"
on POPE). Image requests get a deterministic picture made from the request seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evals.requests import ChoiceRequest, ImageRequest, TextRequest

IMAGE_SIZE = 256
CONSTANT_PREFIX = "constant:"


def seeded_image(seed: int, size: int = IMAGE_SIZE) -> np.ndarray:
    """A (size, size, 3) uint8 noise image that depends only on `seed`."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


class OracleAdapter:
    """Answers the gold target of every request: the upper bound a scorer must reach."""

    name = "oracle"

    def generate_text(self, requests: Sequence[TextRequest]) -> list[str]:
        """The request's target, or "" where the task gave none."""
        return [r.target if r.target is not None else "" for r in requests]

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[list[float]]:
        """0 for the gold choice, -1 for the others (all -1 when no gold is known)."""
        return [[0.0 if i == r.target else -1.0 for i in range(len(r.choices))] for r in requests]

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[np.ndarray]:
        """Seeded noise: no image has a gold answer, but seeds and plumbing are exercised."""
        return [seeded_image(r.seed) for r in requests]

    def describe(self) -> dict:
        """Identity for run.json."""
        return {"id": self.name, "kind": "scripted", "weights_hash": None}


class ConstantAdapter:
    """Answers one fixed text to every request."""

    def __init__(self, text: str):
        self.text = text
        self.name = f"{CONSTANT_PREFIX}{text}"

    def generate_text(self, requests: Sequence[TextRequest]) -> list[str]:
        """The constant text, for every request."""
        return [self.text for _ in requests]

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[list[float]]:
        """0 for choices equal to the text (case and spaces ignored), -1 for the others."""
        wanted = self.text.strip().lower()
        return [[0.0 if c.strip().lower() == wanted else -1.0 for c in r.choices] for r in requests]

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[np.ndarray]:
        """A mid-grey image for every request."""
        return [np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 128, dtype=np.uint8) for _ in requests]

    def describe(self) -> dict:
        """Identity for run.json."""
        return {"id": self.name, "kind": "scripted", "weights_hash": None}


def scripted_adapter(model: str) -> OracleAdapter | ConstantAdapter | None:
    """The scripted adapter a --model value names, or None when it names a real model."""
    if model == "oracle":
        return OracleAdapter()
    if model.startswith(CONSTANT_PREFIX):
        return ConstantAdapter(model[len(CONSTANT_PREFIX) :])
    return None
