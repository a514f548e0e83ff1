"""Gram-matrix style distance (Gatys et al.) on a frozen ImageNet backbone."""

import tensorflow as tf

from vqkeras.losses.perceptual_loss import PerceptualLoss
from vqkeras.metrics._batching import iterate_batches
from vqkeras.utils.images import convert_images


class StyleDistance:
    """Style distance of Gatys, Ecker and Bethge (2016): differences of the feature Gram matrices.

    For the feature maps `F_l` of `L` backbone layers, reshaped to `(H_l·W_l) × C_l`:

    `G_l(x) = F_l(x)ᵀ F_l(x) / (H_l·W_l)`,
    `d(x, y) = Σ_l ‖G_l(x) − G_l(y)‖²_F / C_l²`.

    This is the style loss of Gatys et al. (CVPR 2016, eq. 4–5) with equal layer weights and the constant `1/4`
    dropped. Gram matrices sum over positions, so `d` compares which features co-occur (texture, tone, stroke), not
    where they are: a shifted or mirrored image has nearly the same style. The backbone and its preprocessing are
    `vqkeras.losses.PerceptualLoss`'s; images are resized to `image_size` first so that the deeper layers still have
    a spatial extent on small images.

    Args:
        backbone: String. `"efficientnet_lite0"` (default; offline weights) or `"vgg16"`.
        layer_names: List of strings or None. Backbone layers; defaults to those of `PerceptualLoss`.
        weights: `"imagenet"`, a `.weights.h5` path (EfficientNet-Lite0) or None (random weights, for tests).
        image_size: Integer or None. Images are centre-cropped and resized (`vqkeras.utils.images.convert_images`:
            bilinear, antialiased) to `image_size × image_size`;
            None keeps their size. Defaults to `128`.
        cache_dir: String or None. Keras home for cached weights.

    Call arguments:
        x: Images in [-1, 1], `(batch, H, W, 1 or 3)`.
        y: Images of the same batch size (any size: both are resized).

    Returns:
        Float32 tensor `(batch,)`: `d(x_i, y_i)`.

    Example:

    >>> style = StyleDistance()  # doctest: +SKIP
    >>> style.pairwise(generated, style_images).shape  # doctest: +SKIP
    TensorShape([40, 2])
    """

    def __init__(self, backbone="efficientnet_lite0", layer_names=None, weights="imagenet", image_size=128,
                 cache_dir=None):
        if image_size is not None and int(image_size) < 32:
            raise ValueError(f"image_size must be None or >= 32. Received: image_size={image_size}")
        self.image_size = None if image_size is None else int(image_size)
        self.perceptual = PerceptualLoss(backbone=backbone, layer_names=layer_names, weights=weights,
                                         cache_dir=cache_dir)

    def gram_matrices(self, images, batch_size=64):
        """Per-layer Gram matrices `[(batch, C_l, C_l), ...]` of images in [-1, 1]."""
        # `iterate_batches` checks the rank and maps uint8 to [-1, 1].
        per_batch = [self._gram_batch(batch) for batch in iterate_batches(images, batch_size, verbose=0)]
        if not per_batch:
            raise ValueError("images must contain at least one image. Received: 0 images")
        return [tf.concat(layer, axis=0) for layer in zip(*per_batch)]

    def _gram_batch(self, images):
        x = convert_images(images, None if self.image_size is None else (self.image_size,) * 2)
        features = self.perceptual.model(self.perceptual.preprocess(x), training=False)
        if not isinstance(features, (list, tuple)):
            features = [features]
        grams = []
        for f in features:
            f = tf.cast(f, "float32")
            positions = tf.cast(tf.shape(f)[1] * tf.shape(f)[2], "float32")
            grams.append(tf.einsum("bhwc,bhwd->bcd", f, f) / positions)
        return grams

    @staticmethod
    def _distance(grams_x, grams_y):
        """`Σ_l ‖G_l(x) − G_l(y)‖²_F / C_l²`, broadcasting over leading axes."""
        total = 0.0
        for gx, gy in zip(grams_x, grams_y):
            channels = float(gx.shape[-1])
            total += tf.reduce_sum(tf.square(gx - gy), axis=(-2, -1)) / channels**2
        return total

    def __call__(self, x, y):
        gx, gy = self.gram_matrices(x), self.gram_matrices(y)
        if gx[0].shape[0] != gy[0].shape[0]:
            raise ValueError(
                f"x and y must hold the same number of images. Received: {gx[0].shape[0]} and {gy[0].shape[0]}"
            )
        return self._distance(gx, gy)

    def pairwise(self, x, y):
        """Distances `(len(x), len(y))` between every image of `x` and every image of `y`."""
        gx, gy = self.gram_matrices(x), self.gram_matrices(y)
        return tf.stack([self._distance(gx, [g[j][None] for g in gy]) for j in range(gy[0].shape[0])], axis=1)
