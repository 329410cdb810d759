"""FID, Inception Score and precision/recall (tasks/image_metrics/fid.py) against hand values and independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import (
    fid_features_to_statistics,
    fid_statistics_to_metric,
)
from torchmetrics.image.fid import _compute_fid

from tasks.image_metrics.fid import (
    features_to_fid,
    features_to_precision_recall,
    features_to_statistics,
    frechet_distance,
    logits_to_inception_score,
)


def adm_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """ADM evaluator's formula (guided-diffusion evaluations/evaluator.py), written out in float64 SciPy."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean.real))


def random_features(seed: int, num: int = 600, dim: int = 64) -> np.ndarray:
    """Correlated Gaussian features: a random linear map of white noise plus an offset."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim)) / math.sqrt(dim)
    return (rng.normal(size=(num, dim)) @ mixing + rng.normal(size=dim)).astype(np.float32)


def test_fid_of_identical_statistics_is_zero():
    mu, sigma = features_to_statistics(random_features(0))
    # Tr(S) + Tr(S) - 2 Tr(sqrt(S S)) = 0 and |mu - mu|^2 = 0; only rounding remains.
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)


def test_fid_matches_hand_computed_gaussians():
    # mu1 = (0, 0), S1 = I; mu2 = (1, 2), S2 = 4I:
    # |mu1 - mu2|^2 = 1 + 4 = 5; Tr S1 + Tr S2 = 2 + 8 = 10; Tr sqrt(S1 S2) = Tr(2I) = 4.
    # FID = 5 + 10 - 2 * 4 = 7.
    fid = frechet_distance(np.zeros(2), np.eye(2), np.array([1.0, 2.0]), 4 * np.eye(2))
    assert fid == pytest.approx(7.0, rel=1e-12)


def test_fid_matches_scipy_sqrtm_formula_of_adm_evaluator():
    mu1, sigma1 = features_to_statistics(random_features(1))
    mu2, sigma2 = features_to_statistics(random_features(2))
    expected = adm_frechet_distance(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-6)


def test_fid_matches_torch_fidelity_and_torchmetrics_from_features():
    feats1, feats2 = random_features(3).astype(np.float64), random_features(4).astype(np.float64)
    ours = frechet_distance(*features_to_statistics(feats1), *features_to_statistics(feats2))
    stats1 = fid_features_to_statistics(torch.from_numpy(feats1))
    stats2 = fid_features_to_statistics(torch.from_numpy(feats2))
    fidelity = fid_statistics_to_metric(stats1, stats2, False)["frechet_inception_distance"]
    metrics = _compute_fid(*(torch.from_numpy(stats1[k]) for k in ("mu", "sigma")),
                           *(torch.from_numpy(stats2[k]) for k in ("mu", "sigma"))).item()
    assert ours == pytest.approx(fidelity, rel=1e-9)
    assert ours == pytest.approx(metrics, rel=1e-6)


def test_fid_from_few_features_equals_fid_of_their_statistics():
    # 20 samples in 64 dims: sigma1 has rank 19, and the small N x N eigenproblem must give the
    # same trace term as torch-fidelity's 64 x 64 one (and as SciPy's sqrtm).
    few = random_features(5, num=20)
    mu2, sigma2 = features_to_statistics(random_features(6))
    full = frechet_distance(*features_to_statistics(few), mu2, sigma2)
    assert features_to_fid(few, mu2, sigma2) == pytest.approx(full, rel=1e-6)
    assert features_to_fid(few, mu2, sigma2) == pytest.approx(
        adm_frechet_distance(*features_to_statistics(few), mu2, sigma2), rel=1e-6
    )


def test_fid_from_many_features_is_fid_of_their_statistics():
    many = random_features(7)
    mu2, sigma2 = features_to_statistics(random_features(8))
    assert features_to_fid(many, mu2, sigma2) == frechet_distance(*features_to_statistics(many), mu2, sigma2)


def test_statistics_are_float64_mean_and_unbiased_covariance():
    feats = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]], dtype=np.float32)
    mu, sigma = features_to_statistics(feats)
    # mean (3, 2); deviations (-2,-2), (0,0), (2,2): covariance = (4+0+4)/(3-1) = 4 in every cell.
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_array_equal(mu, [3.0, 2.0])
    np.testing.assert_array_equal(sigma, [[4.0, 4.0], [4.0, 4.0]])


def test_fid_refuses_statistics_of_different_dims():
    with pytest.raises(ValueError, match="sigma2 has shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


def kl_to_uniform_pair(p: float) -> float:
    """KL((p, 1-p) || (1/2, 1/2)): the per-sample term of IS when the split's marginal is uniform."""
    return p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)


