import numpy as np
import pytest
import scipy.linalg

from vqkeras.metrics import feature_statistics
from vqkeras.metrics import frechet_distance


def reference_frechet(mu1, sigma1, mu2, sigma2):
    """The textbook formula with scipy.linalg.sqrtm of the (non-symmetric) product."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2.0 * covmean))


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [1, 3, 16])
def test_matches_scipy_sqrtm_reference_on_full_covariances(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), reference_frechet(mu1, s1, mu2, s2), rtol=1e-7)


def test_diagonal_covariances_closed_form():
    # For diagonal Σ: d² = ‖μ₁ − μ₂‖² + Σᵢ (σ₁ᵢ − σ₂ᵢ)² with σ the standard deviations.
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    std1, std2 = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((std1 - std2) ** 2)
    got = frechet_distance(mu1, np.diag(std1**2), mu2, np.diag(std2**2))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_identical_gaussians_give_zero_also_when_singular():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(10, 50))  # 10 samples in 50-d: the covariance has rank 9
    mu, sigma = feature_statistics(features)
    assert np.linalg.matrix_rank(sigma) < 50
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_sample_statistics_approach_the_known_gaussian_distance():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 2))
    b = rng.normal([1.0, 0.0], [2.0, 1.0], size=(20000, 2))
    # Exact: ‖μ₁ − μ₂‖² + (1 − 2)² + (1 − 1)² = 1 + 1 = 2.
    assert frechet_distance(*feature_statistics(a), *feature_statistics(b)) == pytest.approx(2.0, abs=0.1)


def test_shape_mismatch_and_nan_raise():
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))
