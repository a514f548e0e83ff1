import numpy as np
import pytest

from vqkeras.metrics import kernel_inception_distance
from vqkeras.metrics.kernel_distance import unbiased_mmd2


def loop_mmd2(x, y):
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)³, written with explicit loops."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_unbiased_mmd2_matches_loops():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.5, 1.0, size=(9, 4))
    assert unbiased_mmd2(x, y) == pytest.approx(loop_mmd2(x, y), rel=1e-10)


def test_kid_near_zero_for_identical_sets_and_positive_for_shifted():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(400, 16))
    same = kernel_inception_distance(features, features, num_subsets=20, subset_size=200)
    shifted = kernel_inception_distance(features, features + 0.5, num_subsets=20, subset_size=200)
    # Subsets of one finite set overlap, and k(x, x) is large, so "same" is slightly negative (about −0.04 here).
    assert abs(same["kid"]) < 0.05
    assert shifted["kid"] > 0.5
    assert shifted["kid"] > 10 * abs(same["kid"])


def test_kid_is_seeded_and_validates_inputs():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(60, 3))
    assert kernel_inception_distance(a, b, 5, 20, seed=3) == kernel_inception_distance(a, b, 5, 20, seed=3)
    with pytest.raises(ValueError, match="shapes"):
        kernel_inception_distance(a, b[:, :2])
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(a[:1], b)
