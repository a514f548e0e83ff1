"""`load_images`: one entry point from any image source to a batched `tf.data.Dataset`."""

import numbers
import os

import numpy as np
import tensorflow as tf

from vqkeras.data.folder import read_image_folder
from vqkeras.data.offline import OFFLINE_SOURCES
from vqkeras.data.offline import load_offline_arrays
from vqkeras.data.splits import apply_split_slice
from vqkeras.data.splits import parse_split
from vqkeras.data.tfds_source import load_tfds_images
from vqkeras.utils.images import convert_channels
from vqkeras.utils.images import image_value_range
from vqkeras.utils.images import resize_images

TFDS_PREFIX = "tfds:"

# The shuffle buffer of a source whose length is unknown or large.
_MAX_STREAM_SHUFFLE_BUFFER = 10_000


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def standardize_image_size(image_size):
    """Returns `image_size` as a `(height, width)` tuple of positive ints, or raises."""
    if _is_int(image_size):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2 and all(
        _is_int(s) for s in image_size
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            "image_size must be a positive integer or a (height, width) pair of them. "
            f"Received: image_size={image_size!r}"
        )
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"image_size must be positive. Received: image_size={image_size!r}")
    return size


def _validate_channels(channels):
    if channels is not None and (not _is_int(channels) or channels not in (1, 3)):
        raise ValueError(f"channels must be 1, 3 or None. Received: channels={channels!r}")


def _to_unit_range(value):
    """Converts one image tensor to float32 in [0, 1], reading the range from its dtype."""
    if value.dtype == tf.uint8:
        return tf.cast(value, "float32") / 255.0
    if value.dtype == tf.uint16:
        return tf.cast(value, "float32") / 65535.0
    if value.dtype.is_integer:
        return tf.cast(value, "float32") / 255.0
    return tf.cast(value, "float32")


def preprocess_image(image, image_size, channels=None):
    """Centre-crops, resizes and rescales an image (or a batch) to the model's input format.

    Steps:
    1. to float32 in [0, 1] (`uint8` / 255; floats are taken to be in [0, 1]);
    2. to `channels`: grayscale is repeated to RGB, RGB becomes luma
       (`tf.image.rgb_to_grayscale`), an alpha channel is dropped;
    3. the largest centred crop with the aspect ratio of `image_size` (a square for an
       integer `image_size`), resized to `image_size` by the one kernel of vqkeras
       (`vqkeras.utils.images.resize_images`: bilinear, antialiased), a no-op when the
       size already matches;
    4. to [-1, 1].

    Works eagerly and inside `tf.data` / `tf.function`.

    Args:
        image: Tensor of shape `(H, W, C)` or a batch `(N, H, W, C)`, `uint8` in
            [0, 255] or float in [0, 1].
        image_size: Integer or `(height, width)` tuple. Output size.
        channels: Optional integer, 1 or 3. Output channels; `None` keeps the
            source's (after dropping alpha).

    Returns:
        A float32 tensor of shape `(height, width, channels)` (or
        `(N, height, width, channels)`) in [-1, 1].

    Example:

    >>> image = np.zeros((112, 92, 1), dtype="uint8")
    >>> preprocess_image(image, 64, channels=3).shape
    TensorShape([64, 64, 3])
    """
    height, width = standardize_image_size(image_size)
    _validate_channels(channels)
    image = tf.convert_to_tensor(image)
    if image.shape.rank not in (3, 4):
        raise ValueError(
            f"image must have shape (H, W, C) or (N, H, W, C). Received: image.shape={image.shape}"
        )
    image = convert_channels(_to_unit_range(image), channels, argument="image")
    # Crop and resize by the one kernel (a no-op when the size already matches: the antialiased resize alone would
    # dominate the cost of an epoch's input pipeline).
    image = resize_images(image, (height, width))
    return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0