def test_inception_score_matches_hand_formula():
    # Two samples with softmax (0.8, 0.2) and (0.2, 0.8): marginal (0.5, 0.5); each KL is
    # 0.8 ln 1.6 + 0.2 ln 0.4 = 0.192745; IS = exp(mean KL) = 1.212573. Logits = log-probabilities.
    logits = np.log(np.array([[0.8, 0.2], [0.2, 0.8]]))
    mean, std = logits_to_inception_score(logits, splits=1)
    assert mean == pytest.approx(math.exp(kl_to_uniform_pair(0.8)), rel=1e-12)
    assert mean == pytest.approx(1.2125732532, rel=1e-9)
    assert std == 0.0


def test_inception_score_splits_are_consecutive_and_unshuffled():
    # 20 samples: ten of (0.8, 0.2) then ten of (0.2, 0.8). Two consecutive splits are each
    # homogeneous, so each split's marginal equals every sample's distribution: KL 0, IS 1.
    # Interleaved, every split is balanced and scores exp(0.192745) as above.
    blocked = np.log(np.array([[0.8, 0.2]] * 10 + [[0.2, 0.8]] * 10))
    interleaved = np.log(np.array([[0.8, 0.2], [0.2, 0.8]] * 10))
    assert logits_to_inception_score(blocked, splits=2) == pytest.approx((1.0, 0.0), abs=1e-12)
    assert logits_to_inception_score(interleaved, splits=2)[0] == pytest.approx(math.exp(kl_to_uniform_pair(0.8)))


def test_inception_score_of_few_samples_keeps_two_per_split():
    # 8 samples alternating (0.8, 0.2), (0.2, 0.8): 4 splits of 2 (not 8 splits of one, which
    # would each score exactly 1), every split balanced: IS = exp(0.192745) = 1.212573, std 0.
    logits = np.log(np.array([[0.8, 0.2], [0.2, 0.8]] * 4))
    mean, std = logits_to_inception_score(logits)
    assert mean == pytest.approx(math.exp(kl_to_uniform_pair(0.8)), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_uses_ten_splits_by_default():
    # Split i holds samples 2i, 2i+1 = (q_i, 1-q_i) and (1-q_i, q_i): IS_i = exp(KL((q_i, 1-q_i) || uniform)).
    qs = [0.55 + 0.04 * i for i in range(10)]
    logits = np.log(np.array([row for q in qs for row in ([q, 1 - q], [1 - q, q])]))
    expected = [math.exp(kl_to_uniform_pair(q)) for q in qs]
    mean, std = logits_to_inception_score(logits)
    assert mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert std == pytest.approx(np.std(expected), rel=1e-9)


def test_precision_recall_match_hand_computed_k3_manifolds():
    # 1-d features, k = 3 (radius = distance to the 3rd nearest other point).
    # Reference 0..4: radii 3, 2, 2, 2, 3. Generated 2, 2.1, 2.2, 2.3, 100: radii 0.3, 0.2, 0.2, 0.3,
    # 97.9 (100 -> 2.1). Precision: 2..2.3 fall in the ball of reference 2, 100 is 96 from
    # reference 4 (> 3): 4/5. Recall: reference 2 is in the ball of generated 2; references 3 and 4
    # lie within 97.9 of 100; references 0 and 1 are in no ball: 3/5.
    ref = np.arange(5, dtype=np.float32)[:, None]
    gen = np.array([2.0, 2.1, 2.2, 2.3, 100.0], dtype=np.float32)[:, None]
    precision, recall = features_to_precision_recall(gen, ref)
    assert precision == pytest.approx(0.8)
    assert recall == pytest.approx(0.6)


def test_precision_recall_need_more_samples_than_k():
    with pytest.raises(ValueError, match="more than 3 samples"):
        features_to_precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
