"""One-call training: a tokenizer, then a prior on its tokens, returned as an `ImageGenerator`."""

import functools
import inspect
import os

import keras
import numpy as np
import tensorflow as tf

from vqkeras.callbacks.atomic_backup_and_restore import AtomicBackupAndRestore
from vqkeras.callbacks.dataset_epoch import DatasetEpoch
from vqkeras.callbacks.guide_snapshot import check_guide_fraction
from vqkeras.data.load_images import follows_epochs
from vqkeras.data.load_images import load_images
from vqkeras.generator.image_generator import ImageGenerator
from vqkeras.models.vqgan import VQGAN
from vqkeras.models.vqvae import VQVAE
from vqkeras.presets.registry import get_recipe
from vqkeras.priors.pixelcnn_prior import PixelCNNPrior
from vqkeras.priors.transformer_prior import TransformerPrior
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

_PRIORS = {"transformer": TransformerPrior, "pixelcnn": PixelCNNPrior}


def _as_dataset(dataset, image_size, channels, batch_size, seed, split="train", augment=False, shuffle=True):
    """A batched dataset of [-1, 1] images, and the name of the source when it has one."""
    if isinstance(dataset, tf.data.Dataset):
        if split != "train" or augment:
            raise ValueError("split and augment apply to images loaded here, not to a tf.data.Dataset. "
                             f"Received: split={split!r}, augment={augment!r}")
        return dataset, None
    if image_size is None:
        raise ValueError(
            "image_size is needed to load images from a source name, folder or array. Received: image_size=None"
        )
    name = dataset if isinstance(dataset, str) else None
    images = load_images(dataset, image_size, channels=channels, batch_size=batch_size, split=split, seed=seed,
                         shuffle=shuffle, augment=augment)
    return images, name


def _with_preset(train_function):
    """Adds `preset=None` to a training function: a `"recipe"` preset's config gives the arguments, and the
    arguments the caller passes win over it."""

    @functools.wraps(train_function)
    def wrapper(*args, preset=None, **kwargs):
        if preset is None:
            return train_function(*args, **kwargs)
        config = dict(get_recipe(preset))
        passed = inspect.signature(train_function).bind_partial(*args, **kwargs).arguments
        extra = passed.pop(next(n for n, p in inspect.signature(train_function).parameters.items()
                                if p.kind is p.VAR_KEYWORD), {})
        return train_function(**{**config, **passed, **extra})

    return wrapper


def _reconstruction_phase(images, sample_shape, epochs, learning_rate, tokenizer_kwargs, callbacks, verbose,
                          backup_dir):
    """Trains a `VQVAE` of `tokenizer_kwargs`' architecture (L_rec + L_vq only) for `epochs`; returns it.

    With `backup_dir`, the finished phase is saved as `backup_dir/reconstruction.keras` (atomically) and reused by
    a rerun, whose adversarial phase then resumes from its own backup.
    """
    saved = None if backup_dir is None else os.path.join(backup_dir, "reconstruction.keras")
    if saved is not None and os.path.exists(saved):
        return keras.models.load_model(saved, safe_mode=True)
    vqvae_args = set(inspect.signature(VQVAE.__init__).parameters) - {"self", "kwargs"}
    vqvae = VQVAE(**{k: v for k, v in tokenizer_kwargs.items() if k in vqvae_args})
    vqvae.build((None, *sample_shape[1:]))
    vqvae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    phase_callbacks = list(callbacks or [])
    if backup_dir is not None:
        phase_callbacks.append(AtomicBackupAndRestore(os.path.join(backup_dir, "reconstruction")))
    vqvae.fit(images, epochs=epochs, callbacks=phase_callbacks, verbose=verbose)
    if saved is not None:
        vqvae.save(saved + ".tmp.keras")
        os.replace(saved + ".tmp.keras", saved)
    return vqvae


def _prior_images(images, dataset, image_size, channels, batch_size, split, augment):
    """The prior's training images: with `augment` (random flips), every image and its mirror image, once each."""
    if not augment:
        return images
    plain, _ = _as_dataset(dataset, image_size, channels, batch_size, None, split=split, shuffle=False)
    return plain.concatenate(plain.map(tf.image.flip_left_right))


