"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel."""

import numpy as np


def polynomial_kernel(x, y):
    """`k(x, y) = (x·y / d + 1)³`, the KID kernel (Bińkowski et al. 2018), for rows of `x` `(n, d)` and `y` `(m, d)`."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x, y):
    """Unbiased estimate of `MMD²(P, Q)` from samples `x ~ P` `(n, d)` and `y ~ Q` `(m, d)`.

    `MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(n(n−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(m(m−1)) − 2·Σ_{i,j} k(xᵢ,yⱼ)/(nm)`.
    """
    n, m = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    xx = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * k_xy.mean())


def kernel_inception_distance(features1, features2, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance (KID, Bińkowski et al. 2018, "Demystifying MMD GANs", sec. 3).

    The unbiased `MMD²` with the kernel `k(x, y) = (x·y / d + 1)³`, averaged over `num_subsets` random subsets of
    `subset_size` rows drawn without replacement from each feature set (as in the paper's reference code). Unlike
    FID it is unbiased in the number of samples: its expectation is 0 when both sets come from one distribution,
    so single estimates can be slightly negative (also when a set is compared with itself: independently drawn
    subsets share rows, whose large `k(x, x)` enters the cross term).

    Args:
        features1: Array `(N1, D)`.
        features2: Array `(N2, D)`.
        num_subsets: Integer ≥ 1. Defaults to `100`.
        subset_size: Integer ≥ 2. Rows per subset; capped at `min(N1, N2)`. Defaults to `1000`.
        seed: Integer. Seed of the subset draws.

    Returns:
        Dict with `kid` (mean over subsets) and `kid_std` (standard deviation over subsets).
    """
    f1 = np.asarray(features1, np.float64)
    f2 = np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(
            f"features1 and features2 must have shapes (N1, D) and (N2, D). Received: {f1.shape} and {f2.shape}"
        )
    if int(num_subsets) < 1:
        raise ValueError(f"num_subsets must be ≥ 1. Received: num_subsets={num_subsets}")
    size = min(int(subset_size), f1.shape[0], f2.shape[0])
    if size < 2:
        raise ValueError(
            f"KID needs at least 2 rows per subset. Received: subset_size={subset_size}, "
            f"N1={f1.shape[0]}, N2={f2.shape[0]}"
        )
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            unbiased_mmd2(
                f1[rng.choice(f1.shape[0], size, replace=False)], f2[rng.choice(f2.shape[0], size, replace=False)]
            )
            for _ in range(int(num_subsets))
        ]
    )
    return {"kid": float(values.mean()), "kid_std": float(values.std())}
