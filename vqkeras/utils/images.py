"""Conversions between image value ranges."""

import numpy as np
import tensorflow as tf


def to_model_range(images):
    """Converts images to float32 in [-1, 1], the range every vqkeras model expects.

    - Integer images (e.g. uint8) are read as [0, 255]: `x / 127.5 − 1`.
    - Float images with values in [0, 1] are mapped with `2x − 1`.
    - Float images already in [-1, 1] (some value below 0) are returned as float32.

    Args:
        images: NumPy array or tensor of images, any shape.

    Returns:
        Float32 tensor of the same shape in [-1, 1].

    Raises:
        ValueError: if float values lie outside [-1, 1] or contain NaN/Inf.

    Example:

    >>> to_model_range(np.full((1, 2, 2, 1), 255, np.uint8)).numpy().max()
    1.0
    """
    x = tf.convert_to_tensor(images)
    if x.dtype.is_integer or x.dtype == tf.bool:
        return tf.cast(x, tf.float32) / 127.5 - 1.0
    x = tf.cast(x, tf.float32)
    values = x.numpy() if tf.executing_eagerly() else None
    if values is None:
        return x * 2.0 - 1.0
    if not np.all(np.isfinite(values)):
        raise ValueError("images contain NaN or Inf values. Received: images with non-finite entries")
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if low < -1.0 - 1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            "Float images must be in [0, 1] or [-1, 1]; for [0, 255] pass uint8. "
            f"Received: images with min={low:.4g}, max={high:.4g}"
        )
    return x if low < 0.0 else x * 2.0 - 1.0


def from_model_range(images):
    """Maps images from [-1, 1] to float32 in [0, 1], clipping out-of-range values."""
    return tf.clip_by_value((tf.cast(images, tf.float32) + 1.0) / 2.0, 0.0, 1.0)
