"""One-call training: a tokenizer, then a prior on its tokens, returned as an `ImageGenerator`."""

import functools
import inspect
import os

import keras
import numpy as np
import tensorflow as tf

from vqkeras.callbacks.atomic_backup_and_restore import AtomicBackupAndRestore
from vqkeras.callbacks.dataset_epoch import DatasetEpoch
from vqkeras.data.load_images import follows_epochs
from vqkeras.data.load_images import load_images
from vqkeras.generator.image_generator import ImageGenerator
from vqkeras.generator.image_generator import check_jit_compile
from vqkeras.generator.image_generator import default_prior_optimizer
from vqkeras.models.vqgan import ADVERSARIAL_ARGUMENTS
from vqkeras.models.vqgan import VQGAN
from vqkeras.models.vqvae import VQVAE
from vqkeras.optimizers.stable_decay_schedule import StableDecaySchedule
from vqkeras.presets.registry import get_recipe
from vqkeras.priors.guide_snapshot import check_guide_fraction
from vqkeras.priors.pixelcnn_prior import PixelCNNPrior
from vqkeras.priors.transformer_prior import TransformerPrior
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

_PRIORS = {"transformer": TransformerPrior, "pixelcnn": PixelCNNPrior}
# `VQVAE` arguments that are terms of the objective, not the architecture: a reconstruction-only first phase leaves
# them to the phase that continues it.
CODE_REGULARISERS = ("code_regularizer", "code_entropy_weight", "code_entropy_temperature")
DEFAULT_LEARNING_RATE = 2e-4  # the tokenizer's Adam rate when neither a rate nor an optimizer is given


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


def _phase_optimizer(name, spec, learning_rate, default, steps, anneal):
    """A fresh optimizer for one training phase.

    `spec` is what `keras.optimizers.get` takes (a name, a config dict, an instance, whose config is copied) and
    `learning_rate` a shortcut for `default(learning_rate)`; give one of them (`name` is the argument's name, for the
    error). With `anneal > 0` the rate holds, then falls linearly to 0 over the last `anneal` of the phase's
    `steps` (`StableDecaySchedule`).
    """
    if spec is not None and learning_rate is not None:
        raise ValueError(f"Give {name} or its learning rate, not both. Received: {name}={spec!r}, "
                         f"learning_rate={learning_rate!r}")
    config = keras.optimizers.serialize(keras.optimizers.get(spec) if spec is not None else default(learning_rate))
    if anneal:
        rate = config["config"]["learning_rate"]
        if not isinstance(rate, (int, float)):
            raise ValueError(f"anneal schedules a constant learning rate; {name} already has a schedule. Received: "
                             f"{name}={spec!r}, anneal={anneal!r}")
        config["config"]["learning_rate"] = keras.optimizers.schedules.serialize(
            StableDecaySchedule(rate, steps, anneal))
    return keras.optimizers.deserialize(config)


def _epoch_size(images, anneal):
    """`(batches, images)` in one epoch of `images`, in one pass; counted only to anneal (a schedule needs the run's
    length), else `(1, 1)`."""
    if not anneal:
        return 1, 1
    sizes = [int(tf.shape(keras.utils.unpack_x_y_sample_weight(batch)[0])[0]) for batch in images]
    return len(sizes), sum(sizes)


def _reconstruction_phase(images, sample_shape, epochs, optimizer, tokenizer_kwargs, callbacks, verbose,
                          backup_dir):
    """Trains a `VQVAE` of `tokenizer_kwargs`' architecture (L_rec + L_vq only) for `epochs`; returns it.

    With `backup_dir`, the finished phase is saved as `backup_dir/reconstruction.keras` (atomically) and reused by
    a rerun, whose adversarial phase then resumes from its own backup.
    """
    saved = None if backup_dir is None else os.path.join(backup_dir, "reconstruction.keras")
    if saved is not None and os.path.exists(saved):
        return keras.models.load_model(saved, safe_mode=True)
    # The architecture and the reconstruction loss; the code regularisers belong to the second phase's objective
    # (from scratch, the code-entropy term collapses the codebook before the codes mean anything).
    vqvae = VQVAE(**{k: v for k, v in tokenizer_kwargs.items()
                     if k not in ADVERSARIAL_ARGUMENTS and k not in CODE_REGULARISERS})
    vqvae.build((None, *sample_shape[1:]))
    vqvae.compile(optimizer=optimizer)
    phase_callbacks = list(callbacks or [])
    if backup_dir is not None:
        phase_callbacks.append(AtomicBackupAndRestore(os.path.join(backup_dir, "reconstruction")))
    vqvae.fit(images, epochs=epochs, callbacks=phase_callbacks, verbose=verbose, shuffle=False)  # shuffled already
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


