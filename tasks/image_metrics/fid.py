"""FID, Inception Score and precision/recall from Inception features: pure functions, float64.

Every number goes through torch-fidelity's own metric code (v0.4.0,
https://github.com/toshas/torch-fidelity/tree/v0.4.0/torch_fidelity, `metric_fid.py`, `metric_isc.py`,
`metric_prc.py`) so that our FID is torch-fidelity's FID; these wrappers fix the dtypes, the split
rule and the argument checks (torch-fidelity only asserts).

How they compare with OpenAI's ADM evaluator (guided-diffusion `evaluations/evaluator.py`), which VAR
reports with:
- FID: ADM takes `scipy.linalg.sqrtm(sigma1 @ sigma2)`; torch-fidelity 0.4.0 takes the square roots
  of the eigenvalues of the same product. Equal to ~1e-6 relative on well-conditioned statistics
  (tests/tasks/image_metrics/test_fid_math.py checks both).
- IS: ADM cuts the samples in order into splits of 5,000 (10 splits for 50,000) without shuffling;
  we cut into 10 equal splits, in order, without shuffling: the same thing for 50,000 samples.
- Precision/recall: Kynkaenniemi et al. with k=3 nearest neighbours on the 2048-d pool features,
  generated samples against reference images, as ADM's `ManifoldEstimator(nhood_sizes=(3,))`.

torch and torch-fidelity are imported inside the functions: torch-fidelity pulls in torchvision and
torch._dynamo (seconds), which `python -m evals list` and every other command that only reads the task
registry should not pay for.

Shapes: N samples, M reference samples, D feature dim, C logits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

IS_SPLITS = 10  # ADM: split_size 5000 over 50,000 samples
IS_MIN_SPLIT = 2
PRC_NEIGHBORHOOD = 3  # ADM: nhood_sizes=(3,)
PRC_BATCH_SIZE = 10000  # rows of the distance matrix held at once (torch-fidelity's default)


def features_to_statistics(feats_ND: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (num_samples, dim), both float64."""
    feats_ND = np.asarray(feats_ND, dtype=np.float64)
    if feats_ND.ndim != 2 or feats_ND.shape[0] < 2:
        raise ValueError(f"features must be (num_samples >= 2, dim); got shape {feats_ND.shape}")
    mu_D = feats_ND.mean(axis=0)
    sigma_DD = np.cov(feats_ND, rowvar=False)
    return mu_D, sigma_DD


def frechet_distance(mu1_D: np.ndarray, sigma1_DD: np.ndarray, mu2_D: np.ndarray, sigma2_DD: np.ndarray) -> float:
    """The Frechet distance of two Gaussians (FID when they are Inception pool statistics), in float64."""
    mu1_D, mu2_D = np.asarray(mu1_D, dtype=np.float64), np.asarray(mu2_D, dtype=np.float64)
    sigma1_DD, sigma2_DD = np.asarray(sigma1_DD, dtype=np.float64), np.asarray(sigma2_DD, dtype=np.float64)
    dim = mu1_D.shape[0] if mu1_D.ndim == 1 else -1
    for name, shape, expected in (
        ("mu1", mu1_D.shape, (dim,)),
        ("mu2", mu2_D.shape, (dim,)),
        ("sigma1", sigma1_DD.shape, (dim, dim)),
        ("sigma2", sigma2_DD.shape, (dim, dim)),
    ):
        if dim < 1 or shape != expected:
            raise ValueError(f"{name} has shape {shape}; expected {expected} (statistics of the same feature dim)")
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    # torch-fidelity asserts equal dtypes on both sides; both are float64 here.
    metric = fid_statistics_to_metric({"mu": mu1_D, "sigma": sigma1_DD}, {"mu": mu2_D, "sigma": sigma2_DD}, False)
    return float(metric[KEY_METRIC_FID])


