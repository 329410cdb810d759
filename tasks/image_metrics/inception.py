"""The Inception network of FID: torch-fidelity's TF-compatible InceptionV3 and its weights file.

The extractor is torch-fidelity's `FeatureExtractorInceptionV3` (registered as `inception-v3-compat`),
the port of the TF graph `classify_image_graph_def.pb` (2015-12-05) that OpenAI's ADM evaluator runs.
Inputs are uint8 images of any size; the network resizes them to 299x299 with torch-fidelity's
TF1-compatible bilinear interpolation (as the TF graph does), so 256-px samples and the tiny model's
small images go through the same path.

Weights resolve in this order (DESIGN.md, "Offline and defaults"):
1. an explicit path (`--inception-weights PATH`);
2. the torch hub cache, `$TORCH_HOME/hub/checkpoints/` (default `~/.cache/torch`), under
   torch-fidelity's file name or pytorch-fid's (the two files are the same bytes, SHA-256 below);
3. the download from torch-fidelity's release into that cache.
When all three fail, `InceptionWeightsUnavailable` says in one line which file is missing and where
to put it. Only with `--data demo` may a random-weights network of the same architecture stand in;
the metric names then carry `_random_inception`, so such numbers are never mistaken for FID.

Which weights a file holds is decided by content, not name: the official file by its SHA-256; a file
written by `save_random_inception_weights` by the seed it records in its state-dict metadata; anything
else is "unverified" and also renames the metrics.

torch and torch-fidelity are imported inside the functions that run the network: torch-fidelity pulls
in torchvision and torch._dynamo (seconds), which commands that only list or configure tasks skip.

Shapes: B batch, H/W pixels, N samples, D = 2048 pool features, C = 1008 logits.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evals.errors import HarnessError

if TYPE_CHECKING:
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

logger = logging.getLogger(__name__)

# torch-fidelity 0.4.0's URL_INCEPTION_V3 (tests/tasks/test_imagenet_task.py checks that they agree).
WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's name
WEIGHTS_ALT_FILENAMES = ("pt_inception-2015-12-05-6726825d.pth",)  # pytorch-fid's name, same bytes
# SHA-256 of the converted TF weights, as pinned by several independent FID set-ups that checked it
# (95,628,359 bytes); torch hub's naming convention puts its first 8 hex digits in the file name.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

POOL_FEATURES = "2048"  # pool_3 in the TF graph: FID and precision/recall
LOGIT_FEATURES = "logits_unbiased"  # fc without bias, as ADM's IS uses it
FEATURES = (POOL_FEATURES, LOGIT_FEATURES)
POOL_DIM, LOGIT_DIM = 2048, 1008

# Every forward pass has the same shape: one image on CPU, INCEPTION_BATCH images (zero-padded) on
# CUDA. Each image then meets the same kernels whatever batch it arrived in, so features do not
# depend on the runner's batch size or on the sharding (batched GEMMs differ in the last bits with
# the number of rows). A CPU gains nothing from batching here; a GPU does. Measured on CPU (one
# thread, 256-px images, process time per image): 145-160 ms at batch 1, 136-147 ms at a padded
# batch of 4 or 8, 150-170 ms at 16 or 32. A fixed padded batch is exact on CPU too (features of an
# image do not depend on its position or neighbours), but its logits differ from batch 1's in the
# last bits, it gains at most ~5% and it pays for the padding of every short batch; two threads
# change the bits, so one thread it is.
INCEPTION_BATCH = 32
RANDOM_STANDIN_SEED = 0
_RANDOM_SEED_KEY = "random_inception_seed"
_DOWNLOAD_TIMEOUT_S = 60

WeightsKind = Literal["tf-2015-12-05", "random", "unverified"]


class InceptionWeightsUnavailable(HarnessError):
    """The Inception weights file is not on disk and cannot be downloaded."""


@dataclass(frozen=True)
class InceptionWeights:
    """Which weights an extractor holds: the official TF port, seeded random weights, or unknown."""

    kind: WeightsKind
    path: Path | None = None
    sha256: str = ""
    seed: int | None = None

    @property
    def label(self) -> str:
        """A short identity stored with every document's features (features of two labels never mix)."""
        if self.kind == "tf-2015-12-05":
            return "tf-inception-2015-12-05"
        if self.kind == "random":
            return f"random-inception-seed{self.seed}"
        return f"unverified-inception-sha256-{self.sha256[:12]}"


