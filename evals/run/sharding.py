"""Pure work assignment: which documents a worker takes, and each document's seed."""

from __future__ import annotations

import hashlib
from typing import Sequence


def shard_doc_ids(doc_ids: Sequence[str], rank: int, world_size: int) -> list[str]:
    """The documents of worker `rank` of `world_size`: a strided, disjoint share in plan order."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    return list(doc_ids[rank::world_size])


def doc_seed(run_seed: int, task_name: str, doc_id: str) -> int:
    """A 63-bit seed from (run seed, task, document id): independent of shard and batch position."""
    digest = hashlib.sha256(f"{run_seed}\x1f{task_name}\x1f{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
