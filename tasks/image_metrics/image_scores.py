"""Per-image scores of generated images and the metrics over a task's records, for every image task.

Scoring runs on the worker, on its device, as images arrive: Inception pool features and unbiased logits
(arrays, kept in the npz shards) for FID, IS and precision/recall, and the CLIP score of each image against its
text (a float in the record; tasks/image_metrics/clip_score.py). Each record also keeps the label of the
Inception weights and of the CLIP model that scored it: records of two models are never mixed (aggregation
refuses them in one line), and metric names say which weights scored (`fid_random_inception`,
`clip_score_random_clip`).

Aggregation needs no model, only the records (and a reference for FID): IS over consecutive, unshuffled splits
of the records in the order the task gives them, FID and precision/recall against the reference, and the CLIP
score's mean (clamped at 0, as torchmetrics) and std. `evals score --run` recomputes the metrics this way.

Options every image task declares (OPTIONS): save_samples, inception_weights, fid_ref, clip_model, clip_revision.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from evals.errors import HarnessError
from evals.run.records import Record
from evals.task_api import Task
from tasks.image_metrics.clip_score import (
    DEFAULT_CLIP_MODEL,
    RANDOM_SUFFIX,
    ClipModel,
    clip_score_metrics,
    image_text_scores,
    load_clip,
    resolve_clip,
    resolved_revision,
)
from tasks.image_metrics.clip_score import metric_suffix as clip_suffix
from tasks.image_metrics.fid import (
    PRC_NEIGHBORHOOD,
    features_to_fid,
    features_to_precision_recall,
    logits_to_inception_score,
)
from tasks.image_metrics.fid_reference import FeatureFn, FidReference
from tasks.image_metrics.inception import (
    InceptionWeights,
    image_to_hwc_uint8,
    images_to_features,
    inception_device,
    load_inception,
    resolve_weights,
)
from tasks.image_metrics.inception import metric_suffix as inception_suffix

logger = logging.getLogger(__name__)

OPTIONS = {
    "save_samples": False,
    "inception_weights": "",
    "fid_ref": "",
    "clip_model": DEFAULT_CLIP_MODEL,
    "clip_revision": "",  # "" = the pinned revision of a known model (clip_score.PINNED_REVISIONS), else main
}
AGGREGATION_OPTIONS = ("fid_ref",)  # read by aggregate() only: left out of the run fingerprint

# Metric names; a suffix is appended when the weights are not the official ones.
FID = "fid"
INCEPTION_SCORE = "inception_score"
INCEPTION_SCORE_STD = "inception_score_std"
PRECISION = "precision"
RECALL = "recall"
CLIP_SCORE = "clip_score"
CLIP_SCORE_STD = "clip_score_std"
NUM_IMAGES = "num_images"
NUM_ERRORS = "num_errors"
INCEPTION_SUFFIXES = ("", "_random_inception", "_unverified_inception")
CLIP_SUFFIXES = ("", RANDOM_SUFFIX)

# Per-image arrays (stored in the workers' npz shards) and scores.
POOL_ARRAY = "inception_pool"  # (2048,) float32
LOGITS_ARRAY = "inception_logits"  # (1008,) float32
SAMPLE_ARRAY = "sample"  # (height, width, 3) uint8, kept with save_samples and for the grid
WEIGHTS_SCORE = "inception_weights"  # label of the Inception weights
CLIP_MODEL_SCORE = "clip_model"  # label of the CLIP model; the image's score is under CLIP_SCORE
DATA_SCORE = "data"


class InceptionFeaturesMismatch(HarnessError):
    """Records of one run were scored with different Inception weights."""


class ClipScoresMismatch(HarnessError):
    """Records of one run were scored with different CLIP models."""


def higher_is_better() -> dict[str, bool]:
    """Direction of every image metric, under every suffix."""
    inception = {FID: False, INCEPTION_SCORE: True, PRECISION: True, RECALL: True}
    return {
        **{name + suffix: better for suffix in INCEPTION_SUFFIXES for name, better in inception.items()},
        **{CLIP_SCORE + suffix: True for suffix in CLIP_SUFFIXES},
    }


def named_metric(metrics: Mapping[str, float], name: str, suffixes: Sequence[str]) -> str | None:
    """`name` with the suffix aggregate gave it in `metrics` (e.g. `fid_random_inception`), or None."""
    return next((name + suffix for suffix in suffixes if name + suffix in metrics), None)


def clip_protocol(task: Task, text: str) -> dict[str, str]:
    """What decides a task's CLIP scores, for its protocol(): model, resolved revision, text, definition."""
    model = task.option("clip_model")
    return {
        "model": model,
        "revision": resolved_revision(model, task.option("clip_revision")) or "main",
        "text": text,
        "score": "torchmetrics CLIPScore: 100 * cos(image, text) per image; max(mean, 0) and std over images",
    }


# -- scoring (workers) ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _resolved_clip(model: str, revision: str, demo: bool) -> ClipModel:
    """The CLIP model, resolved once per process (a stand-in warns once, not per batch)."""
    return resolve_clip(model, revision, allow_random_standin=demo)