def metric_suffix(weights_label: str) -> str:
    """The suffix metric names carry for features of these weights ('' for the official weights)."""
    if weights_label.startswith("tf-inception"):
        return ""
    if weights_label.startswith("random-inception"):
        return "_random_inception"
    return "_unverified_inception"


def hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint folder: $TORCH_HOME/hub/checkpoints (where torch-fidelity looks too)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_inception_weights(explicit: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The weights file: the explicit path, else the hub cache, else downloaded into the hub cache."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InceptionWeightsUnavailable(
                f"--inception-weights {path} does not exist; give the path of {WEIGHTS_FILENAME} "
                f"(download it from {WEIGHTS_URL})"
            )
        return path
    cache = hub_checkpoint_dir()
    for name in (WEIGHTS_FILENAME, *WEIGHTS_ALT_FILENAMES):
        if (cache / name).is_file():
            return cache / name
    target = cache / WEIGHTS_FILENAME
    if download:
        try:
            download_file(WEIGHTS_URL, target)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InceptionWeightsUnavailable(
                f"Inception weights {WEIGHTS_FILENAME} not found and not downloadable ({reason}); "
                f"put the file at {target} or pass --inception-weights PATH (from {WEIGHTS_URL})"
            ) from None
    raise InceptionWeightsUnavailable(
        f"Inception weights {WEIGHTS_FILENAME} not found; put the file at {target} "
        f"or pass --inception-weights PATH (from {WEIGHTS_URL})"
    )


def download_file(url: str, target: Path) -> None:
    """Fetch `url` to `target` through a temporary file, so that a broken download leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    logger.info("downloading %s to %s", url, target)
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as handle:
            while block := response.read(1 << 20):
                handle.write(block)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def identify_weights(path: Path) -> InceptionWeights:
    """Official, random (with its seed) or unverified: decided by the file's content."""
    sha256 = file_sha256(path)
    if sha256 == WEIGHTS_SHA256:
        return InceptionWeights(kind="tf-2015-12-05", path=path, sha256=sha256)
    import torch

    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    root_metadata = getattr(state_dict, "_metadata", {}).get("", {})
    if _RANDOM_SEED_KEY in root_metadata:
        return InceptionWeights(kind="random", path=path, sha256=sha256, seed=int(root_metadata[_RANDOM_SEED_KEY]))
    return InceptionWeights(kind="unverified", path=path, sha256=sha256)


def random_inception(seed: int) -> FeatureExtractorInceptionV3:
    """An InceptionV3 of the real architecture with seeded random weights (for tests and demos only)."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _UnloadedInceptionV3(FeatureExtractorInceptionV3):
        """torch-fidelity's architecture left at its (seeded) initialisation instead of loading weights."""

        def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
            """Skip the empty dict the constructor is handed; load any real one as usual."""
            if len(state_dict) == 0:
                return None
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG untouched
        torch.manual_seed(seed)
        model = _UnloadedInceptionV3("inception-v3-compat", list(FEATURES), feature_extractor_weights_path=empty)
        # He-normal convolutions keep activations at unit scale through 90-odd layers, so random
        # features still differ between images (PyTorch's default init shrinks them towards zero).
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        torch.nn.init.normal_(model.fc.weight, std=POOL_DIM**-0.5)
    return model


def save_random_inception_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write a random-weights InceptionV3 file that loads wherever the real weights file does."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = random_inception(seed).state_dict()
    # The seed rides in the state dict's own metadata (ignored by load_state_dict), so the file
    # announces itself as random wherever it is copied.
    state_dict._metadata[""][_RANDOM_SEED_KEY] = seed  # type: ignore[attr-defined]
    torch.save(state_dict, path)
    return path


