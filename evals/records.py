"""Per-document records: what a worker writes for every document it finishes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Record:
    """One finished document: its request, the model output, its scores, or the error it hit."""

    task: str
    doc_id: str
    prompt: str = ""
    output: Any = None  # str for text, list[float] for choices, None for images
    target: Any = None
    scores: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # kept in .npy shards, not JSONL

    @property
    def ok(self) -> bool:
        """True when the document was scored without error."""
        return self.error is None
