"""Fréchet distance between Gaussians (the distance behind FID)."""

import numpy as np
import scipy.linalg


def feature_statistics(features):
    """Mean `(D,)` and unbiased covariance `(D, D)` of a feature matrix `(N, D)`, in float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (N, D) with N ≥ 2. Received: shape={features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Squared Fréchet (2-Wasserstein) distance between `N(mu1, sigma1)` and `N(mu2, sigma2)`.

    `d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2·(Σ₁Σ₂)^½)` (Dowson & Landau 1982; FID, Heusel et al. 2017, eq. 6).

    The trace of the matrix square root is computed without `sqrtm` of the non-symmetric product:
    `Tr (Σ₁Σ₂)^½ = Tr (Σ₁^½ Σ₂ Σ₁^½)^½ = Σᵢ √λᵢ`, with `Σ₁^½` from a symmetric eigendecomposition and `λᵢ` the
    eigenvalues of the symmetric PSD matrix `Σ₁^½ Σ₂ Σ₁^½` (round-off negatives clipped to 0). Everything is float64.
    This stays finite and real for singular covariances (fewer samples than dimensions), where `sqrtm(Σ₁Σ₂)` can
    return complex or NaN values.

    Args:
        mu1: Array `(D,)`.
        sigma1: Array `(D, D)`, symmetric positive semi-definite.
        mu2: Array `(D,)`.
        sigma2: Array `(D, D)`, symmetric positive semi-definite.

    Returns:
        Float ≥ 0 (round-off clipped).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            "Expected mu1, mu2 of shape (D,) and sigma1, sigma2 of shape (D, D). Received: "
            f"mu1={mu1.shape}, sigma1={sigma1.shape}, mu2={mu2.shape}, sigma2={sigma2.shape}"
        )
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} contains NaN or Inf.")
    # Symmetrise: covariances from np.cov are symmetric only up to round-off.
    sigma1 = (sigma1 + sigma1.T) / 2.0
    sigma2 = (sigma2 + sigma2.T) / 2.0
    eigvals, eigvecs = scipy.linalg.eigh(sigma1)
    sqrt_sigma1 = (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T
    middle = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    middle = (middle + middle.T) / 2.0
    trace_sqrt_product = np.sum(np.sqrt(np.clip(scipy.linalg.eigvalsh(middle), 0.0, None)))
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product
    return float(max(distance, 0.0))
