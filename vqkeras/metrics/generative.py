"""FID and KID between two image sets."""

from vqkeras.metrics.feature_extractors import compute_features
from vqkeras.metrics.feature_extractors import get_feature_extractor
from vqkeras.metrics.frechet import feature_statistics
from vqkeras.metrics.frechet import frechet_distance
from vqkeras.metrics.kernel_distance import kernel_inception_distance


def fid(images_a, images_b, feature_extractor=None, batch_size=64, verbose=1):
    """Fréchet distance between the feature Gaussians of two image sets.

    With the default extractor this is "FID (EfficientNet-Lite0)": 1280-d pooled EfficientNet-Lite0 features of
    images resized to 128×128. It is not comparable to published (Inception) FID. FID is biased upwards for small
    sets: compare models at the same number of images.

    Args:
        images_a: `tf.data.Dataset` or array of images in [-1, 1] (or uint8), e.g. generated samples.
        images_b: Same, e.g. the test set.
        feature_extractor: `None` (EfficientNet-Lite0), `"inception_v3"`, a `FeatureExtractor` or a callable.
        batch_size: Integer. Batch size for arrays.
        verbose: 0 or 1 (progress bars).

    Returns:
        Float.
    """
    extractor = get_feature_extractor(feature_extractor)
    features_a = compute_features(images_a, extractor, batch_size, verbose)
    features_b = compute_features(images_b, extractor, batch_size, verbose)
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def kid(images_a, images_b, feature_extractor=None, batch_size=64, verbose=1, num_subsets=100, subset_size=1000,
        seed=0):
    """Kernel Inception Distance between two image sets (see `kernel_inception_distance`).

    Args:
        images_a: `tf.data.Dataset` or array of images in [-1, 1] (or uint8).
        images_b: Same.
        feature_extractor: `None` (EfficientNet-Lite0, "KID (EfficientNet-Lite0)"), `"inception_v3"`, a
            `FeatureExtractor` or a callable.
        batch_size: Integer. Batch size for arrays.
        verbose: 0 or 1 (progress bars).
        num_subsets: Integer. Defaults to `100`.
        subset_size: Integer. Defaults to `1000` (capped at the smaller set).
        seed: Integer. Seed of the subsets.

    Returns:
        Dict with `kid` and `kid_std`.
    """
    extractor = get_feature_extractor(feature_extractor)
    features_a = compute_features(images_a, extractor, batch_size, verbose)
    features_b = compute_features(images_b, extractor, batch_size, verbose)
    return kernel_inception_distance(features_a, features_b, num_subsets, subset_size, seed)
