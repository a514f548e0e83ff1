"""Conversions between pixel ranges and the [-1, 1] range that vqkeras models use, and the checks of that range.

The house rule for images entering a model, one for every entry point:
- integer images (`uint8`, ...) are in [0, 255]; the methods that promise a conversion (`ImageGenerator`'s, through
  `convert_images`) convert them with `to_model_range`, the models themselves refuse them;
- float images must already be in [-1, 1] (up to `RANGE_TOLERANCE`): nothing guesses their range from their values,
  so a bright [-1, 1] photo is never rescaled. Convert [0, 1] floats with `to_model_range`, and [0, 255] floats
  after casting them to uint8.

`convert_images` is the one converter from user images to model input (range, channels, centre crop and resize);
`resize_images` and `convert_channels` are its graph-safe steps, which `vqkeras.data.preprocess_image` shares.
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


def image_value_range(images, subject="images", name="images"):
    """`(min, max)` of a NumPy image array (`None` when it is empty), once it is known to hold image values.

    Raises a `ValueError` unless the dtype is integer or floating point (not bool), and unless integer values are in
    [0, 255]. The errors say `"{subject} must be integer or floating point"` and `"Received: {name} with min=..."`.
    """
    if images.dtype == np.bool_ or not (
        np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)
    ):
        raise ValueError(f"{subject} must be integer or floating point. Received: dtype={images.dtype}")
    if not images.size:
        return None
    low, high = images.min(), images.max()
    if np.issubdtype(images.dtype, np.integer) and (low < 0 or high > 255):
        raise ValueError(f"Integer images must be in [0, 255]. Received: {name} with min={low} and max={high}")
    return low, high


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
    value_range = image_value_range(images)
    if value_range is not None and not np.issubdtype(images.dtype, np.integer):
        low, high = value_range
        if not (low >= 0.0 and high <= 1.0):  # also catches NaN
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


# The one resampling kernel of vqkeras (see `resize_images`).
RESIZE_METHOD = "bilinear"
RESIZE_ANTIALIAS = True


def resize_images(images, size):
    """The largest centred crop of `images` with the aspect ratio of `size`, resized to `size`: the one kernel.

    Every path that changes an image's size goes through here: `load_images` (`preprocess_image`), the generator's
    inputs (`ImageGenerator.prepare_images`, `upscale`), the CLI's image files and the metrics' feature networks.

    The kernel is bilinear with antialiasing (`tf.image.resize(method="bilinear", antialias=True)`, a triangle filter
    stretched by the scale factor when downsizing):
    - downsizing by `s` averages each output over a `2s`-wide triangle of inputs, as an area filter does, so thin
      stripes become their grey mean instead of aliasing into stripes of the wrong width (plain bilinear or nearest
      pick single pixels);
    - upsizing interpolates linearly between the 2×2 nearest inputs: a convex combination, so no value leaves the
      input's range. Bicubic (Keys, `a = −0.5`) overshoots at edges (ringing) and would need a clip, which flattens
      highlights; its sharper upsampling is not worth a second kernel;
    - it is the kernel the training data (`load_images`) always had, so an image given at another size reaches the
      model the way the training images did.

    The crop keeps the aspect ratio (no stretching): `crop_h = min(H, W·h // w)`, `crop_w = min(W, H·w // h)`,
    centred (the extra row or column of an odd margin goes to the bottom or right). When the size is already `size`
    (known statically), the images are returned unchanged, with no resampling op in the graph.

    Works on any value range (the filter weights sum to 1), eagerly and inside `tf.function` / `tf.data`.

    Args:
        images: Float tensor `(H, W, C)` or `(n, H, W, C)`.
        size: `(height, width)` pair of positive integers.

    Returns:
        Float32 tensor `(..., height, width, C)`.
    """
    height, width = int(size[0]), int(size[1])
    images = tf.cast(images, "float32")
    if tuple(images.shape[-3:-1]) == (height, width):
        return images
    shape = tf.shape(images)
    source_h, source_w = shape[-3], shape[-2]
    crop_h = tf.minimum(source_h, source_w * height // width)
    crop_w = tf.minimum(source_w, source_h * width // height)
    top = (source_h - crop_h) // 2
    left = (source_w - crop_w) // 2
    images = images[..., top : top + crop_h, left : left + crop_w, :]
    images = tf.image.resize(images, (height, width), method=RESIZE_METHOD, antialias=RESIZE_ANTIALIAS)
    return tf.ensure_shape(images, images.shape[:-3] + (height, width, images.shape[-1]))


def convert_channels(images, channels, argument="images"):
    """`images` (`..., C`) with `channels` channels: alpha dropped, gray repeated to RGB, RGB to luma.

    A 4th (alpha) channel of RGBA and the 2nd of gray + alpha are dropped; `channels=3` repeats a gray channel
    (`tf.image.grayscale_to_rgb`); `channels=1` takes the luma `0.2989 R + 0.5870 G + 0.1140 B`
    (`tf.image.rgb_to_grayscale`), applied to unit-range [0, 1] values. `channels=None` keeps the source's channels
    (after dropping alpha). Graph-safe; the number of channels must be known statically.

    Raises:
        ValueError: naming `argument`, for an unknown number of channels or one other than 1 to 4.
    """
    source = images.shape[-1]
    if source is None:
        raise ValueError(f"{argument} have an unknown number of channels; pass channels=1 or 3. Received: "
                         f"{argument}.shape={images.shape}")
    if source == 4:  # RGBA: drop alpha.
        images, source = images[..., :3], 3
    elif source == 2:  # gray + alpha.
        images, source = images[..., :1], 1
    if source not in (1, 3):
        raise ValueError(f"{argument} must have 1, 2, 3 or 4 channels. Received: {argument}.shape={images.shape}")
    if channels is None or channels == source:
        return images
    if channels == 3:
        return tf.image.grayscale_to_rgb(images)
    return tf.image.rgb_to_grayscale(images)


def convert_images(images, image_size=None, channels=None, argument="images", integer_pixels=False,
                   convert=False):
    """User images as a float32 batch `(n, height, width, channels)` in [-1, 1]: the one converter.

    Steps, each failing with a `ValueError` that names `argument` and the value received:
    1. shape: one image `(H, W, C)` becomes a batch of one; anything but rank 3 or 4, or an empty batch, fails;
    2. range, by the house rule (module docstring): float images must be finite and in [-1, 1]
       (± `RANGE_TOLERANCE`, then clipped); integer images (uint8 in [0, 255], `x / 127.5 − 1`) only when the
       caller says its input may be pixels (`integer_pixels=True`), else they fail like the models' own check;
       other dtypes fail;
    3. channels (`channels` not `None`): with `convert=True`, alpha is dropped and 1 ↔ 3 converted as
       `convert_channels` does (the luma in unit range); without it any mismatch fails;
    4. size (`image_size` not `None`): `resize_images`, centre crop and bilinear antialiased resize, then clipped to
       [-1, 1].

    Eager tensors and NumPy arrays are checked at once; inside a `tf.function` the range check is the run-time
    assertion of `check_model_range`.

    Args:
        images: NumPy array, tensor or nested list: one image `(H, W, C)` or a batch `(n, H, W, C)`.
        image_size: Optional integer or `(height, width)` pair. Output size; `None` keeps the input's.
        channels: Optional integer, 1 or 3. Output channels; `None` keeps the input's.
        argument: String. The argument's name, for the errors.
        integer_pixels: Boolean. Accept integer images as [0, 255] pixels. Defaults to `False`.
        convert: Boolean. Convert other channel counts to `channels` instead of failing. Defaults to `False`.

    Returns:
        A float32 `tf.Tensor` `(n, height, width, channels)` in [-1, 1].

    Example:

    >>> photo = np.zeros((112, 92, 3), "uint8")
    >>> convert_images(photo, 64, channels=1, integer_pixels=True, convert=True).shape
    TensorShape([1, 64, 64, 1])
    """
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise ValueError(f"channels must be 1, 3 or None. Received: channels={channels!r}")
    if image_size is not None:
        image_size = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
    if not tf.is_tensor(images):
        images = np.asarray(images)
    if images.dtype == np.bool_ or images.dtype == tf.bool or not (
        tf.as_dtype(images.dtype).is_integer or tf.as_dtype(images.dtype).is_floating
    ):
        raise ValueError(f"{argument} must be uint8 images in [0, 255] or float images in [-1, 1]. Received: "
                         f"{argument}.dtype={images.dtype}")
    rank = len(images.shape)
    if rank not in (3, 4):
        raise ValueError(f"{argument} must have shape (H, W, C) or (n, H, W, C). Received: "
                         f"{argument}.shape={tuple(images.shape)}")
    if rank == 4 and images.shape[0] == 0:
        raise ValueError(f"{argument} is empty: it needs at least one image. Received: "
                         f"{argument}.shape={tuple(images.shape)}")
    if tf.as_dtype(images.dtype).is_integer:
        if not integer_pixels:
            raise ValueError(
                f"{argument} must be float images in [-1, 1], not integers; convert uint8 pixels with "
                f"vqkeras.utils.to_model_range(). Received: {argument}.dtype={images.dtype}")
        eager = tf.is_tensor(images) and tf.executing_eagerly()
        images = to_model_range(images.numpy() if eager else images)  # NumPy values are checked in [0, 255]
    else:
        images = tf.clip_by_value(check_model_range(tf.cast(images, "float32"), argument), -1.0, 1.0)
    images = tf.convert_to_tensor(images, tf.float32)
    if rank == 3:
        images = images[None]
    source = images.shape[-1]
    if convert and channels == 1 and source in (3, 4):  # luma weights are for unit-range values
        images = convert_channels((images + 1.0) / 2.0, channels, argument) * 2.0 - 1.0
    elif convert and (source in (2, 4) or source != (channels or source)):  # alpha or gray → RGB: exact copies
        images = convert_channels(images, channels, argument)
    elif source != (channels or source):
        raise ValueError(f"{argument} must have {channels} channel(s). Received: "
                         f"{argument}.shape={tuple(images.shape)}")
    if image_size is not None and tuple(images.shape[1:3]) != image_size:
        images = tf.clip_by_value(resize_images(images, image_size), -1.0, 1.0)
    return images