def _train(tokenizer_cls, optimizers, dataset, image_size, channels, epochs, prior, prior_epochs, prior_kwargs,
           batch_size, learning_rate, dataset_name, seed, callbacks, verbose, guide_fraction, tokenizer_kwargs,
           split="train", augment=False, reconstruction_epochs=0, reconstruction_learning_rate=None,
           prior_learning_rate=None, backup_dir=None):
    """Trains `tokenizer_cls(**tokenizer_kwargs)` with `fit` (after a `VQVAE` phase of `reconstruction_epochs`,
    continued by `tokenizer_cls.from_vqvae`), then a prior on its tokens; returns the generator."""
    if dataset is None:
        raise ValueError("dataset is needed (or a preset that names it). Received: dataset=None")
    if prior not in _PRIORS:
        raise ValueError(f"prior must be one of {sorted(_PRIORS)}. Received: prior={prior!r}")
    if isinstance(reconstruction_epochs, bool) or not isinstance(reconstruction_epochs, int) or (
            reconstruction_epochs < 0):
        raise ValueError(f"reconstruction_epochs must be an integer >= 0. Received: "
                         f"reconstruction_epochs={reconstruction_epochs!r}")
    check_guide_fraction(guide_fraction)  # before the tokenizer's training, not after it
    for name, value in (("epochs", epochs), ("prior_epochs", prior_epochs), ("batch_size", batch_size)):
        check_int(name, value, minimum=1)
    check_float("learning_rate", learning_rate, minimum=0, exclusive_minimum=True)
    images, source_name = _as_dataset(dataset, image_size, channels, batch_size, seed, split=split,
                                         augment=augment)
    first = next(iter(images), None)
    if first is None:
        raise ValueError("dataset is empty: it has no batches of images. Received: dataset=a dataset of 0 batches")
    sample_shape = keras.utils.unpack_x_y_sample_weight(first)[0].shape
    tokenizer_kwargs.setdefault("image_channels", int(sample_shape[-1]))
    if reconstruction_epochs:
        vqvae = _reconstruction_phase(images, sample_shape, reconstruction_epochs,
                                      reconstruction_learning_rate or learning_rate, tokenizer_kwargs, callbacks,
                                      verbose, backup_dir)
        vqvae_args = set(VQVAE.get_config(vqvae)) - {"reconstruction_loss", "code_entropy_weight",
                                                     "code_entropy_temperature", "code_prediction_weight"}
        tokenizer = tokenizer_cls.from_vqvae(vqvae, **{k: v for k, v in tokenizer_kwargs.items()
                                                        if k not in vqvae_args})
    else:
        tokenizer = tokenizer_cls(**tokenizer_kwargs)
        tokenizer.build((None, *sample_shape[1:]))  # built before fit, as BackupAndRestore needs
    tokenizer.compile(**optimizers(learning_rate))
    callbacks = list(callbacks or [])
    if follows_epochs(images):  # made by load_images, here or by the caller
        # Epoch e's order and flips are those of (seed, e), also when a backup callback resumes the run at epoch e.
        callbacks.insert(0, DatasetEpoch(images))
    if backup_dir is not None:
        callbacks.append(AtomicBackupAndRestore(os.path.join(backup_dir, "tokenizer")))
    tokenizer.fit(images, epochs=epochs, callbacks=callbacks, verbose=verbose)
    f = tokenizer.downsample_factor
    depth = int(np.prod(tokenizer.index_shape))  # a residual tokenizer's depth goes into the prior's rows
    prior_model = _PRIORS[prior](tokenizer.num_embeddings, (sample_shape[1] // f, sample_shape[2] // f * depth),
                                 **(prior_kwargs or {}))
    generator = ImageGenerator(tokenizer, prior_model, dataset_name=dataset_name or source_name)
    optimizer = None if prior_learning_rate is None else keras.optimizers.AdamW(prior_learning_rate,
                                                                                 weight_decay=0.01)
    generator.fit_prior(_prior_images(images, dataset, image_size, channels, batch_size, split, augment),
                        epochs=prior_epochs, batch_size=batch_size, guide_fraction=guide_fraction,
                        optimizer=optimizer, verbose=verbose)
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


@_with_preset
def train_vqgan(
    dataset=None,
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
    split="train",
    augment=False,
    reconstruction_epochs=0,
    reconstruction_learning_rate=None,
    prior_learning_rate=None,
    backup_dir=None,
    **vqgan_kwargs,
):
    """Trains a `VQGAN` (Adam(β₁=0.5) for both players), then a prior on its tokens; returns the `ImageGenerator`.

    Arguments as `train_vqvae`, with `**vqgan_kwargs` going to `VQGAN` (e.g. `disc_start`, `perceptual_weight`,
    `diff_augment`), and:

    Args:
        dataset: As `train_vqvae`; may be omitted with a `preset` that names it.
        split: Split of a named source, e.g. `"train[:90%]"`. Defaults to `"train"`.
        augment: Boolean. Random horizontal flips for the tokenizer; the prior then trains on every image and its
            mirror image. Defaults to `False`.
        reconstruction_epochs: Integer ≥ 0. Epochs of a reconstruction-only first phase (a `VQVAE` of the same
            architecture, `L_rec + L_vq`, Adam at `reconstruction_learning_rate`, default `learning_rate`), which
            `VQGAN.from_vqvae` then continues for `epochs` (taming's advice: a good autoencoder before the GAN, and
            the first phase is cheaper without the perceptual and adversarial passes). Defaults to `0` (one phase).
        prior_learning_rate: Optional float: AdamW (weight decay 0.01) at this rate for the prior; None keeps
            `ImageGenerator.fit_prior`'s default.
        backup_dir: Optional directory: `BackupAndRestore` for each phase (`reconstruction/`, `tokenizer/`) and the
            finished first phase (`reconstruction.keras`), so rerunning the same call resumes an interrupted run.
        preset: Optional name of a `"recipe"` preset (`vqkeras.presets.list_presets("recipe")`, e.g.
            `"orl_faces_64"`): its config gives every argument not passed here.

    Example:

    >>> generator = vqkeras.train_vqgan(preset="orl_faces_64", backup_dir="/tmp/faces_backup")
    """
    return _train(
        VQGAN,
        lambda lr: {
            "optimizer": keras.optimizers.Adam(lr, beta_1=0.5),
            "discriminator_optimizer": keras.optimizers.Adam(lr, beta_1=0.5),
        },
        dataset, image_size, channels, epochs, prior, prior_epochs, prior_kwargs, batch_size, learning_rate,
        dataset_name, seed, callbacks, verbose, guide_fraction, vqgan_kwargs, split=split, augment=augment,
        reconstruction_epochs=reconstruction_epochs, reconstruction_learning_rate=reconstruction_learning_rate,
        prior_learning_rate=prior_learning_rate, backup_dir=backup_dir,
    )