def _adam(beta_1=0.9):
    return lambda learning_rate: keras.optimizers.Adam(learning_rate, beta_1=beta_1)


def _train(tokenizer_cls, tokenizer_kwargs, *, dataset, image_size, channels, epochs, prior, prior_epochs,
           prior_kwargs, batch_size, dataset_name, seed, callbacks, verbose, guide_fraction, learning_rate=None,
           optimizer=None, default_optimizer=_adam(), split="train", augment=False, reconstruction_epochs=0,
           reconstruction_learning_rate=None, reconstruction_optimizer=None, prior_learning_rate=None,
           prior_optimizer=None, prior_batch_size=None, prior_jit_compile="auto", anneal=0.0, backup_dir=None):
    """Trains `tokenizer_cls(**tokenizer_kwargs)` with `fit` (after a `VQVAE` phase of `reconstruction_epochs`,
    continued by `tokenizer_cls.from_vqvae`), then a prior on its tokens; returns the generator. Optimizers of the
    tokenizer (both players of a VQ-GAN) come from `optimizer` or `default_optimizer(learning_rate)`."""
    if dataset is None:
        raise ValueError("dataset is needed (or a preset that names it). Received: dataset=None")
    if prior not in _PRIORS:
        raise ValueError(f"prior must be one of {sorted(_PRIORS)}. Received: prior={prior!r}")
    check_int("reconstruction_epochs", reconstruction_epochs, minimum=0)
    check_guide_fraction(guide_fraction)  # before the tokenizer's training, not after it
    for name, value in (("epochs", epochs), ("prior_epochs", prior_epochs), ("batch_size", batch_size)):
        check_int(name, value, minimum=1)
    prior_batch_size = check_int("prior_batch_size", batch_size if prior_batch_size is None else prior_batch_size,
                                 minimum=1)
    for name, value in (("learning_rate", learning_rate), ("reconstruction_learning_rate",
                                                           reconstruction_learning_rate),
                        ("prior_learning_rate", prior_learning_rate)):
        check_float(name, value, minimum=0, exclusive_minimum=True, allow_none=True)
    anneal = check_float("anneal", anneal, minimum=0, maximum=1)
    check_jit_compile(prior_jit_compile)
    if optimizer is None and learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATE
    images, source_name = _as_dataset(dataset, image_size, channels, batch_size, seed, split=split,
                                         augment=augment)
    first = next(iter(images), None)
    if first is None:
        raise ValueError("dataset is empty: it has no batches of images. Received: dataset=a dataset of 0 batches")
    sample_shape = keras.utils.unpack_x_y_sample_weight(first)[0].shape
    tokenizer_kwargs.setdefault("image_channels", int(sample_shape[-1]))
    # Every phase's optimizer is made (and checked) before any training.
    steps_per_epoch, image_count = _epoch_size(images, anneal)
    if reconstruction_optimizer is None and reconstruction_learning_rate is None:
        reconstruction_optimizer, reconstruction_learning_rate = optimizer, learning_rate
    first_optimizer = _phase_optimizer("reconstruction_optimizer", reconstruction_optimizer,
                                       reconstruction_learning_rate, _adam(),
                                       max(1, reconstruction_epochs) * steps_per_epoch, anneal)
    players = ["optimizer", "discriminator_optimizer"] if tokenizer_cls is VQGAN else ["optimizer"]
    tokenizer_optimizers = {player: _phase_optimizer("optimizer", optimizer, learning_rate, default_optimizer,
                                                     epochs * steps_per_epoch, anneal) for player in players}
    prior_images = _prior_images(images, dataset, image_size, channels, batch_size, split, augment)
    # The prior sees every image once per epoch, and its mirror image too with `augment`.
    prior_steps = prior_epochs * -(-image_count * (2 if augment else 1) // prior_batch_size)
    if prior_optimizer is None and prior_learning_rate is None:
        prior_optimizer = keras.optimizers.serialize(default_prior_optimizer())
    prior_optimizer = _phase_optimizer("prior_optimizer", prior_optimizer, prior_learning_rate,
                                       lambda rate: keras.optimizers.AdamW(rate, weight_decay=0.01), prior_steps,
                                       anneal)
    if reconstruction_epochs:
        vqvae = _reconstruction_phase(images, sample_shape, reconstruction_epochs, first_optimizer,
                                      tokenizer_kwargs, callbacks, verbose, backup_dir)
        architecture = set(vqvae.backbone.get_config())  # the backbone the VQ-GAN continues
        tokenizer = tokenizer_cls.from_vqvae(vqvae, **{k: v for k, v in tokenizer_kwargs.items()
                                                        if k not in architecture})
    else:
        tokenizer = tokenizer_cls(**tokenizer_kwargs)
        tokenizer.build((None, *sample_shape[1:]))  # built before fit, as BackupAndRestore needs
    tokenizer.compile(**tokenizer_optimizers)
    callbacks = list(callbacks or [])
    if follows_epochs(images):  # made by load_images, here or by the caller
        # Epoch e's order and flips are those of (seed, e), also when a backup callback resumes the run at epoch e.
        callbacks.insert(0, DatasetEpoch(images))
    if backup_dir is not None:
        callbacks.append(AtomicBackupAndRestore(os.path.join(backup_dir, "tokenizer")))
    tokenizer.fit(images, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False)  # shuffled already
    f = tokenizer.downsample_factor
    depth = int(np.prod(tokenizer.index_shape))  # a residual tokenizer's depth goes into the prior's rows
    prior_model = _PRIORS[prior](tokenizer.num_embeddings, (sample_shape[1] // f, sample_shape[2] // f * depth),
                                 **(prior_kwargs or {}))
    generator = ImageGenerator(tokenizer, prior_model, dataset_name=dataset_name or source_name)
    generator.prior.compile(optimizer=prior_optimizer, jit_compile=prior_jit_compile)
    generator.fit_prior(prior_images, epochs=prior_epochs, batch_size=prior_batch_size,
                        guide_fraction=guide_fraction, verbose=verbose)
    return generator


def train_vqvae(dataset, image_size=None, channels=None, epochs=10, prior="transformer", prior_epochs=10,
                batch_size=32, learning_rate=None, prior_kwargs=None, dataset_name=None, seed=None, callbacks=None,
                verbose="auto", guide_fraction=None, optimizer=None, prior_learning_rate=None, prior_optimizer=None,
                prior_batch_size=None, prior_jit_compile="auto", anneal=0.0, **vqvae_kwargs):
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
        learning_rate: Adam learning rate of the tokenizer (default 2e-4), or give `optimizer`.
        prior_kwargs: Dict of prior constructor arguments (e.g. `embed_dim`, `num_layers`).
        dataset_name: Name kept in the generator's config (defaults to the source name).
        seed: Optional integer for the data order.
        callbacks: Keras callbacks for the tokenizer's `fit`. To resume an interrupted run, pass
            `vqkeras.callbacks.AtomicBackupAndRestore(backup_dir)` and call again with the same arguments.
        verbose: Keras verbosity.
        guide_fraction: Optional float in `(0, 1)`: keep the prior at this fraction of its steps as the generator's
            guide, for `generate(..., guidance_scale=w)` (see `ImageGenerator.fit_prior`).
        optimizer: Optional tokenizer optimizer, as `keras.optimizers.get` takes it (a name, a config dict such as
            `{"class_name": "Adam", "config": {"learning_rate": 2e-3, "beta_2": 0.95}}`, an instance, whose
            config is copied). Not with `learning_rate`.
        prior_learning_rate: Optional float: AdamW (weight decay 0.01) at this rate for the prior. Without it (and
            without `prior_optimizer`), `ImageGenerator.fit_prior`'s default.
        prior_optimizer: Optional prior optimizer, as `optimizer`. Not with `prior_learning_rate`.
        prior_batch_size: Optional integer: the prior's batch size (default `batch_size`).
        prior_jit_compile: `"auto"`, `True` or `False`: the prior's training step with XLA.
        anneal: Float in [0, 1]. In every phase the learning rate holds, then falls linearly to 0 over this last
            fraction of the phase's steps (`vqkeras.optimizers.StableDecaySchedule`). Defaults to `0` (constant).
        **vqvae_kwargs: `VQVAE` arguments (`num_embeddings`, `channel_multipliers`, ...).

    Returns:
        A trained `ImageGenerator`.
    """
    arguments = dict(locals())  # every argument goes to `_train` under its own name
    return _train(VQVAE, arguments.pop("vqvae_kwargs"), **arguments)


@_with_preset
def train_vqgan(dataset=None, image_size=None, channels=None, epochs=10, prior="transformer", prior_epochs=10,
                batch_size=32, learning_rate=None, prior_kwargs=None, dataset_name=None, seed=None, callbacks=None,
                verbose="auto", guide_fraction=None, optimizer=None, prior_learning_rate=None, prior_optimizer=None,
                prior_batch_size=None, prior_jit_compile="auto", anneal=0.0, split="train", augment=False,
                reconstruction_epochs=0, reconstruction_learning_rate=None, reconstruction_optimizer=None,
                backup_dir=None, **vqgan_kwargs):
    """Trains a `VQGAN` (Adam(β₁=0.5) for both players), then a prior on its tokens; returns the `ImageGenerator`.

    Arguments as `train_vqvae`, with `**vqgan_kwargs` going to `VQGAN` (e.g. `disc_start`, `perceptual_weight`,
    `diff_augment`), `optimizer` configuring both players, and:

    Args:
        dataset: As `train_vqvae`; may be omitted with a `preset` that names it.
        split: Split of a named source, e.g. `"train[:90%]"`. Defaults to `"train"`.
        augment: Boolean. Random horizontal flips for the tokenizer; the prior then trains on every image and its
            mirror image. Defaults to `False`.
        reconstruction_epochs: Integer ≥ 0. Epochs of a reconstruction-only first phase (a `VQVAE` of the same
            architecture, `L_rec + L_vq`), which `VQGAN.from_vqvae` then continues for `epochs` (taming's advice: a
            good autoencoder before the GAN, and the first phase is cheaper without the perceptual and adversarial
            passes). Defaults to `0` (one phase).
        reconstruction_learning_rate: Optional Adam rate of the first phase; or give `reconstruction_optimizer` (as
            `optimizer`). Without either, the first phase uses Adam at the second phase's rate.
        backup_dir: Optional directory: `BackupAndRestore` for each phase (`reconstruction/`, `tokenizer/`) and the
            finished first phase (`reconstruction.keras`), so rerunning the same call resumes an interrupted run.
        preset: Optional name of a preset with a recipe (`vqkeras.presets.get_recipe(name)`: the shipped generators
            `"fashion_mnist_28"` and `"orl_faces_64"`, or a `"recipe"` preset): it gives every argument not
            passed here.

    Example:

    >>> generator = vqkeras.train_vqgan(preset="orl_faces_64", backup_dir="/tmp/faces_backup")
    """
    arguments = dict(locals())  # every argument goes to `_train` under its own name
    return _train(VQGAN, arguments.pop("vqgan_kwargs"), default_optimizer=_adam(beta_1=0.5), **arguments)
