"""The VARGPT adapter: the harness's requests answered by the model in `vargpt/`.

The runner hands over batches; this adapter groups each batch by identical generation settings (one
`vargpt` call per group, since a call has one max_new_tokens / stop / temperature, or one cfg / top-k /
top-p) and puts the answers back in request order. The chat template is applied inside `vargpt`
(the processor), never in tasks. `trust_remote_code` is never used: the model code is this package's.
`prepare` templates, tokenises and CLIP-preprocesses text requests; on an accelerator the background loader
runs it on the next batch, so the model's thread only pads and stacks.

Shapes: B batch, C channels, H/W pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from evals.requests import ChoiceRequest, ImageRequest, Request, TextRequest

R = TypeVar("R")
DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
HASH_CACHE_NAME = "weights-hashes.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _torch_dtype(name: str):
    """torch dtype for a --dtype value."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[name])


def _hash_cache_path() -> Path:
    """Where file hashes are remembered between runs (keyed by path, size and mtime)."""
    root = os.environ.get("VARGPT_CACHE") or Path.home() / ".cache" / "vargpt-evals"
    return Path(root) / HASH_CACHE_NAME


def file_sha256(path: Path, cache: dict[str, str]) -> str:
    """sha256 of one file's bytes, remembered by (real path, size, mtime)."""
    real = path.resolve()
    stat = real.stat()
    key = f"{real}:{stat.st_size}:{stat.st_mtime_ns}"
    if key not in cache:
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
        cache[key] = digest.hexdigest()
    return cache[key]


def weights_hash(folder: Path) -> str:
    """sha256 over the names and contents of a checkpoint's weight files (first 16 hex digits)."""
    cache_path = _hash_cache_path()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    files = sorted(p for p in Path(folder).iterdir() if p.name.endswith(WEIGHT_SUFFIXES))
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{file_sha256(path, cache)}\n".encode())
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(cache))
        os.replace(partial, cache_path)
    except OSError:
        pass  # the cache only saves time
    return digest.hexdigest()[:16]


def checkpoint_identity(model_id: str, dtype: str, allow_pickle: bool = False) -> dict[str, Any]:
    """Id, folder and weights hash of a checkpoint without loading it (downloads it if needed)."""
    from vargpt.loading import resolve_checkpoint

    folder = resolve_checkpoint(model_id, allow_pickle=allow_pickle)
    return {
        "id": model_id,
        "kind": "vargpt",
        "weights_hash": weights_hash(folder),
        "dtype": dtype,
        "folder": str(folder),
    }


def grouped(requests: Sequence[R], key: Callable[[R], Hashable]) -> list[tuple[Hashable, list[int]]]:
    """Request indices grouped by `key`, groups in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(key(request), []).append(index)
    return list(groups.items())


class VargptAdapter:
    """A loaded VARGPT answering text, choice and image requests in batches."""

    def __init__(self, model: Any, processor: Any, identity: dict[str, Any], device: str):
        self.model = model
        self.processor = processor
        self.identity = identity
        self.device = device
        self.name = identity["id"]
        # On an accelerator the loader thread encodes the next batch while this one runs; on the CPU the
        # model holds the GIL, so encoding stays in the batch call (evals.adapters.interface.PreparesRequests).
        self.prepare_ahead = not str(device).startswith("cpu")

    @classmethod
    def load(cls, model_id: str, device: str, dtype: str, allow_pickle: bool = False) -> VargptAdapter:
        """Load a checkpoint (hub id, folder or `tiny`) onto `device` in `dtype`; pickled weights only if allowed."""
        import vargpt

        identity = checkpoint_identity(model_id, dtype, allow_pickle)
        model, processor = vargpt.load(
            identity["folder"], device=device, dtype=_torch_dtype(dtype), allow_pickle=allow_pickle
        )
        return cls(model, processor, {**identity, "device": device}, device)

    def prepare(self, requests: Sequence[Request]) -> list[Request]:
        """Text requests with their prompts encoded and images preprocessed (`inputs`), in one processor call."""
        from vargpt.processing_vargpt import EncodedRequest

        unencoded = [
            i for i, r in enumerate(requests) if isinstance(r, TextRequest) and not isinstance(r.inputs, EncodedRequest)
        ]
        prepared = list(requests)
        if unencoded:
            encoded = self.processor.encode_requests(
                [requests[i].text for i in unencoded], [list(requests[i].load_images()) for i in unencoded]
            )
            for i, inputs in zip(unencoded, encoded):
                prepared[i] = dataclasses.replace(requests[i], inputs=inputs)
        return prepared

    def generate_text(self, requests: Sequence[TextRequest]) -> list[str]:
        """Answers, one `vargpt` generation call per (max_new_tokens, stop, temperature) group."""
        from vargpt.processing_vargpt import EncodedRequest
        from vargpt.text_generation import generate_from_batch

        answers: list[str] = [""] * len(requests)
        for (max_new_tokens, stop, temperature), indices in grouped(
            requests, lambda r: (r.max_new_tokens, tuple(r.stop), float(r.temperature))
        ):
            chosen = [requests[i] for i in indices]
            # Requests the loader prepared are only padded here; the others are encoded now.
            if not all(isinstance(r.inputs, EncodedRequest) for r in chosen):
                chosen = self.prepare(chosen)
            outputs = generate_from_batch(
                self.model,
                self.processor,
                self.processor.collate([r.inputs for r in chosen], padding_side="left"),
                max_new_tokens=max_new_tokens,
                stop=stop,
                temperature=temperature,
                seeds=[r.seed for r in chosen],
            )
            for i, output in zip(indices, outputs):
                answers[i] = output
        return answers

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[list[float]]:
        """Summed log-likelihood of every choice after its request's prompt and images."""
        import vargpt

        return vargpt.score_continuations(
            self.model,
            self.processor,
            [r.text for r in requests],
            [list(r.load_images()) for r in requests],
            [list(r.choices) for r in requests],
        )

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[np.ndarray]:
        """(256, 256, 3) uint8 images, one `generate_images` call per (cfg, top_k, top_p, extra) group."""
        from vargpt.image_generation import generate_images

        images: list[np.ndarray | None] = [None] * len(requests)
        for (cfg, top_k, top_p, extra), indices in grouped(
            requests, lambda r: (float(r.cfg), int(r.top_k), float(r.top_p), tuple(sorted(r.extra.items())))
        ):
            chosen = [requests[i] for i in indices]
            images_B3HW, _ = generate_images(
                self.model,
                self.processor,
                [r.prompt for r in chosen],
                [r.seed for r in chosen],
                cfg=cfg,
                top_k=top_k,
                top_p=top_p,
                **dict(extra),
            )
            images_BHWC = images_B3HW.permute(0, 2, 3, 1).contiguous().cpu().numpy()
            for i, image_HWC in zip(indices, images_BHWC):
                images[i] = image_HWC
        return images  # type: ignore[return-value]

    def describe(self) -> dict:
        """Identity for run.json: id, folder, weights hash, dtype, device."""
        return dict(self.identity)