def prepare_scorers(task: Task, demo: bool) -> InceptionWeights:
    """Resolve (and download what is missing of) the Inception weights and the CLIP model, before any image.

    Missing weights stop the run here in one line; the Inception weights found are returned.
    """
    weights = resolve_weights(task.option("inception_weights") or None, allow_random_standin=demo)
    _resolved_clip(task.option("clip_model"), task.option("clip_revision"), demo)
    return weights


def check_scorers(task: Task, demo: bool) -> dict[str, str]:
    """The labels of the Inception weights and the CLIP model this process would score with, found without
    downloading (Task.check_inputs: every rank must hold the same); a missing one raises in one line."""
    weights = resolve_weights(task.option("inception_weights") or None, allow_random_standin=demo, download=False)
    model, revision = task.option("clip_model"), task.option("clip_revision")
    clip = resolve_clip(model, revision, allow_random_standin=demo, download=False)
    return {"Inception weights": weights.label, "CLIP model": clip.label}


def score_images(
    task: Task, outputs: Sequence[Any], texts: Sequence[str], demo: bool
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """The images as (height, width, 3) uint8, and each one's Inception arrays and CLIP score against its text."""
    images = [image_to_hwc_uint8(output) for output in outputs]
    extractor, weights = load_inception(task.option("inception_weights") or None, allow_random_standin=demo)
    pool_ND, logits_NC = images_to_features(extractor, images)
    clip = _resolved_clip(task.option("clip_model"), task.option("clip_revision"), demo)
    model, processor = load_clip(clip, inception_device())
    clip_N = image_text_scores(model, processor, images, texts)
    scores = [
        {
            WEIGHTS_SCORE: weights.label,
            POOL_ARRAY: pool_ND[i],
            LOGITS_ARRAY: logits_NC[i],
            CLIP_MODEL_SCORE: clip.label,
            CLIP_SCORE: float(clip_N[i]),
        }
        for i in range(len(images))
    ]
    return images, scores


def pool_features_fn(task: Task, weights_label: str, demo: bool) -> FeatureFn:
    """Pool features of reference images with the weights that scored the samples (refused if others load now)."""

    def pool_features(images_BHWC: np.ndarray) -> np.ndarray:
        extractor, weights = load_inception(task.option("inception_weights") or None, allow_random_standin=demo)
        if weights.label != weights_label:
            raise InceptionFeaturesMismatch(
                f"samples were scored with {weights_label} but {weights.label} is loaded now; "
                "pass the same --inception-weights as the run that scored them"
            )
        return images_to_features(extractor, images_BHWC)[0]

    return pool_features


# -- aggregation (no model) ----------------------------------------------------------------------------
def one_label(records: Sequence[Record], key: str, task_name: str, error: type[HarnessError], what: str) -> str:
    """The single label the records carry under `key`; records of two labels are refused."""
    labels = sorted({str(r.scores.get(key)) for r in records})
    if len(labels) > 1:
        raise error(f"task {task_name!r}: records hold {what} of {', '.join(labels)}; rerun with --overwrite")
    return labels[0]


def inception_scored(records: Sequence[Record]) -> list[Record]:
    """The records that hold Inception features, in the given order."""
    return [r for r in records if r.ok and POOL_ARRAY in r.arrays and LOGITS_ARRAY in r.arrays]


def inception_metrics(
    scored: Sequence[Record], reference: Callable[[str], FidReference], task_name: str
) -> dict[str, float]:
    """IS (splits in the given order), and with two images or more FID and precision/recall against
    `reference(weights label)`; names suffixed for non-official weights. Empty without records."""
    if not scored:
        return {}
    label = one_label(scored, WEIGHTS_SCORE, task_name, InceptionFeaturesMismatch, "features of Inception weights")
    suffix = inception_suffix(label)
    pool_ND = np.stack([np.asarray(r.arrays[POOL_ARRAY], dtype=np.float32) for r in scored])
    logits_NC = np.stack([np.asarray(r.arrays[LOGITS_ARRAY], dtype=np.float32) for r in scored])
    metrics: dict[str, float] = {}
    metrics[INCEPTION_SCORE + suffix], metrics[INCEPTION_SCORE_STD + suffix] = logits_to_inception_score(logits_NC)
    if len(scored) < 2:
        logger.warning("task %s: one image only; FID needs at least two", task_name)
        return metrics
    ref = reference(label)
    metrics[FID + suffix] = features_to_fid(pool_ND, ref.mu_D, ref.sigma_DD)
    if ref.feats_MD is not None and min(len(pool_ND), len(ref.feats_MD)) > PRC_NEIGHBORHOOD:
        precision, recall = features_to_precision_recall(pool_ND, ref.feats_MD, device=inception_device())
        metrics[PRECISION + suffix], metrics[RECALL + suffix] = precision, recall
    return metrics


def clip_metrics(records: Sequence[Record], task_name: str) -> dict[str, float]:
    """CLIP score (max(mean, 0), as torchmetrics) and std of the records' per-image scores; empty without any."""
    scored = [r for r in records if r.ok and isinstance(r.scores.get(CLIP_SCORE), (int, float))]
    if not scored:
        return {}
    label = one_label(scored, CLIP_MODEL_SCORE, task_name, ClipScoresMismatch, "CLIP scores of models")
    suffix = clip_suffix(label)
    mean, std = clip_score_metrics([float(r.scores[CLIP_SCORE]) for r in scored])
    return {CLIP_SCORE + suffix: mean, CLIP_SCORE_STD + suffix: std}
