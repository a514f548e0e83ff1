"""A tokenizer (VQ-VAE / VQ-GAN) and a token prior, saved together as one model."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras import samplers
from vqkeras.generator import restoration
from vqkeras.models.vq_backbone import VQBackbone
from vqkeras.models.vqvae import VQVAE
from vqkeras.presets.preset_loading import PresetLoading
from vqkeras.priors.guide_snapshot import GuideSnapshot
from vqkeras.priors.guide_snapshot import check_guide_fraction
from vqkeras.utils.compiled_calls import run_compiled
from vqkeras.utils.images import convert_images
from vqkeras.utils.keras_file_saving import KerasFileSaving
from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_int

# Substrings of dataset names whose images are faces (for `generate_face`).
FACE_DATASET_KEYS = ("face", "celeb", "ffhq", "lfw")


def check_jit_compile(jit_compile):
    """Raises `ValueError` unless `jit_compile` is `"auto"`, `True` or `False` (what `keras.Model.compile` takes)."""
    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(f'jit_compile must be "auto", True or False. Received: jit_compile={jit_compile!r}')


def default_prior_optimizer():
    """The optimizer `fit_prior` and `fit_guide` compile with when given none: AdamW(3e-4, weight decay 0.01)."""
    return keras.optimizers.AdamW(3e-4, weight_decay=0.01)


def is_face_dataset(name):
    """Whether a dataset name (e.g. `"orl_faces"`, `"tfds:celeb_a"`) denotes a face dataset."""
    return bool(name) and any(key in str(name).lower() for key in FACE_DATASET_KEYS)


@keras.saving.register_keras_serializable(package="vqkeras")
class ImageGenerator(PresetLoading, KerasFileSaving, keras.Model):
    """Generates images by sampling a token prior and decoding the tokens with a VQ tokenizer.

    `x ~ decode(t)`, `t ~ p_prior(t | c)`, on the tokenizer's `(H/f)×(W/f)` grid of codes.

    Args:
        tokenizer: A `VQVAE` or `VQGAN` (or its serialized config).
        prior: A `vqkeras.priors` model whose `num_embeddings` and `grid_shape` match the tokenizer.
        image_channels: Optional integer; defaults to the tokenizer's.
        dataset_name: Optional string naming the training data (e.g. `"orl_faces"`); `generate_face` needs a face
            dataset.
        prior_trained: Boolean. Whether the prior has been trained (set by `fit_prior`; kept in the config).
        guide: Optional weaker autoregressive prior for guided sampling (`generate(..., guidance_scale=w)`), usually
            an early copy of `prior` taken by `fit_prior(guide_at_step=...)`; saved with the generator.
        **kwargs: Base model arguments.

    Call arguments:
        images: Float images in [-1, 1]; returns the tokenizer's reconstructions.

    Example:

    >>> generator = vqkeras.models.ImageGenerator(vqvae, vqkeras.priors.TransformerPrior(512, (8, 8)))
    >>> generator.fit_prior(images, epochs=20)
    >>> samples = generator.generate(16, temperature=0.9, top_k=100, seed=0)   # (16, 64, 64, C) in [-1, 1]
    >>> generator.fit_prior(images, epochs=20, guide_at_step=500)               # keeps the prior of step 500
    >>> sharper = generator.generate(16, guidance_scale=1.0, seed=0)            # guided by that early prior
    >>> looks = generator.generate_image(style_image, strength=0.5, num_images=4, seed=0)
    """

    def __init__(self, tokenizer, prior, dataset_name=None, prior_trained=False, guide=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if isinstance(prior, dict):
            prior = keras.saving.deserialize_keras_object(prior)
        if isinstance(guide, dict):
            guide = keras.saving.deserialize_keras_object(guide)
        for name, obj, needed in (("tokenizer", tokenizer, "encode"), ("prior", prior, "sample")):
            if not hasattr(obj, needed):
                raise ValueError(f"{name} must be a vqkeras {name} model. Received: {name}={obj!r}")
        self.grid_shape = tuple(int(s) for s in prior.grid_shape)
        prior.check_compatible(tokenizer.num_embeddings, self.grid_shape)
        self.tokenizer = tokenizer
        self.prior = prior
        self.dataset_name = dataset_name
        self.prior_trained = check_bool("prior_trained", prior_trained)
        self.set_guide(guide)
        f = tokenizer.downsample_factor
        self.depth = int(np.prod(getattr(tokenizer, "index_shape", ())))
        if self.grid_shape[1] % self.depth:
            raise ValueError(
                f"A residual tokenizer of depth {self.depth} needs a prior grid (h, w·depth). Received: prior with "
                f"grid_shape={self.grid_shape}"
            )
        self.image_shape = (self.grid_shape[0] * f, self.grid_shape[1] // self.depth * f, tokenizer.image_channels)
        self.build()

    @property
    def num_embeddings(self):
        return self.tokenizer.num_embeddings

    def build(self, input_shape=None):
        """Builds the tokenizer for this generator's image shape (the prior builds itself)."""
        if not self.tokenizer.built:
            self.tokenizer.build((None, *self.image_shape))

    def call(self, images, training=None):
        return self.tokenizer(images, training=training)

    # ------------------------------------------------------------------ inputs
    def prepare_images(self, images, argument="images"):
        """Float32 `(n, H, W, C)` images in [-1, 1] at this generator's size.

        Accepts one image `(H, W, C)` or a batch. The range follows the dtype, one rule for every method
        (`vqkeras.utils.images.convert_images`): integer images (uint8) are in [0, 255] and are converted; float
        images must already be in [-1, 1] (convert [0, 1] floats with `vqkeras.utils.to_model_range`). Nothing is
        guessed from the values, so a bright [-1, 1] image is never rescaled. Other sizes are centre-cropped and
        resized by the one kernel (bilinear, antialiased). Raises `ValueError` naming `argument` on a channel
        mismatch, NaN/Inf or a float outside [-1, 1].
        """
        height, width, channels = self.image_shape
        return convert_images(images, (height, width), channels, argument, integer_pixels=True)

    def to_prior_tokens(self, indices):
        """The prior's token grid `(n, h, w·depth)` of tokenizer indices `(n, h, w, depth)` (depth innermost in the
        raster order); unchanged for a tokenizer with one index per position."""
        if self.depth == 1:
            return indices
        shape = tf.shape(indices)
        return tf.reshape(indices, tf.stack([shape[0], shape[1], shape[2] * self.depth]))

    def to_tokenizer_indices(self, tokens):
        """The inverse of `to_prior_tokens`."""
        if self.depth == 1:
            return tokens
        shape = tf.shape(tokens)
        return tf.reshape(tokens, tf.stack([shape[0], shape[1], shape[2] // self.depth, self.depth]))

    @property
    def cell_grid_shape(self):
        """`(h, w)`: the image's grid of `f×f` pixel cells. Each cell has one token, or `depth` (its residual levels,
        adjacent in the prior's grid `(h, w·depth)`) for a residual tokenizer."""
        return (self.grid_shape[0], self.grid_shape[1] // self.depth)

    def cell_positions(self, cells):
        """Boolean NumPy `(n, h, w·depth)`: the positions in the prior's grid of the marked image cells `(n, h, w)`,
        all `depth` levels of each marked cell (`cells` itself for a tokenizer with one index per position)."""
        cells = np.asarray(cells, bool)
        return cells if self.depth == 1 else np.repeat(cells, self.depth, axis=2)

    def encode(self, images):
        """Int32 token grids `(n, h, w)` of images (uint8, or floats in [-1, 1]: see `prepare_images`); `(n, h, w·depth)`,
        the prior's layout, for a residual tokenizer. Runs as a graph after the checks, like `VQVAE.encode`."""
        return self.to_prior_tokens(self.tokenizer.encode(self.prepare_images(images)))

    def decode(self, tokens):
        """Images in [-1, 1] from token grids in the prior's layout (as `encode` and `generate_tokens` give). Checks
        `tokens` eagerly (`VQVAE.checked_indices`), then runs as one graph per generator
        (`vqkeras.utils.compiled_calls`)."""
        tokens = tf.convert_to_tensor(tokens)
        if self.depth != 1 and tokens.shape.rank != 3:
            raise ValueError(f"tokens must have shape (n, h, w·depth) with depth={self.depth}. Received: "
                             f"tokens.shape={tokens.shape}")
        indices = self.tokenizer.checked_indices(self.to_tokenizer_indices(tokens))
        return run_compiled(self, "decode", self.decode_checked, indices)

    def decode_checked(self, indices):
        """`decode` without the checks: the graph that `decode` runs, on the tokenizer's indices."""
        return tf.clip_by_value(self.tokenizer.decode_checked(indices), -1.0, 1.0)

    # ---------------------------------------------------------------- training
    def encode_dataset(self, images, batch_size=64):
        """Token grids for every image of a `tf.data.Dataset` (of images or `(images, ...)`) or array, as NumPy.

        Images are converted as `prepare_images` does: uint8 from [0, 255], floats checked to be in [-1, 1]."""
        if not isinstance(images, tf.data.Dataset):
            array = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
            if array.ndim == 4 and array.shape[0] == 0:
                raise ValueError(f"images is empty. Received: images.shape={array.shape}")
            images = tf.data.Dataset.from_tensor_slices(self.prepare_images(array)).batch(batch_size)
        batches = (keras.utils.unpack_x_y_sample_weight(batch)[0] for batch in images)
        tokens = [self.to_prior_tokens(self.tokenizer.encode(self.prepare_images(batch))).numpy() for batch in batches]
        if not tokens:
            raise ValueError("images is empty. Received: a dataset with no batches")
        return np.concatenate(tokens)

    def fit_prior(self, images, epochs=10, batch_size=32, optimizer=None, guide_at_step=None, guide_fraction=None,
                  jit_compile="auto", **fit_kwargs):
        """Encodes `images` with the (frozen) tokenizer and trains the prior on the token grids with `fit`.

        Args:
            images: `tf.data.Dataset` or array of images: uint8, or floats in [-1, 1] (see `prepare_images`).
            epochs: Integer ≥ 1.
            batch_size: Integer ≥ 1, batch size of the prior.
            optimizer: Optional optimizer; defaults to AdamW(3e-4) if the prior is not compiled.
            guide_at_step: Optional integer ≥ 1. Keep a copy of the prior after this many training steps as the
                generator's `guide` (`vqkeras.priors.GuideSnapshot`), for `generate(..., guidance_scale=w)`.
            guide_fraction: Optional float in `(0, 1)`: the same, at this fraction of the run's steps (rounded, at
                least step 1). An early, weak copy (a tenth of the steps or less) guides best.
            jit_compile: `"auto"` (Keras' choice: XLA on accelerators only), `True` or `False`. XLA fuses the
                priors' many small ops, so it trains them faster on a CPU too. Anything but `"auto"` recompiles a
                compiled prior, keeping its optimizer.
            **fit_kwargs: Passed to the prior's `fit` (`callbacks`, `verbose`, ...).

        Returns:
            The prior's `History`.
        """
        if guide_at_step is not None and guide_fraction is not None:
            raise ValueError(f"Give guide_at_step or guide_fraction, not both. Received: guide_at_step={guide_at_step}"
                             f", guide_fraction={guide_fraction}")
        check_guide_fraction(guide_fraction)
        check_jit_compile(jit_compile)
        epochs = check_int("epochs", epochs, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        snapshot = None if guide_at_step is None else GuideSnapshot(guide_at_step)  # validates before any work
        tokens = self.encode_dataset(images)
        steps = epochs * -(-len(tokens) // batch_size)
        if guide_fraction is not None:
            snapshot = GuideSnapshot(max(1, round(guide_fraction * steps)))
        if snapshot is not None:
            if snapshot.at_step > steps:
                raise ValueError(f"guide_at_step must be ≤ the run's {steps} training steps ({epochs} epochs of "
                                 f"{len(tokens)} grids at batch {batch_size}). Received: guide_at_step={guide_at_step}")
            fit_kwargs["callbacks"] = [*fit_kwargs.get("callbacks", []), snapshot]
        if optimizer is not None or not self.prior.compiled or jit_compile != "auto":
            optimizer = optimizer or (self.prior.optimizer if self.prior.compiled else None)
            self.prior.compile(optimizer=optimizer or default_prior_optimizer(), jit_compile=jit_compile)
        steps_before = int(self.prior.optimizer.iterations)
        history = self.prior.fit(tokens, epochs=epochs, batch_size=batch_size, **fit_kwargs)
        # Trained only if an optimizer step ran (`fit` with e.g. `initial_epoch >= epochs` runs none).
        self.prior_trained = self.prior_trained or int(self.prior.optimizer.iterations) > steps_before
        if snapshot is not None:
            self.set_guide(snapshot.guide)
        return history

    def set_guide(self, guide):
        """Sets (or, with `None`, removes) the weaker prior that `generate(..., guidance_scale=w)` is guided by.

        Raises `ValueError` unless `guide` is an autoregressive prior with the prior's `K`, grid and classes.
        """
        if guide is not None:
            self.prior.check_guide(guide)
            guide.trainable = False
        # Not tracked as a sub-layer (Keras locks a built model's layer list, and the guide may be set or replaced
        # after building); `.keras` saving still finds it by attribute name and saves and restores its weights.
        object.__setattr__(self, "guide", guide)

    def fit_guide(self, images, steps, batch_size=32, optimizer=None, seed=0, jit_compile="auto", **fit_kwargs):
        """Trains a guide for a generator whose prior finished training without one, and sets it as `guide`.

        Guidance wants the same model trained less (autoguidance). `fit_prior(guide_fraction=f)` keeps such a copy
        during the prior's own run; after the run, this trains one: a fresh prior of the prior's class and config
        (new weights), for `steps` steps on the token grids of `images`. About a twentieth to a tenth of the prior's
        own steps gives a guide as weak as the early copies that guide best.

        Args:
            images: `tf.data.Dataset` or array of float images in [-1, 1] (the prior's training images).
            steps: Integer ≥ 1, the guide's training steps.
            batch_size: Integer, batch size of the guide.
            optimizer: Optional optimizer; defaults to AdamW(3e-4), `fit_prior`'s default.
            seed: Integer, seed of the shuffle.
            jit_compile: `"auto"`, `True` or `False`: the guide's training step with XLA (as in `fit_prior`).
            **fit_kwargs: Passed to the guide's `fit` (`callbacks`, `verbose`, ...).

        Returns:
            The guide's `History`.
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be an integer ≥ 1. Received: steps={steps!r}")
        check_jit_compile(jit_compile)
        self._check_prior_trained()
        config = {**self.prior.get_config(), "name": f"{self.prior.name}_guide", "trainable": True}  # even if frozen
        guide = type(self.prior).from_config(config)
        self.prior.check_guide(guide)  # refuses bidirectional priors before any work
        tokens = self.encode_dataset(images)
        data = (tf.data.Dataset.from_tensor_slices(tokens).shuffle(len(tokens), seed=seed).repeat()
                .batch(batch_size).prefetch(tf.data.AUTOTUNE))
        guide.compile(optimizer=optimizer or default_prior_optimizer(), jit_compile=jit_compile)
        history = guide.fit(data, epochs=1, steps_per_epoch=int(steps), shuffle=False, **fit_kwargs)  # shuffled
        self.set_guide(guide.snapshot(name=guide.name))  # frozen and uncompiled, like `fit_prior`'s copies
        return history

    # --------------------------------------------------------------- sampling
    def _check_prior_trained(self):
        if not self.prior_trained:
            raise ValueError(
                "The prior has not been trained: call generator.fit_prior(images) first (or pass "
                "prior_trained=True for a prior trained elsewhere). Received: prior_trained=False"
            )

    def generate_tokens(self, num_images, sampler=None, *, seed=None, labels=None, **kwargs):
        """Samples `(num_images, h, w)` token grids from the prior (see `BasePrior.sample`); with a `guidance_scale`,
        guided by the generator's `guide`.

        Args:
            num_images: Integer ≥ 1.
            sampler: Optional `vqkeras.samplers.Sampler`, or its fields (`temperature`, `top_k`, `top_p`,
                `guidance_scale`) as keywords.
            seed: Optional integer; the same seed gives the same tokens (and the SavedModel's `generate` signature
                gives them too).
            labels: Class labels `(num_images,)` for a class-conditioned prior.
            **kwargs: The prior's other sampling arguments (`constraints` or its fields, a MaskGIT prior's `steps`).
        """
        self._check_prior_trained()
        sampler_options = {k: kwargs.pop(k) for k in samplers.SAMPLER_OPTIONS if k in kwargs}
        sampler = samplers.build_sampler(sampler, **sampler_options)
        if sampler.guidance_scale is not None:
            if self.guide is None:
                raise ValueError(
                    "guidance_scale needs a guide: train with fit_prior(..., guide_at_step=n) or call "
                    f"set_guide(prior). Received: guidance_scale={sampler.guidance_scale}, guide=None"
                )
            kwargs["guide"] = self.guide
        return self.prior.sample(num_images, sampler, seed=seed, labels=labels, **kwargs)

    def generate(self, num_images, sampler=None, *, seed=None, labels=None, **kwargs):
        """New images `(num_images, H, W, C)` in [-1, 1]: prior samples decoded by the tokenizer.

        Takes the arguments of `generate_tokens`. The same `seed` gives the same images. `guidance_scale=w` samples
        from `∝ p · (p / q)^w`, with `p` the prior and `q` the generator's `guide` (see `BasePrior.sample`); it needs a
        guide.
        """
        return self.decode(self.generate_tokens(num_images, sampler, seed=seed, labels=labels, **kwargs))

    def generate_face(self, num_images=1, seed=None, **kwargs):
        """New faces from a generator trained on faces (the name older tutorials use); see `generate`.

        Raises:
            ValueError: if the training data was not marked as faces (`dataset_name`).
        """
        if not is_face_dataset(self.dataset_name):
            raise ValueError(
                "generate_face() needs a generator trained on faces (dataset_name like 'orl_faces' or "
                f"'tfds:celeb_a'); use generate() for other data. Received: dataset_name={self.dataset_name!r}"
            )
        return self.generate(num_images, seed=seed, **kwargs)

    # ------------------------------------------------------ partial re-sampling
    def generate_image(self, style_image, strength=0.5, num_images=1, sampler=None, **kwargs):
        """New images that share the look of `style_image` without copying it: `restoration.generate_image`."""
        return restoration.generate_image(self, style_image, strength, num_images, sampler, **kwargs)

    def inpaint(self, images, mask, sampler=None, **kwargs):
        """Fills in the masked region of images and keeps every other pixel exactly: `restoration.inpaint`."""
        return restoration.inpaint(self, images, mask, sampler, **kwargs)

    def upscale(self, images, factor, strength=0.3, sampler=None, **kwargs):
        """Super-resolution by `factor`, re-sampling the tokens the prior doubts: `restoration.upscale`."""
        return restoration.upscale(self, images, factor, strength, sampler, **kwargs)

    def masked_cells(self, mask):
        """Boolean `(n, h, w)`: the image cells (`f×f` pixel patches) that overlap `mask > 0`
        (`restoration.masked_cells`)."""
        return restoration.masked_cells(self, mask)

    # ------------------------------------------------------------------ config
    def to_inference(self):
        """A copy for shipping and serving: the same sampling, without any training state.

        The tokenizer becomes a plain `VQVAE` holding the trained encoder, quantizer and decoder (a `VQGAN`'s
        discriminator is dropped), and neither model keeps optimizer variables, so the `.keras` file holds only what
        `generate`, `generate_image`, `inpaint` and `upscale` use (about a third of a training checkpoint).
        """
        tokenizer = self.tokenizer
        backbone = VQBackbone.from_config(tokenizer.backbone.get_config())
        backbone.build((None, *self.image_shape))
        backbone.set_weights(tokenizer.backbone.get_weights())
        clean_tokenizer = VQVAE(backbone=backbone, reconstruction_loss=tokenizer.reconstruction_loss,
                                code_regularizer=tokenizer.code_regularizer, name=tokenizer.name)
        clean_prior = self.prior.snapshot(name=self.prior.name)
        clean_prior.trainable = True
        guide = None if self.guide is None else self.guide.snapshot(name=self.guide.name)
        return type(self)(clean_tokenizer, clean_prior, dataset_name=self.dataset_name,
                          prior_trained=self.prior_trained, guide=guide, name=self.name)

    def get_config(self):
        config = {
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "prior": keras.saving.serialize_keras_object(self.prior),
            "dataset_name": self.dataset_name,
            "prior_trained": self.prior_trained,
            "guide": None if self.guide is None else keras.saving.serialize_keras_object(self.guide),
        }
        return {**super().get_config(), **config}