def features_to_fid(feats_ND: np.ndarray, mu2_D: np.ndarray, sigma2_DD: np.ndarray) -> float:
    """FID of features (num_samples, dim) against reference statistics, in float64.

    With at least as many samples as dimensions this is `frechet_distance` of the features'
    statistics. With fewer (demo runs, tests), sigma1 = A^T A has rank < N, and the non-zero
    eigenvalues of sigma1 @ sigma2 are those of the symmetric N x N matrix A sigma2 A^T: the same
    trace term from a small symmetric eigenproblem instead of a 2048 x 2048 general one.
    """
    feats_ND = np.asarray(feats_ND, dtype=np.float64)
    num, dim = feats_ND.shape if feats_ND.ndim == 2 else (0, 0)
    if num < 2:
        raise ValueError(f"features must be (num_samples >= 2, dim); got shape {feats_ND.shape}")
    if num - 1 >= dim:
        return frechet_distance(*features_to_statistics(feats_ND), mu2_D, sigma2_DD)
    mu2_D, sigma2_DD = np.asarray(mu2_D, dtype=np.float64), np.asarray(sigma2_DD, dtype=np.float64)
    if mu2_D.shape != (dim,) or sigma2_DD.shape != (dim, dim):
        raise ValueError(f"reference statistics {mu2_D.shape}, {sigma2_DD.shape} do not fit features of dim {dim}")
    mu1_D = feats_ND.mean(axis=0)
    a_ND = (feats_ND - mu1_D) / np.sqrt(num - 1)  # sigma1 = a^T a, as np.cov(ddof=1)
    gram_NN = a_ND @ sigma2_DD @ a_ND.T
    eigenvalues = np.linalg.eigvalsh((gram_NN + gram_NN.T) / 2)
    # Rounding leaves tiny negative eigenvalues; torch-fidelity drops them too (real part of sqrt).
    tr_covmean = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff_D = mu1_D - mu2_D
    return float(diff_D @ diff_D + np.sum(a_ND * a_ND) + np.trace(sigma2_DD) - 2 * tr_covmean)


def logits_to_inception_score(logits_NC: np.ndarray, splits: int = IS_SPLITS) -> tuple[float, float]:
    """Inception Score mean and std over `splits` consecutive, unshuffled splits of (num_samples, classes).

    Fewer splits are used when there are fewer than 2 * `splits` samples (each split keeps two).
    """
    logits_NC = np.asarray(logits_NC)
    if logits_NC.ndim != 2 or logits_NC.shape[0] < 1:
        raise ValueError(f"logits must be (num_samples >= 1, num_classes); got shape {logits_NC.shape}")
    # A split of one sample always scores 1 (its marginal is itself): with fewer than 2 * splits
    # samples (demo runs), use fewer splits of at least IS_MIN_SPLIT samples each.
    splits = max(1, min(splits, logits_NC.shape[0] // IS_MIN_SPLIT))
    import torch
    from torch_fidelity.metric_isc import (
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )

    metric = isc_features_to_metric(torch.from_numpy(logits_NC).double(), splits=splits, shuffle=False)
    return float(metric[KEY_METRIC_ISC_MEAN]), float(metric[KEY_METRIC_ISC_STD])


def features_to_precision_recall(
    gen_feats_ND: np.ndarray,
    ref_feats_MD: np.ndarray,
    neighborhood: int = PRC_NEIGHBORHOOD,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """Improved precision and recall (k-NN manifolds) of generated against reference features."""
    gen_feats_ND, ref_feats_MD = np.asarray(gen_feats_ND), np.asarray(ref_feats_MD)
    if gen_feats_ND.ndim != 2 or ref_feats_MD.ndim != 2 or gen_feats_ND.shape[1] != ref_feats_MD.shape[1]:
        raise ValueError(
            f"precision/recall needs (N, D) and (M, D) features; got {gen_feats_ND.shape} and {ref_feats_MD.shape}"
        )
    smallest = min(gen_feats_ND.shape[0], ref_feats_MD.shape[0])
    if smallest <= neighborhood:
        raise ValueError(f"precision/recall with k={neighborhood} needs more than {neighborhood} samples per side")
    import torch
    from torch_fidelity.metric_prc import calculate_precision_recall_part

    gen = torch.from_numpy(gen_feats_ND).float().to(device)
    ref = torch.from_numpy(ref_feats_MD).float().to(device)
    # torch-fidelity's convention: features_1 generated, features_2 real.
    precision, recall = calculate_precision_recall_part(gen, ref, neighborhood, PRC_BATCH_SIZE)
    return float(precision), float(recall)
