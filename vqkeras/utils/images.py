"""Conversions between pixel ranges and the [-1, 1] range that vqkeras models use."""

import numpy as np
import tensorflow as tf


def _is_tensor(x):
    return isinstance(x, (tf.Tensor, tf.Variable)) or tf.is_tensor(x)


def to_model_range(images):
    """Converts images to float32 in [-1, 1], the range vqkeras models expect.

    The input range is read from the dtype:
    - integer images (e.g. `uint8`) are taken to be in [0, 255]: `x / 127.5 - 1`;
    - floating-point images are taken to be in [0, 1]: `2x - 1`.

    NumPy inputs are checked: a float array outside [0, 1] or an integer array outside
    [0, 255] raises a `ValueError` (it is most likely already in [-1, 1] or in
    [0, 255] as floats). Tensors are not checked, so the function also works inside a
    `tf.function` and `tf.data` pipelines.

    Args:
        images: NumPy array or `tf.Tensor` of images, any shape.

    Returns:
        The images as float32 in [-1, 1]: a NumPy array for NumPy (or list)
        input, a `tf.Tensor` for tensor input.

    Example:

    >>> x = np.array([[0, 255]], dtype="uint8")
    >>> to_model_range(x)
    array([[-1.,  1.]], dtype=float32)
    """
    if _is_tensor(images):
        images = tf.convert_to_tensor(images)
        if images.dtype == tf.bool:
            raise ValueError(
                f"images must be integer or floating point. Received: dtype={images.dtype}"
            )
        if images.dtype.is_integer:
            return tf.cast(images, "float32") / 127.5 - 1.0
        return tf.cast(images, "float32") * 2.0 - 1.0

    images = np.asarray(images)
    if images.dtype == np.bool_ or not (
        np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)
    ):
        raise ValueError(
            f"images must be integer or floating point. Received: dtype={images.dtype}"
        )
    if images.size:
        low, high = images.min(), images.max()
        if np.issubdtype(images.dtype, np.integer):
            if low < 0 or high > 255:
                raise ValueError(
                    "Integer images must be in [0, 255]. "
                    f"Received: images with min={low} and max={high}"
                )
        elif not (low >= 0.0 and high <= 1.0):  # also catches NaN
            raise ValueError(
                "Float images must be in [0, 1] (scale [0, 255] floats by 1/255, "
                "and [-1, 1] images are already in model range). "
                f"Received: images with min={low} and max={high}"
            )
    if np.issubdtype(images.dtype, np.integer):
        return (images.astype("float32") / 127.5 - 1.0).astype("float32")
    return (images.astype("float32") * 2.0 - 1.0).astype("float32")


def from_model_range(images):
    """Converts model-range images in [-1, 1] back to float32 in [0, 1].

    Values outside [-1, 1] (a decoder's output is not bounded) are clipped.

    Args:
        images: NumPy array or `tf.Tensor` of images in [-1, 1].

    Returns:
        float32 images in [0, 1], a NumPy array for NumPy input and a `tf.Tensor`
        for tensor input. Multiply by 255 and cast to `uint8` to save them.

    Example:

    >>> from_model_range(np.array([-1.0, 0.0, 1.0]))
    array([0. , 0.5, 1. ], dtype=float32)
    """
    if _is_tensor(images):
        images = tf.cast(images, "float32")
        return tf.clip_by_value((images + 1.0) / 2.0, 0.0, 1.0)
    images = np.asarray(images, dtype="float32")
    return np.clip((images + 1.0) / 2.0, 0.0, 1.0).astype("float32")