def _canonical_array(images):
    """Validates a NumPy batch and returns it as uint8 (0-255) or float32 (0-1), NHWC."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            "A NumPy source must have shape (N, H, W) or (N, H, W, C) with C in {1, 3} "
            f"(2 and 4 have alpha). Received: source with shape={images.shape}"
        )
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(f"The NumPy source is empty. Received: source with shape={images.shape}")
    if images.dtype == np.uint8:
        return images
    low, high = image_value_range(images, subject="A NumPy source", name="source")  # not empty: checked above
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.uint8)
    finite = np.isfinite(images)
    if not finite.all():
        raise ValueError(f"The NumPy source contains NaN or infinite values. Received: source with "
                         f"{images.size - int(finite.sum())} non-finite value(s)")
    if low >= 0.0 and high <= 1.0:
        return images.astype(np.float32)
    if low >= -1.0 and high <= 1.0:
        return ((images.astype(np.float32) + 1.0) / 2.0).astype(np.float32)
    raise ValueError(
        "Float images must be in [0, 1] or [-1, 1] (cast [0, 255] images to uint8). "
        f"Received: source with min={low} and max={high}"
    )


def _generator_dataset(images):
    """A dataset over a list of uint8 images of different sizes, yielded one by one."""
    spec = tf.TensorSpec(shape=(None, None, images[0].shape[-1]), dtype=tf.uint8)
    return tf.data.Dataset.from_generator(lambda: iter(images), output_signature=spec)


def _source_images(source, split, shuffle, seed, image_key, data_dir):
    """Reads a source.

    Returns:
        Either a NumPy array `(N, H, W, C)` (uint8, or float32 in [0, 1]) for sources
        that fit in memory with one image size, or an unbatched `tf.data.Dataset` of
        raw images (tfds, or a folder of mixed sizes) with its length (or `None`).
    """
    if isinstance(source, (str, os.PathLike)):
        source_str = os.fspath(source)
        if source_str.startswith(TFDS_PREFIX):
            return load_tfds_images(
                source_str[len(TFDS_PREFIX) :],
                split=split,
                image_key=image_key,
                shuffle_files=shuffle,
                seed=seed,
                data_dir=data_dir,
            )
        if image_key is not None:
            raise ValueError(
                f"image_key is only used with 'tfds:' sources. Received: image_key={image_key!r}"
            )
        if source_str in OFFLINE_SOURCES and not isinstance(source, os.PathLike):
            images, _ = load_offline_arrays(source_str, split=split, data_dir=data_dir)
            return images
        if os.path.isdir(source_str):
            split_name, bounds = parse_split(split)
            if split_name not in ("train", "all"):
                raise ValueError(
                    f"A folder has one split, 'train' (or 'all'). Received: split={split!r}"
                )
            images, _ = read_image_folder(source_str)
            (images,) = apply_split_slice((images,), bounds)
            if not images:
                raise ValueError(f"split={split!r} selects no images of the folder {source_str!r}.")
            if len({image.shape for image in images}) == 1:
                return np.stack(images)
            return _generator_dataset(images), len(images)
        raise ValueError(
            "source must be 'tfds:<name>', a named offline source "
            f"({', '.join(repr(n) for n in OFFLINE_SOURCES)}), an existing folder, or a NumPy "
            f"array. Received: source={source_str!r}"
        )
    if isinstance(source, tf.data.Dataset):
        raise ValueError(
            "source is already a tf.data.Dataset; map vqkeras.data.preprocess_image over it "
            "instead. Received: source=<tf.data.Dataset>"
        )
    if image_key is not None:
        raise ValueError(
            f"image_key is only used with 'tfds:' sources. Received: image_key={image_key!r}"
        )
    images = _canonical_array(source)
    split_name, bounds = parse_split(split)
    if split_name not in ("train", "all"):
        raise ValueError(
            f"A NumPy source has one split, 'train' (or 'all'). Received: split={split!r}"
        )
    (images,) = apply_split_slice((images,), bounds)
    return images


# The attribute of a `load_images` dataset that holds the index of its next epoch (see `set_epoch`).
_EPOCH_ATTRIBUTE = "_vqkeras_next_epoch"


def _shuffle_windows(elements, buffer_size, seed):
    """Shuffles consecutive windows of `buffer_size` elements, window `w` by the permutation of seed `(seed, w)`.

    A full shuffle when the window holds the whole dataset (in-memory sources, by default). A window and its permuted
    copy are in memory at once: twice a shuffle buffer's size. Stateless, unlike `Dataset.shuffle`, whose tensor seeds
    cannot be made inside a `tf.data` function once a global seed of 0 is set.
    """

    def permute(window_index, window):
        keys = tf.random.stateless_uniform(tf.shape(window)[:1], seed=tf.stack([seed, window_index]))
        return tf.data.Dataset.from_tensor_slices(tf.gather(window, tf.argsort(keys)))

    return elements.batch(buffer_size).enumerate().flat_map(permute)


def _epochs(elements, batch_size, drop_remainder, shuffle, augment, buffer_size, seed):
    """The batches of each pass over `elements`: shuffled, with flip coins, by `(seed, epoch)` alone.

    `epoch` is read from a variable when a pass begins, then incremented; `set_epoch` sets it. Epoch `e` draws the
    shuffle's seed and the flips' seed from `stateless_uniform(seed=(seed, e))`, and the images of batch `b` flip
    where `stateless_uniform(seed=(flip_seed, b)) < 1/2`. So an epoch's order and flips depend on its number, not on
    how many passes this process made before it: a resumed run sees the batches of an uninterrupted one.

    Returns:
        The dataset of batches (or `(batch, coins)` pairs with `augment`) and the epoch variable.
    """
    next_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="next_epoch")
    base_seed = tf.constant(np.random.randint(2**31 - 1) if seed is None else seed, tf.int64)

    def one_epoch(epoch):
        seeds = tf.random.stateless_uniform(
            (2,), seed=tf.stack([base_seed, epoch]), minval=0, maxval=2**31 - 1, dtype=tf.int64
        )
        dataset = _shuffle_windows(elements, buffer_size, seeds[0]) if shuffle else elements
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        if augment:
            dataset = dataset.enumerate().map(
                lambda b, batch: (batch, tf.random.stateless_uniform(tf.shape(batch)[:1], seed=tf.stack([seeds[1], b])))
            )
        return dataset

    start = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).map(lambda _: next_epoch.assign_add(1) - 1)
    return start.flat_map(one_epoch), next_epoch


def follows_epochs(dataset):
    """Whether `dataset` was returned by `load_images`, so `set_epoch` chooses its order."""
    return getattr(dataset, _EPOCH_ATTRIBUTE, None) is not None


def set_epoch(dataset, epoch):
    """Makes the next pass over a `load_images` dataset epoch `epoch` (0-based): its order and flips become those of
    `(seed, epoch)`.

    Keras' `fit` starts a pass per epoch; `vqkeras.callbacks.DatasetEpoch(dataset)` calls this at each epoch's start,
    so a run resumed at epoch `e` (by `BackupAndRestore`) gets epoch `e`'s batches. Without it, passes count from 0
    in each process.

    Raises:
        ValueError: if `dataset` was not returned by `load_images` (a transformed dataset is a new object), or
            `epoch` is not a non-negative integer.
    """
    if not follows_epochs(dataset):
        raise ValueError(
            "dataset must be the dataset load_images returned (a .map/.take of it is a new dataset without its "
            f"epoch counter). Received: dataset={type(dataset).__name__}"
        )
    if not _is_int(epoch) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer. Received: epoch={epoch!r}")
    getattr(dataset, _EPOCH_ATTRIBUTE).assign(int(epoch))


def load_images(source, image_size, channels=None, batch_size=32, split="train", shuffle=True, augment=False,
                seed=None, image_key=None, cache=True, drop_remainder=False, data_dir=None, shuffle_buffer=None):
    """Builds a batched, prefetched `tf.data.Dataset` of images in [-1, 1].

    Sources:
    - `"tfds:<name>"`: a tensorflow-datasets dataset (`"tfds:mnist"`, `"tfds:cifar10"`,
      `"tfds:celeb_a"`, optionally with config/version). The image feature is the
      first `tfds.features.Image` of the example dict, or `image_key`. tfds downloads
      it if it is not prepared yet.
    - A named offline source from `OFFLINE_SOURCES`: `"orl_faces"` (400 faces, 92x92
      centre crop), `"mnist5k"` (5,000 digits), `"fashion_mnist"` (60,000 train and
      10,000 test images, from the IDX files in `data_dir`, by default
      `/usr/share/datasets/fashion-mnist`). See `load_offline_arrays`.
    - A folder (string or path), searched recursively for png, jpg/jpeg, bmp, pgm, gif
      (and ppm, tif) files. Files PIL cannot decode are skipped, with one warning that
      counts them. Images of mixed sizes are each cropped and resized. If any file
      has colour, all are read as RGB.
    - A NumPy array of shape `(N, H, W)` or `(N, H, W, C)`. Its range is detected:
      `uint8` (or any integer type with values in [0, 255]) is read as [0, 255]; a
      float array with all values in [0, 1] as [0, 1]; a float array with values in
      [-1, 1] and some below 0 as [-1, 1]. Other ranges and NaN/inf raise a `ValueError`.

    A name is looked up in this order: `tfds:` prefix, offline source, folder (use
    `"./orl_faces"` or a `pathlib.Path` for a folder named like an offline source).

    Each image goes through `preprocess_image` (channel conversion, largest centred
    crop with the target aspect ratio, antialiased resize, rescale to [-1, 1]). The
    dataset is shuffled each epoch, batched, randomly flipped left-right (with
    `augment`) and prefetched with `tf.data.AUTOTUNE`. The order and the flips of
    epoch `e` are a function of `(seed, e)`: the same on every run with a `seed`, and
    the same after a resume when `fit` gets `vqkeras.callbacks.DatasetEpoch(dataset)`,
    which tells the dataset the epoch (see `set_epoch`). Sources held in memory with a single image
    size (NumPy, offline sources, uniform folders) shuffle indices and preprocess
    whole batches on the fly, so the first batch comes at once even for 60,000
    images; streamed sources (tfds, mixed-size folders) are preprocessed image by
    image and cached after preprocessing when `cache` is on.

    Args:
        source: String, path, or NumPy array. See above.
        image_size: Integer or `(height, width)` tuple. Output image size.
        channels: Optional integer, 1 or 3. Output channels; `None` keeps the
            source's (1 for grayscale, 3 for colour).
        batch_size: Integer, at least 1. Defaults to 32.
        split: String. For tfds sources, any tfds split (`"train"`, `"test[:10%]"`);
            for offline sources `"train"`, `"test"` (Fashion-MNIST only) or `"all"`;
            folders and arrays have only `"train"` / `"all"`. Non-tfds splits take a
            tfds-style slice too (`"train[:90%]"`). Defaults to `"train"`.
        shuffle: Boolean. Shuffle the images each epoch. Defaults to `True`.
        augment: Boolean. Random horizontal flips. Defaults to `False`.
        seed: Optional integer seed for shuffling and augmentation (`None`: drawn from
            NumPy's global generator).
        image_key: Optional string. The image feature of a tfds dataset.
        cache: Boolean. Cache streamed sources in memory after preprocessing.
            In-memory sources need no cache. Defaults to `True`.
        drop_remainder: Boolean. Drop the last, smaller batch. Defaults to `False`.
        data_dir: Optional path. The tfds data directory for tfds sources; the folder
            holding the files for offline sources.
        shuffle_buffer: Optional integer. Shuffle window: each run of this many
            consecutive images is permuted. Defaults to the whole dataset for in-memory
            sources and `min(N, 10000)` for streamed ones.

    Returns:
        A `tf.data.Dataset` yielding float32 tensors of shape
        `(batch, height, width, channels)` in [-1, 1].

    Example:

    >>> dataset = load_images("orl_faces", image_size=64, batch_size=16, seed=0)
    >>> next(iter(dataset)).shape
    TensorShape([16, 64, 64, 1])
    """
    size = standardize_image_size(image_size)
    _validate_channels(channels)
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1. Received: batch_size={batch_size!r}")
    if seed is not None and not _is_int(seed):
        raise ValueError(f"seed must be an integer or None. Received: seed={seed!r}")
    if shuffle_buffer is not None and (not _is_int(shuffle_buffer) or shuffle_buffer < 1):
        raise ValueError(
            f"shuffle_buffer must be an integer >= 1. Received: shuffle_buffer={shuffle_buffer!r}"
        )

    source_images = _source_images(source, split, shuffle, seed, image_key, data_dir)

    def preprocess(images):
        return preprocess_image(images, size, channels)

    if isinstance(source_images, np.ndarray):
        # In memory: shuffle indices, then gather and preprocess whole batches.
        count = len(source_images)
        if count == 0:
            raise ValueError(f"split={split!r} selects no images.")
        images = tf.constant(source_images)
        elements = tf.data.Dataset.range(count)
        buffer_size = shuffle_buffer or count

        def to_images(index):
            return preprocess(tf.gather(images, index))
    else:
        # Streamed: preprocess image by image, cache, then shuffle.
        elements, count = source_images
        elements = elements.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if cache:
            elements = elements.cache()
        buffer_size = shuffle_buffer or min(count or _MAX_STREAM_SHUFFLE_BUFFER, _MAX_STREAM_SHUFFLE_BUFFER)
        to_images = None

    dataset, next_epoch = _epochs(elements, batch_size, drop_remainder, shuffle, augment, buffer_size, seed)
    if count is not None:  # lost in `_epochs`' flat_map; Keras' progress bar and epoch ends read it
        batches = count // batch_size if drop_remainder else -(-count // batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))

    def finish(batch, coins=None):
        images = batch if to_images is None else to_images(batch)
        if coins is not None:  # left-right flips
            images = tf.where(coins[:, None, None, None] < 0.5, tf.reverse(images, axis=[2]), images)
        return images

    if to_images is not None or augment:
        dataset = dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    setattr(dataset, _EPOCH_ATTRIBUTE, next_epoch)
    return dataset
