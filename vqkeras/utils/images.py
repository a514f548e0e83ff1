"""Conversions between pixel ranges and the [-1, 1] range that vqkeras models use, and the checks of that range.

The house rule for images entering a model, one for every entry point:
- integer images (`uint8`, ...) are in [0, 255]; the methods that promise a conversion (`ImageGenerator`'s, through
  `as_model_images`) convert them with `to_model_range`, the models themselves refuse them;
- float images must already be in [-1, 1] (up to `RANGE_TOLERANCE`): nothing guesses their range from their values,
  so a bright [-1, 1] photo is never rescaled. Convert [0, 1] floats with `to_model_range`, and [0, 255] floats
  after casting them to uint8.
"""

import keras
import numpy as np
import tensorflow as tf

# How far outside [-1, 1] float images may lie (resampling and float rounding overshoot a little).
RANGE_TOLERANCE = 1e-2
# The start of the run-time assertion's message in a graph; `model_range_error` recognises it.
GRAPH_CHECK_MESSAGE = "images must be finite floats in [-1, 1]"
_CHECK_CHUNK = 2**22


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


def _range_error(argument, values):
    """The `ValueError` for float images `values` (NumPy) that are not finite or not in [-1, 1]."""
    finite = np.isfinite(values)
    if not finite.all():
        return ValueError(
            f"{argument} contain NaN or Inf: {values.size - int(finite.sum())} of {values.size} values are not "
            f"finite. Received: {argument} with non-finite values"
        )
    return ValueError(
        f"{argument} must be float images in [-1, 1]; convert uint8, [0, 1] or [0, 255] images with "
        f"vqkeras.utils.to_model_range(). Received: {argument} with values in [{values.min():.4g}, {values.max():.4g}]"
    )


def check_model_range(images, argument="images"):
    """Returns float `images` if they are finite and in [-1, 1] (± `RANGE_TOLERANCE`), else fails, naming `argument`.

    One comparison per value, `|x| ≤ 1 + tolerance` (false for NaN), and one `reduce_all`:
    - NumPy arrays and eager tensors: a `ValueError` (NaN/Inf, or the values' range and a pointer to
      `to_model_range`);
    - tensors in a graph (`tf.function`, a SavedModel signature): a `tf.debugging.Assert` that raises
      `InvalidArgumentError` at run time, its message starting with `GRAPH_CHECK_MESSAGE`. XLA compiles assertions
      to nothing, so inside a `jit_compile=True` function nothing is checked: check on the host side there
      (`VQVAE.fit` does);
    - symbolic Keras tensors pass unchecked.
    """
    if isinstance(images, keras.KerasTensor):
        return images
    if not tf.is_tensor(images):
        values = np.asarray(images).reshape(-1)
        for start in range(0, values.size, _CHECK_CHUNK):  # in chunks: no full-size temporary for a large array
            if not np.all(np.abs(values[start:start + _CHECK_CHUNK]) <= 1.0 + RANGE_TOLERANCE):
                raise _range_error(argument, values)
        return images
    in_range = tf.reduce_all(tf.abs(images) <= tf.cast(1.0 + RANGE_TOLERANCE, images.dtype))
    if tf.executing_eagerly():
        if not bool(in_range):
            raise _range_error(argument, images.numpy())
        return images
    message = (f"{GRAPH_CHECK_MESSAGE} (NaN, Inf or values outside; see vqkeras.utils.to_model_range). "
               f"{argument} min, max:")
    check = tf.debugging.Assert(in_range, [message, tf.reduce_min(images), tf.reduce_max(images)])
    with tf.control_dependencies([check]):
        return tf.identity(images)


def model_range_error(error, argument="x"):
    """A one-line `ValueError` for a TensorFlow `error` raised by `check_model_range`'s graph assertion, else `None`."""
    message = getattr(error, "message", str(error))
    if GRAPH_CHECK_MESSAGE not in message:
        return None
    detail = " ".join(message[message.index(GRAPH_CHECK_MESSAGE):].split("\n")[0].split())
    return ValueError(
        f"{argument} hold a batch of images that are not finite floats in [-1, 1] (NaN, Inf or another range; convert "
        f"with vqkeras.utils.to_model_range()). Received: a batch failing the run-time check: {detail}"
    )


def as_model_images(images, argument="images"):
    """Images as a float32 NumPy array in [-1, 1], by the house rule (the module docstring), naming `argument`.

    - Integer dtypes (`uint8`, ...) are pixel values in [0, 255], converted by `to_model_range`;
    - float dtypes must already be finite and in [-1, 1] (± `RANGE_TOLERANCE`; clipped to [-1, 1]), else a
      `ValueError` points to `to_model_range`;
    - anything else (bool, strings, objects) raises a `ValueError`.

    Args:
        images: NumPy array, eager `tf.Tensor` or nested list of images, any shape.
        argument: String. The argument's name, for the errors.

    Returns:
        Float32 NumPy array of the same shape.
    """
    array = images.numpy() if tf.is_tensor(images) else np.asarray(images)
    if np.issubdtype(array.dtype, np.integer):
        return to_model_range(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{argument} must be uint8 images in [0, 255] or float images in [-1, 1]. Received: "
            f"{argument}.dtype={array.dtype}"
        )
    check_model_range(array, argument)
    return np.clip(array.astype(np.float32), -1.0, 1.0)
