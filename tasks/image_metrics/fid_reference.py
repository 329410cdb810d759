"""The reference side of FID: ADM's reference batch, a sample npz, or a folder of real images.

Accepted references (`--fid-ref PATH`):
- An ADM reference batch such as `VIRTUAL_imagenet256_labeled.npz` (OpenAI guided-diffusion
  `evaluations/`): `mu` (2048,) and `sigma` (2048, 2048) of the TF Inception pool_3 features over the
  whole dataset are used as they are for FID; its `arr_0` images (10,000 at 256 px, uint8 NHWC) give
  the reference features of precision/recall. The statistics only fit the official Inception
  weights, so with any other weights such a file is refused.
- Any npz with `arr_0` images only (e.g. another run's `samples.npz`): statistics from its images.
- A folder of PNG/JPEG images (any sizes; RGB): statistics and features from its images.
Features computed here are cached as an npz under `$TORCH_HOME/vargpt_evals/fid_reference/`, keyed
by the SHA-256 of the reference's content and the Inception weights, so they are computed once.

Without `--fid-ref`: the bundled demo folder with `--data demo`; otherwise the ADM batch, looked up in
`$TORCH_HOME/fid_references/` and downloaded there when missing. A malformed reference (wrong keys,
shapes or dtypes, too few images, statistics for other weights) is refused with one line naming what is
wrong; `check_reference` does so from the file's headers and statistics alone, so that the task refuses
it before any image is generated rather than after the last one.

Shapes: M reference images, D = 2048 pool features.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from evals.errors import HarnessError
from tasks.image_metrics import inception
from tasks.image_metrics.fid import features_to_statistics
from tasks.image_metrics.inception import POOL_DIM, hub_checkpoint_dir

logger = logging.getLogger(__name__)

ADM_REFERENCE_URL = (
    "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/imagenet/256/"
    "VIRTUAL_imagenet256_labeled.npz"
)
ADM_REFERENCE_FILENAME = "VIRTUAL_imagenet256_labeled.npz"
DEMO_REFERENCE_DIR = Path(__file__).resolve().parents[1] / "demo" / "imagenet_ref"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
REFERENCE_CHUNK = 256  # reference images decoded and featurised at a time

# (images (batch, height, width, 3) uint8) -> pool features (batch, 2048)
FeatureFn = Callable[[np.ndarray], np.ndarray]


class FidReferenceError(HarnessError):
    """A reference file or folder that cannot serve as FID reference (wrong keys, shapes, no images)."""


class FidReferenceUnavailable(HarnessError):
    """The default reference is not on disk and cannot be downloaded."""


@dataclass(frozen=True)
class FidReference:
    """Reference statistics (float64) and, when images were available, their pool features."""

    mu_D: np.ndarray
    sigma_DD: np.ndarray
    feats_MD: np.ndarray | None  # for precision/recall; None when the reference has no images
    source: str  # path as given
    content_sha256: str
    precomputed_statistics: bool  # mu/sigma taken from the file (ADM) rather than computed here


def reference_cache_dir() -> Path:
    """Where computed reference features are cached: $TORCH_HOME/vargpt_evals/fid_reference."""
    return hub_checkpoint_dir().parent.parent / "vargpt_evals" / "fid_reference"


def adm_reference_path() -> Path:
    """Where the ADM reference batch is looked for and downloaded to: $TORCH_HOME/fid_references."""
    return hub_checkpoint_dir().parent.parent / "fid_references" / ADM_REFERENCE_FILENAME


def resolve_reference_path(explicit: str | os.PathLike | None, demo: bool, download: bool = True) -> Path:
    """The reference to score against: the explicit path, the demo folder, or the (downloaded) ADM batch."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise FidReferenceError(
                f"--fid-ref {path} does not exist; give ADM's {ADM_REFERENCE_FILENAME} or a folder of images"
            )
        return path
    if demo:
        return DEMO_REFERENCE_DIR
    target = adm_reference_path()
    if target.is_file():
        return target
    hint = f"put {ADM_REFERENCE_FILENAME} at {target} or pass --fid-ref PATH (from {ADM_REFERENCE_URL})"
    if not download:
        raise FidReferenceUnavailable(f"FID reference {ADM_REFERENCE_FILENAME} not found; {hint}")
    try:
        inception.download_file(ADM_REFERENCE_URL, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FidReferenceUnavailable(f"FID reference not found and not downloadable ({reason}); {hint}") from None
    return target


def image_files(folder: Path) -> list[Path]:
    """The images of a reference folder (PNG/JPEG, recursively), in sorted path order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def content_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's image files (relative names and bytes, sorted)."""
    digest = hashlib.sha256()
    files = image_files(path) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def check_reference(path: Path, weights_label: str, official_weights: bool) -> None:
    """Refuse, in one line, a reference that `load_reference` would refuse for its form; no features, no images read.

    Checks the keys, the shapes and dtypes of `mu`, `sigma` and `arr_0` (from its header), the number of
    images, and that precomputed statistics meet the official weights. An undecodable image in a folder
    is found only when the features are computed.
    """
    path = Path(path)
    if path.is_dir():
        _folder_images(path)
        return
    with _open_npz(path) as archive:
        _check_npz(archive, path, weights_label, official_weights)


def load_reference(path: Path, feature_fn: FeatureFn, weights_label: str, official_weights: bool) -> FidReference:
    """Statistics and features of a reference npz or image folder (features cached by content hash)."""
    path = Path(path)
    sha256 = content_sha256(path)
    if path.is_dir():
        files = _folder_images(path)
        feats_MD = cached_features(sha256, weights_label, lambda: _featurise(_folder_chunks(files), feature_fn))
        mu_D, sigma_DD = features_to_statistics(feats_MD)
        return FidReference(mu_D, sigma_DD, feats_MD, str(path), sha256, precomputed_statistics=False)
    return _load_npz_reference(path, sha256, feature_fn, weights_label, official_weights)


def _folder_images(folder: Path) -> list[Path]:
    """The image files of a reference folder; fewer than two are refused."""
    files = image_files(folder)
    if len(files) < 2:
        raise FidReferenceError(f"--fid-ref folder {folder} holds {len(files)} PNG/JPEG images; at least 2 are needed")
    return files


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    """The reference npz, opened lazily (no array read yet); an unreadable file is refused."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise FidReferenceError(f"--fid-ref {path} is not a readable npz or image folder ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array
        raise FidReferenceError(f"--fid-ref {path} is a single array, not an npz; give an npz or a folder of images")
    return archive


def _npz_array_header(archive: np.lib.npyio.NpzFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one npz member, from its .npy header (the 10,000 ADM images stay unread)."""
    with archive.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:  # format 3.0 (unicode field names) has no public header reader
            array = archive[key]
            shape, dtype = array.shape, array.dtype
    return tuple(shape), np.dtype(dtype)


def _check_npz(archive: np.lib.npyio.NpzFile, path: Path, weights_label: str, official_weights: bool) -> bool:
    """Refuse an npz that is neither an ADM batch (mu, sigma, maybe arr_0) nor images (arr_0); True with mu, sigma."""
    keys = set(archive.files)
    has_stats = {"mu", "sigma"} <= keys
    if not has_stats and "arr_0" not in keys:
        raise FidReferenceError(
            f"--fid-ref {path} has keys {sorted(keys)}; expected mu and sigma (ADM reference batch) or arr_0 images"
        )
    if has_stats:
        mu_shape, sigma_shape = _npz_array_header(archive, "mu")[0], _npz_array_header(archive, "sigma")[0]
        if mu_shape != (POOL_DIM,) or sigma_shape != (POOL_DIM, POOL_DIM):
            raise FidReferenceError(
                f"--fid-ref {path}: mu {mu_shape} and sigma {sigma_shape}; expected ({POOL_DIM},) and "
                f"({POOL_DIM}, {POOL_DIM}) Inception pool_3 statistics"
            )
        if not official_weights:
            raise FidReferenceError(
                f"--fid-ref {path} holds statistics of the official TF Inception, but these features come from "
                f"{weights_label}; use the official weights, or a folder of reference images"
            )
    if "arr_0" in keys:
        shape, dtype = _npz_array_header(archive, "arr_0")
        if len(shape) != 4 or shape[-1] != 3 or dtype != np.uint8:
            raise FidReferenceError(
                f"--fid-ref {path}: arr_0 is {dtype} {shape}; expected uint8 (N, height, width, 3) images"
            )
        if not has_stats and shape[0] < 2:
            raise FidReferenceError(f"--fid-ref {path}: arr_0 holds {shape[0]} images; at least 2 are needed")
    return has_stats


def _load_npz_reference(
    path: Path, sha256: str, feature_fn: FeatureFn, weights_label: str, official_weights: bool
) -> FidReference:
    """An ADM reference batch (mu, sigma, arr_0) or an images-only npz (arr_0)."""
    with _open_npz(path) as archive:
        has_stats = _check_npz(archive, path, weights_label, official_weights)
        feats_MD = None
        if "arr_0" in archive.files:
            # Read only on a cache miss: ADM's arr_0 is 10,000 images (about 2 GB).
            feats_MD = cached_features(
                sha256, weights_label, lambda: _featurise(_npz_image_chunks(archive), feature_fn)
            )
        if has_stats:
            mu_D, sigma_DD = archive["mu"].astype(np.float64), archive["sigma"].astype(np.float64)
            return FidReference(mu_D, sigma_DD, feats_MD, str(path), sha256, precomputed_statistics=True)
    mu_D, sigma_DD = features_to_statistics(feats_MD)
    return FidReference(mu_D, sigma_DD, feats_MD, str(path), sha256, precomputed_statistics=False)


def cached_features(sha256: str, weights_label: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Features from the cache file for (content, weights), computing and storing them on a miss."""
    cache = reference_cache_dir() / f"{sha256[:32]}-{weights_label}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            return stored["feats"]
    feats_MD = compute()
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + f".partial-{os.getpid()}.npz")
    np.savez(partial, feats=feats_MD)
    os.replace(partial, cache)  # atomic: concurrent workers may both compute, never half-write
    logger.info("cached reference features in %s", cache)
    return feats_MD


def _featurise(chunks: Iterator[np.ndarray], feature_fn: FeatureFn) -> np.ndarray:
    """Pool features of every chunk of images, concatenated in order."""
    parts = [np.asarray(feature_fn(chunk), dtype=np.float32) for chunk in chunks]
    return np.concatenate(parts) if parts else np.zeros((0, POOL_DIM), np.float32)


def _npz_image_chunks(archive: np.lib.npyio.NpzFile) -> Iterator[np.ndarray]:
    """Consecutive slices of an npz's arr_0 (checked by _check_npz to be uint8 (N, height, width, 3) images)."""
    images_NHWC = archive["arr_0"]
    for start in range(0, len(images_NHWC), REFERENCE_CHUNK):
        yield images_NHWC[start : start + REFERENCE_CHUNK]


def _folder_chunks(files: Sequence[Path]) -> Iterator[np.ndarray]:
    """Decoded RGB images of a folder, grouped by size within consecutive chunks (Inception resizes each)."""
    for start in range(0, len(files), REFERENCE_CHUNK):
        decoded = []
        for file in files[start : start + REFERENCE_CHUNK]:
            try:
                with Image.open(file) as image:
                    decoded.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            except OSError as exc:
                raise FidReferenceError(
                    f"reference image {file} cannot be read ({exc}); remove or replace it"
                ) from None
        sizes = sorted({a.shape for a in decoded})
        for size in sizes:  # order within a size group follows the file order
            yield np.stack([a for a in decoded if a.shape == size])
