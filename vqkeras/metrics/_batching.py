"""Iterating over images given as a `tf.data.Dataset` or an array, with a progress bar."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.utils.images import convert_images


def unpack_images(batch):
    """Images from a batch that is `x`, `(x,)`, `(x, y)`, `(x, y, w)` or a dict with an `"images"`/`"image"` key."""
    if isinstance(batch, dict):
        for key in ("images", "image"):
            if key in batch:
                return batch[key]
        raise ValueError(f"A dict batch needs an 'images' or 'image' key. Received keys: {sorted(batch)}")
    return keras.utils.unpack_x_y_sample_weight(batch)[0]


def iterate_batches(data, batch_size=64, verbose=1, label=None):
    """Yields float32 image batches in [-1, 1] from `data`, updating a `keras.utils.Progbar`.

    Args:
        data: `tf.data.Dataset` of image batches (or `(images, ...)` tuples), or an array / tensor of images
            `(N, H, W, C)`. Float images must be finite and in [-1, 1]; integer images are read as [0, 255]
            (`vqkeras.utils.images.convert_images`, which raises a `ValueError` for anything else).
        batch_size: Integer. Batch size used for arrays (datasets keep their own batching).
        verbose: 0 (silent) or 1 (progress bar).
        label: Optional string printed before the progress bar.

    Yields:
        Float32 tensors `(batch, H, W, C)`.
    """
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size}")
    if isinstance(data, tf.data.Dataset):
        cardinality = int(data.cardinality())
        target = cardinality if cardinality > 0 else None
        batches = iter(data)
    else:
        array = data if tf.is_tensor(data) else np.asarray(data)
        if len(array.shape) != 4:
            raise ValueError(f"images must have shape (N, H, W, C). Received: shape={tuple(array.shape)}")
        n = int(array.shape[0])
        target = -(-n // int(batch_size))
        batches = (array[i : i + batch_size] for i in range(0, n, int(batch_size)))
    if verbose and label:
        print(label)
    progbar = keras.utils.Progbar(target, verbose=verbose, unit_name="batch")
    seen = 0
    for batch in batches:
        images = unpack_images(batch)
        if len(images.shape) != 4:
            raise ValueError(f"Expected image batches (batch, H, W, C). Received: shape={tuple(images.shape)}")
        yield convert_images(images, integer_pixels=True)
        seen += 1
        progbar.update(seen)
    if target is None:
        progbar.update(seen, finalize=True)
    if seen == 0:
        raise ValueError("The images are empty. Received: a dataset or array with no batches")