def inception_device() -> torch.device:
    """The worker's accelerator (its current CUDA device) when there is one, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


_LOADED: dict[tuple[str, bool, str], tuple[FeatureExtractorInceptionV3, InceptionWeights]] = {}


def load_inception(
    weights_path: str | os.PathLike | None,
    allow_random_standin: bool = False,
    device: torch.device | None = None,
) -> tuple[FeatureExtractorInceptionV3, InceptionWeights]:
    """The extractor (loaded once per process and device) and which weights it holds."""
    device = device or inception_device()
    key = (str(weights_path or ""), allow_random_standin, str(device))
    if key not in _LOADED:
        weights = resolve_weights(weights_path, allow_random_standin)
        if weights.path is None:
            model = random_inception(RANDOM_STANDIN_SEED)
        else:
            from torch_fidelity.feature_extractor_inceptionv3 import (
                FeatureExtractorInceptionV3,
            )

            model = FeatureExtractorInceptionV3(
                "inception-v3-compat", list(FEATURES), feature_extractor_weights_path=str(weights.path)
            )
            if weights.kind != "tf-2015-12-05":
                logger.warning(
                    "Inception weights %s are %s, not the TF port: metrics are renamed", weights.path, weights.kind
                )
        _LOADED[key] = (model.to(device).eval(), weights)
    return _LOADED[key]


def resolve_weights(
    weights_path: str | os.PathLike | None, allow_random_standin: bool = False, download: bool = True
) -> InceptionWeights:
    """Which weights `load_inception` loads: the resolved file, identified by content, or the random stand-in.

    Downloads a missing file like `resolve_inception_weights` unless `download` is False. The FID task's
    `prepare` calls it, and every rank's `check_inputs`, so that missing weights stop a run before any image
    is drawn.
    """
    try:
        path = resolve_inception_weights(weights_path, download=download)
    except InceptionWeightsUnavailable as exc:
        if not allow_random_standin or weights_path:
            raise
        logger.warning("%s; demo data: random Inception weights stand in, metrics are renamed", exc)
        return InceptionWeights(kind="random", seed=RANDOM_STANDIN_SEED)
    return identify_weights(path)


def image_to_hwc_uint8(image: Any) -> np.ndarray:
    """One image (PIL, HWC or CHW array/tensor, uint8) as a (height, width, 3) uint8 array."""
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    if torch is not None and isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"generated image has dtype {array.dtype}; expected uint8 RGB")
    if array.ndim == 3 and array.shape[-1] != 3 and array.shape[0] == 3:
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"generated image has shape {array.shape}; expected (height, width, 3) RGB")
    return np.ascontiguousarray(array)


@contextlib.contextmanager
def exact_float32(device: torch.device) -> Iterator[None]:
    """Exact float32 arithmetic that does not depend on how many threads a worker has, for one call."""
    import torch

    # No TF32: cuDNN convolutions default to it (both the legacy flag and the precision API are set), and a
    # caller may have allowed it for matmuls; deterministic cuDNN algorithms.
    convolutions = torch.backends.cudnn.flags(
        enabled=True, benchmark=False, deterministic=True, allow_tf32=False, fp32_precision="ieee"
    )
    matmul_precision = torch.get_float32_matmul_precision()
    # CPU convolutions and matmuls split their sums by thread count: without one thread, features and CLIP
    # scores would change in the last bits with the threads a worker has (parallel workers get one each).
    threads = torch.get_num_threads()
    torch.set_float32_matmul_precision("highest")
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        with convolutions:
            yield
    finally:
        torch.set_float32_matmul_precision(matmul_precision)
        torch.set_num_threads(threads)


def images_to_features(
    extractor: FeatureExtractorInceptionV3, images_BHWC: Sequence[np.ndarray] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pool features (num_images, 2048) and unbiased logits (num_images, 1008), float32, in input order."""
    images = [image_to_hwc_uint8(image) for image in images_BHWC]
    if not images:
        return np.zeros((0, POOL_DIM), np.float32), np.zeros((0, LOGIT_DIM), np.float32)
    sizes = {image.shape for image in images}
    if len(sizes) > 1:
        raise ValueError(f"generated images differ in size ({sorted(sizes)}); one size per batch is expected")
    import torch

    device = next(extractor.parameters()).device
    pixels_BCHW = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    forward_batch = INCEPTION_BATCH if device.type == "cuda" else 1
    pools, logits = [], []
    with torch.no_grad(), exact_float32(device):
        for start in range(0, len(images), forward_batch):
            chunk_BCHW = pixels_BCHW[start : start + forward_batch]
            count = chunk_BCHW.shape[0]
            if count < forward_batch:
                padding = chunk_BCHW.new_zeros((forward_batch - count, *chunk_BCHW.shape[1:]))
                chunk_BCHW = torch.cat([chunk_BCHW, padding])
            pool_BD, logits_BC = extractor(chunk_BCHW.to(device))
            pools.append(pool_BD[:count].float().cpu().numpy())
            logits.append(logits_BC[:count].float().cpu().numpy())
    return np.concatenate(pools), np.concatenate(logits)
