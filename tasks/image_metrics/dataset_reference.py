"""The FID reference of a text-to-image task: the real images of the dataset split whose captions it draws.

COCO text-to-image FID compares the generated images with the real images of the same split (the 5,000 COCO
2017 val images for coco_t2i). Each real image is centre-cropped to the aspect ratio of the generated images (a
square for VARGPT's 256 x 256) and resized to their size with PIL's bicubic filter (antialiased when it shrinks),
then goes through the same Inception as the samples: real and generated images reach Inception's own resize to
299 px from the same resolution.

The pool features are cached under `$TORCH_HOME/vargpt_evals/fid_reference/` (tasks/image_metrics/fid_reference.py
`cached_features`), keyed by the SHA-256 of every document's id and image bytes in dataset order, the target size,
the crop rule and the Inception weights: computed once per copy of the dataset, recomputed when any image
changes. An image that cannot be decoded is left out with a warning naming it.

Shapes: M reference images, D = 2048 pool features, H/W pixels.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from tasks.data.datasets_io import CorruptImage, decode_image
from tasks.image_metrics.fid import features_to_statistics
from tasks.image_metrics.fid_reference import FeatureFn, FidReference, FidReferenceError, cached_features
from tasks.image_metrics.inception import POOL_DIM

logger = logging.getLogger(__name__)

CROP_RULE = "centre crop to the generated aspect ratio, PIL bicubic resize to the generated size (v1)"
REFERENCE_CHUNK = 256  # reference images decoded and featurised at a time


def centre_crop_resize(image: Image.Image, height: int, width: int) -> np.ndarray:
    """The largest centred crop of `image` with the aspect ratio height:width, resized to (height, width, 3) uint8."""
    image = image.convert("RGB")
    w, h = image.size
    if w * height > h * width:  # wider than the target: cut the sides
        crop_w, crop_h = round(h * width / height), h
    else:  # taller (or equal): cut top and bottom
        crop_w, crop_h = w, round(w * height / width)
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    box = (left, top, left + crop_w, top + crop_h)
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)


def image_bytes(cell: Any) -> bytes:
    """The encoded bytes of a dataset image cell ({"bytes", "path"}); b"" when it holds none."""
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        if cell.get("path"):
            try:
                with open(cell["path"], "rb") as handle:
                    return handle.read()
            except OSError:
                return b""
    return b""


def content_key(docs: Sequence[dict], doc_id: Callable[[dict], str], image_field: str, size: tuple[int, int]) -> str:
    """SHA-256 of the documents' ids and image bytes (in order), the target size and the crop rule."""
    digest = hashlib.sha256(f"{CROP_RULE}\0{size[0]}x{size[1]}\0".encode())
    for doc in docs:
        digest.update(doc_id(doc).encode() + b"\0")
        data = image_bytes(doc.get(image_field))
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _chunks(
    docs: Sequence[dict], doc_id: Callable[[dict], str], image_field: str, size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """Cropped and resized reference images, REFERENCE_CHUNK at a time; undecodable ones are skipped."""
    chunk: list[np.ndarray] = []
    for doc in docs:
        try:
            chunk.append(centre_crop_resize(decode_image(doc.get(image_field), doc_id(doc)), *size))
        except CorruptImage as error:
            logger.warning("reference image left out: %s", error)
        if len(chunk) == REFERENCE_CHUNK:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


def dataset_reference(
    docs: Sequence[dict],
    doc_id: Callable[[dict], str],
    image_field: str,
    size: tuple[int, int],
    feature_fn: FeatureFn,
    weights_label: str,
    source: str,
) -> FidReference:
    """Statistics and pool features of the documents' images, cropped and resized to `size` (height, width)."""
    key = content_key(docs, doc_id, image_field, size)

    def compute() -> np.ndarray:
        parts = [np.asarray(feature_fn(chunk), dtype=np.float32) for chunk in _chunks(docs, doc_id, image_field, size)]
        return np.concatenate(parts) if parts else np.zeros((0, POOL_DIM), np.float32)

    feats_MD = cached_features(key, weights_label, compute)
    if len(feats_MD) < 2:
        raise FidReferenceError(f"reference {source} holds {len(feats_MD)} readable images; at least 2 are needed")
    mu_D, sigma_DD = features_to_statistics(feats_MD)
    return FidReference(mu_D, sigma_DD, feats_MD, source, key, precomputed_statistics=False)
