"""One-call training: a tokenizer, then a prior on its tokens, returned as an `ImageGenerator`."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.callbacks.dataset_epoch import DatasetEpoch
from vqkeras.callbacks.guide_snapshot import check_guide_fraction
from vqkeras.data.load_images import follows_epochs
from vqkeras.data.load_images import load_images
from vqkeras.generator.image_generator import ImageGenerator
from vqkeras.models.vqgan import VQGAN
from vqkeras.models.vqvae import VQVAE
from vqkeras.priors.pixelcnn_prior import PixelCNNPrior
from vqkeras.priors.transformer_prior import TransformerPrior
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

_PRIORS = {"transformer": TransformerPrior, "pixelcnn": PixelCNNPrior}


def _as_dataset(dataset, image_size, channels, batch_size, seed):
    """A batched dataset of [-1, 1] images, and the name of the source when it has one."""
    if isinstance(dataset, tf.data.Dataset):
        return dataset, None
    if image_size is None:
        raise ValueError(
            "image_size is needed to load images from a source name, folder or array. Received: image_size=None"
        )
    name = dataset if isinstance(dataset, str) else None
    images = load_images(dataset, image_size, channels=channels, batch_size=batch_size, seed=seed, shuffle=True)
    return images, name


def _train(tokenizer_cls, optimizers, dataset, image_size, channels, epochs, prior, prior_epochs, prior_kwargs,
           batch_size, learning_rate, dataset_name, seed, callbacks, verbose, guide_fraction, tokenizer_kwargs):
    """Trains `tokenizer_cls(**tokenizer_kwargs)` with `fit`, then a prior on its tokens; returns the generator."""
    if prior not in _PRIORS:
        raise ValueError(f"prior must be one of {sorted(_PRIORS)}. Received: prior={prior!r}")
    check_guide_fraction(guide_fraction)  # before the tokenizer's training, not after it
    for name, value in (("epochs", epochs), ("prior_epochs", prior_epochs), ("batch_size", batch_size)):
        check_int(name, value, minimum=1)
    check_float("learning_rate", learning_rate, minimum=0, exclusive_minimum=True)
    images, source_name = _as_dataset(dataset, image_size, channels, batch_size, seed)
    first = next(iter(images), None)
    if first is None:
        raise ValueError("dataset is empty: it has no batches of images. Received: dataset=a dataset of 0 batches")
    sample_shape = tokenizer_cls.unpack_images(first).shape
    tokenizer_kwargs.setdefault("image_channels", int(sample_shape[-1]))
    tokenizer = tokenizer_cls(**tokenizer_kwargs)
    tokenizer.build((None, *sample_shape[1:]))  # built before fit, as BackupAndRestore needs
    tokenizer.compile(**optimizers(learning_rate))
    if follows_epochs(images):  # made by load_images, here or by the caller
        # Epoch e's order and flips are those of (seed, e), also when a backup callback resumes the run at epoch e.
        callbacks = [DatasetEpoch(images), *(callbacks or [])]
    tokenizer.fit(images, epochs=epochs, callbacks=callbacks, verbose=verbose)
    f = tokenizer.downsample_factor
    depth = int(np.prod(tokenizer.index_shape))  # a residual tokenizer's depth goes into the prior's rows
    prior_model = _PRIORS[prior](tokenizer.num_embeddings, (sample_shape[1] // f, sample_shape[2] // f * depth),
                                 **(prior_kwargs or {}))
    generator = ImageGenerator(tokenizer, prior_model, dataset_name=dataset_name or source_name)
    generator.fit_prior(images, epochs=prior_epochs, batch_size=batch_size, guide_fraction=guide_fraction,
                        verbose=verbose)
    return generator


def train_vqvae(
    dataset,
    image_size=None,
    channels=None,
    epochs=10,
    prior="transformer",
    prior_epochs=10,
    batch_size=32,
    learning_rate=2e-4,
    prior_kwargs=None,
    dataset_name=None,
    seed=None,
    callbacks=None,
    verbose="auto",
    guide_fraction=None,
    **vqvae_kwargs,
):
    """Trains a `VQVAE`, then a prior on its tokens; returns the `ImageGenerator` (Keras progress bars throughout).

    Args:
        dataset: A `tf.data.Dataset` of images in [-1, 1], or anything `vqkeras.data.load_images` reads (an offline
            name such as `"mnist5k"`, `"tfds:<name>"`, a folder, an array).
        image_size: Integer or `(h, w)`; needed unless `dataset` is a `tf.data.Dataset`.
        channels: Optional 1 or 3.
        epochs: Tokenizer epochs.
        prior: `"transformer"` or `"pixelcnn"`.
        prior_epochs: Prior epochs.
        batch_size: Integer.
        learning_rate: Adam learning rate of the tokenizer.
        prior_kwargs: Dict of prior constructor arguments (e.g. `embed_dim`, `num_layers`).
        dataset_name: Name kept in the generator's config (defaults to the source name).
        seed: Optional integer for the data order.
        callbacks: Keras callbacks for the tokenizer's `fit`. To resume an interrupted run, pass
            `vqkeras.callbacks.AtomicBackupAndRestore(backup_dir)` and call again with the same arguments.
        verbose: Keras verbosity.
        guide_fraction: Optional float in `(0, 1)`: keep the prior at this fraction of its steps as the generator's
            guide, for `generate(..., guidance_scale=w)` (see `ImageGenerator.fit_prior`).
        **vqvae_kwargs: `VQVAE` arguments (`num_embeddings`, `channel_multipliers`, ...).

    Returns:
        A trained `ImageGenerator`.
    """
    return _train(
        VQVAE, lambda lr: {"optimizer": keras.optimizers.Adam(lr)},
        dataset, image_size, channels, epochs, prior, prior_epochs, prior_kwargs, batch_size, learning_rate,
        dataset_name, seed, callbacks, verbose, guide_fraction, vqvae_kwargs,
    )


def train_vqgan(
    dataset,
    image_size=None,
    channels=None,
    epochs=10,
    prior="transformer",
    prior_epochs=10,
    batch_size=32,
    learning_rate=2e-4,
    prior_kwargs=None,
    dataset_name=None,
    seed=None,
    callbacks=None,
    verbose="auto",
    guide_fraction=None,
    **vqgan_kwargs,
):
    """Trains a `VQGAN` (Adam(β₁=0.5) for both players), then a prior on its tokens; returns the `ImageGenerator`.

    Arguments as `train_vqvae`, with `**vqgan_kwargs` going to `VQGAN` (e.g. `disc_start`, `perceptual_weight`).
    """
    return _train(
        VQGAN,
        lambda lr: {
            "optimizer": keras.optimizers.Adam(lr, beta_1=0.5),
            "discriminator_optimizer": keras.optimizers.Adam(lr, beta_1=0.5),
        },
        dataset, image_size, channels, epochs, prior, prior_epochs, prior_kwargs, batch_size, learning_rate,
        dataset_name, seed, callbacks, verbose, guide_fraction, vqgan_kwargs,
    )
