"""Helpers shared by the example scripts (not part of the library)."""

import numpy as np

import vqkeras


def save_grid(path, rows):
    """Saves rows of [-1, 1] images `(n, H, W, C)` as one PNG grid (one row per entry of `rows`)."""
    import keras

    grid = np.concatenate([np.concatenate(list(np.asarray(row)), axis=1) for row in rows], axis=0)
    keras.utils.save_img(path, np.asarray(vqkeras.utils.from_model_range(grid)), scale=True)
    return path


def psnr(model, images):
    """Mean PSNR (dB) of a tokenizer's reconstructions of [-1, 1] images, on [0, 1]."""
    import tensorflow as tf

    x = vqkeras.utils.from_model_range(images)
    y = vqkeras.utils.from_model_range(model.predict(images, batch_size=32, verbose=0))
    return float(tf.reduce_mean(tf.image.psnr(x, y, max_val=1.0)))


def codebook_usage(model, images):
    """Fraction of codes used at least once when encoding `images`."""
    tokens = np.concatenate([model.encode(images[i : i + 64]).numpy().ravel() for i in range(0, len(images), 64)])
    return len(np.unique(tokens)) / model.num_embeddings
