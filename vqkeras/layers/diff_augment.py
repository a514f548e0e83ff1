"""Differentiable augmentation for a GAN discriminator (DiffAugment, Zhao et al. 2020)."""

import keras
import tensorflow as tf

POLICIES = ("color", "translation", "cutout")


def _check_ratio(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1]. Received: {name}={value!r}")
    return float(value)


def _parse_policy(policy):
    names = policy.split(",") if isinstance(policy, str) else policy
    if not isinstance(names, (list, tuple)):
        raise ValueError(
            f"policy must be a comma-separated string or a list of names from {POLICIES}. Received: policy={policy!r}"
        )
    names = [name.strip() if isinstance(name, str) else name for name in names]
    if not names or any(name not in POLICIES for name in names) or len(set(names)) != len(names):
        raise ValueError(
            f"policy must name each of {POLICIES} at most once, and at least one. Received: policy={policy!r}"
        )
    return tuple(names)


@keras.saving.register_keras_serializable(package="vqkeras")
class DiffAugment(keras.layers.Layer):
    """Differentiable augmentation (DiffAugment, Zhao et al. 2020) of the images a discriminator sees.

    A discriminator trained on a few hundred images memorises them; augmenting both the real and the generated
    images it sees, in both players' steps, keeps it from doing so without leaking the augmentation into the
    generator (the generator's loss goes through the same augmentation, so it has no reason to produce augmented
    images). Every transform is differentiable in the images, so the generator's gradients pass through it.

    Transforms, per image, in the order of `policy` (images in [-1, 1], shape `(batch, H, W, C)`):
    - `"color"`: brightness `x + b`, `b ~ U[−½, ½)`; saturation `(x − x̄_c)·s + x̄_c`, `s ~ U[0, 2)`, `x̄_c` the
      mean over channels (the identity on grayscale); contrast `(x − x̄)·c + x̄`, `c ~ U[½, 3/2)`, `x̄` the image
      mean;
    - `"translation"`: a shift by `(t_y, t_x)` pixels, each uniform in `[−r_t·H, r_t·H]` (`r_t =
      translation_ratio`, rounded), `out[i, j] = x[i + t_y, j + t_x]`, zero where that leaves the image;
    - `"cutout"`: zeroes a `round(r_c·H) × round(r_c·W)` box (`r_c = cutout_ratio`) centred at a uniform
      offset, `(o_y, o_x) ∈ [0, H + 1 − s_h mod 2) × [0, W + 1 − s_w mod 2)`, clipped to the image.

    Zero is mid-grey for [-1, 1] images, as in the authors' code. Each transform group applies to each image with
    probability `probability` (the authors apply all of them always, `1.0`; ADA, Karras et al. 2020, tunes a `p`):
    `probability=0` is the identity. Real and generated images get independent draws. The draws come from a
    `keras.random.SeedGenerator`; `sample_draws` and `augment` split the draw from the deterministic transform,
    so tests and callers can inject draws.

    Args:
        policy: Names from `("color", "translation", "cutout")`, a list or a comma-separated string. Defaults to
            all three.
        probability: Float in `[0, 1]`. Chance that each transform group applies to each image. Defaults to `1.0`.
        translation_ratio: Float in `(0, 1]`. Largest shift as a fraction of the side. Defaults to `0.125`.
        cutout_ratio: Float in `(0, 1]`. Side of the cut-out box as a fraction of the image's. Defaults to `0.5`.
        seed: Optional integer seed of the draws.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        images: Float images `(batch, H, W, C)`.
        training: Boolean. `False` returns `images` unchanged. Defaults to `True`: the layer exists to augment in
            a custom training step.

    Example:

    >>> augment = vqkeras.layers.DiffAugment(("color", "translation", "cutout"), seed=0)
    >>> real_logits = discriminator(augment(real))
    >>> fake_logits = discriminator(augment(fake))   # the same policy, fresh draws
    """

    def __init__(self, policy=POLICIES, probability=1.0, translation_ratio=0.125, cutout_ratio=0.5, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.policy = _parse_policy(policy)
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
            raise ValueError(f"probability must be a number in [0, 1]. Received: probability={probability!r}")
        self.probability = float(probability)
        self.translation_ratio = _check_ratio(translation_ratio, "translation_ratio")
        self.cutout_ratio = _check_ratio(cutout_ratio, "cutout_ratio")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="diff_augment_seed_generator")

    def _sizes(self, height, width):
        """(shift_h, shift_w, cutout_h, cutout_w) as int32 tensors: `int(side·ratio + 0.5)` as the authors round."""
        sides = tf.cast(tf.stack([height, width]), "float32")
        shifts = tf.cast(sides * self.translation_ratio + 0.5, "int32")
        boxes = tf.cast(sides * self.cutout_ratio + 0.5, "int32")
        return shifts[0], shifts[1], boxes[0], boxes[1]

    def sample_draws(self, shape):
        """Random draws for a batch of `shape = (batch, H, W, C)`: a dict of tensors for `augment`.

        Keys: `"brightness"`, `"saturation"`, `"contrast"` (float32 `(batch,)`, the values `b`, `s`, `c`) for
        `"color"`; `"translation"` (int32 `(batch, 2)`, `(t_y, t_x)`); `"cutout"` (int32 `(batch, 2)`, the box
        centre `(o_y, o_x)`); `"apply"` (bool `(batch, len(policy))`, whether each group applies to each image).
        """
        shape = tf.convert_to_tensor(shape, "int32")
        batch, height, width = shape[0], shape[1], shape[2]
        shift_h, shift_w, box_h, box_w = self._sizes(height, width)
        seed = self.seed_generator
        draws = {}

        def uniform(low, high):
            return keras.random.uniform(tf.stack([batch]), low, high, seed=seed)

        def integers(low, high):  # per image, int32 in [low, high), bounds as (2,) tensors
            u = keras.random.uniform(tf.stack([batch, 2]), 0.0, 1.0, seed=seed)
            span = tf.cast(high - low, "float32")
            return tf.minimum(tf.cast(tf.floor(u * span), "int32"), high - low - 1) + low

        if "color" in self.policy:
            draws["brightness"] = uniform(-0.5, 0.5)
            draws["saturation"] = uniform(0.0, 2.0)
            draws["contrast"] = uniform(0.5, 1.5)
        if "translation" in self.policy:
            draws["translation"] = integers(-tf.stack([shift_h, shift_w]), tf.stack([shift_h, shift_w]) + 1)
        if "cutout" in self.policy:
            draws["cutout"] = integers(tf.zeros(2, "int32"),
                                       tf.stack([height + 1 - box_h % 2, width + 1 - box_w % 2]))
        groups = tf.stack([batch, len(self.policy)])
        if self.probability >= 1:
            draws["apply"] = tf.ones(groups, "bool")
        else:
            draws["apply"] = keras.random.uniform(groups, 0.0, 1.0, seed=seed) < self.probability
        return draws

    def augment(self, images, draws):
        """The transforms of `policy` with the given draws (see `sample_draws`); deterministic."""
        x = images
        for index, name in enumerate(self.policy):
            augmented = getattr(self, f"_{name}")(x, draws)
            x = tf.where(tf.reshape(draws["apply"][:, index], (-1, 1, 1, 1)), augmented, x)
        return x

    def _color(self, x, draws):
        def factor(key):
            return tf.reshape(tf.cast(draws[key], x.dtype), (-1, 1, 1, 1))

        x = x + factor("brightness")
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        x = (x - mean) * factor("saturation") + mean
        mean = tf.reduce_mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * factor("contrast") + mean

    def _translation(self, x, draws):
        # A gather from the zero-padded image with clipped indices, as the authors do: differentiable in x.
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        shift = draws["translation"]
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        rows = tf.clip_by_value(tf.range(height)[None] + shift[:, :1] + 1, 0, height + 1)
        cols = tf.clip_by_value(tf.range(width)[None] + shift[:, 1:] + 1, 0, width + 1)
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(x, cols, axis=2, batch_dims=1)

    def _cutout(self, x, draws):
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        _, _, box_h, box_w = self._sizes(height, width)
        start = draws["cutout"] - tf.stack([box_h // 2, box_w // 2])[None]
        rows = tf.range(height)[None, :, None]
        cols = tf.range(width)[None, None, :]
        top, left = start[:, :1, None], start[:, 1:, None]
        inside = (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)
        return x * tf.cast(~inside, x.dtype)[..., None]

    def call(self, images, training=True):
        if not training:
            return images
        return self.augment(images, self.sample_draws(tf.shape(images)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "policy": list(self.policy),
            "probability": self.probability,
            "translation_ratio": self.translation_ratio,
            "cutout_ratio": self.cutout_ratio,
            "seed": self.seed,
        }
