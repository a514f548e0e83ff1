"""Finite scalar quantization."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.quantizers.quantizer import UsageTrackingQuantizer
from vqkeras.utils.validation import check_int


def round_straight_through(x):
    """`round(x)` in the forward pass, identity gradient (the straight-through estimator)."""
    return x + tf.stop_gradient(tf.round(x) - x)


def floor_straight_through(x):
    """`floor(x)` in the forward pass, identity gradient."""
    return x + tf.stop_gradient(tf.floor(x) - x)


@keras.saving.register_keras_serializable(package="vqkeras")
class FSQ(UsageTrackingQuantizer):
    """Finite scalar quantization (Mentzer et al. 2023): each channel is bounded and rounded to a few levels.

    There is no codebook to learn: with `levels = [L_1, …, L_d]` the implicit codebook is the grid of `∏ L_i`
    points, all reachable, so usage cannot collapse. For a channel with `L` levels (`ε = 10⁻³`):

    - default bound (paper, App. A.1): `h = (L−1)(1+ε)/2`, `o = ½` if `L` is even else `0`,
      `b(z) = tanh(z + atanh(o/h))·h − o`, and `q = round(b(z)) / ⌊L/2⌋`: odd `L` gives `{−1, …, 1}` symmetric
      about 0, even `L` gives `⌊L/2⌋` levels below 0 and one fewer above (the offset);
    - `preserve_symmetry=True` (Zhang et al. 2024, sec. 3.2): `q = 2/(L−1)·⌊(L−1)(tanh(z)+1)/2 + ½⌋ − 1`, `L`
      levels evenly spaced in `[−1, 1]` for any `L` (needed for `L = 2`, which the default bound maps to one
      value); `hard_clamp=True` uses `clip(z, −1, 1)` in place of `tanh` (residual stages, whose inputs are
      already soft-clamped).

    Rounding passes gradients straight through (`q = b + sg(round(b) − b)`). Indices are mixed-radix numbers of the
    level indices `k_i ∈ [0, L_i)`, the first channel least significant: `index = Σ k_i·∏_{j<i} L_j`.

    With `embedding_dim != len(levels)`, dense projections map the inputs to `len(levels)` channels and the codes
    back. The bound, rounding and indices run in float32 whatever the compute dtype (in bfloat16, with 8 bits of
    mantissa, `tanh` values near ±1 round onto too few levels and codes are lost).

    FSQ adds no loss; `quantize_with_stats` reports an empty `losses` dict and `loss = 0`.

    Args:
        levels: List of integers ≥ 2. Levels per channel, e.g. `[8, 5, 5, 5]` (1000 codes).
        embedding_dim: Optional integer. Width of the inputs; defaults to `len(levels)` (no projections).
        preserve_symmetry: Boolean. Use the symmetry-preserving bound. Required when a level is 2.
        hard_clamp: Boolean. With `preserve_symmetry`, clamp instead of `tanh`. Defaults to `False`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(..., embedding_dim)`.
        training: Boolean. Only the usage diagnostics change in training.

    Returns:
        The quantized tensor, same shape as `inputs`, in the compute dtype.

    Example:

    >>> fsq = vqkeras.quantizers.FSQ([8, 5, 5, 5])
    >>> fsq.codebook_size
    1000
    >>> fsq.codes_to_indices(keras.random.normal((2, 7, 7, 4))).shape
    TensorShape([2, 7, 7])
    """

    def __init__(self, levels, embedding_dim=None, preserve_symmetry=False, hard_clamp=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(levels, (list, tuple)) or not levels:
            raise ValueError(f"levels must be a non-empty list of integers >= 2. Received: levels={levels!r}")
        for level in levels:
            if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 2:
                raise ValueError(f"levels must be a non-empty list of integers >= 2. Received: levels={levels!r}")
        if 2 in levels and not preserve_symmetry:
            raise ValueError(
                "A level of 2 needs preserve_symmetry=True (the default bound maps it to a single value). "
                f"Received: levels={list(levels)}, preserve_symmetry={preserve_symmetry}"
            )
        if hard_clamp and not preserve_symmetry:
            raise ValueError(f"hard_clamp needs preserve_symmetry=True. Received: hard_clamp={hard_clamp}, "
                             f"preserve_symmetry={preserve_symmetry}")
        self.levels = tuple(int(level) for level in levels)
        self.preserve_symmetry = bool(preserve_symmetry)
        self.hard_clamp = bool(hard_clamp)
        self.embedding_dim = check_int(
            "embedding_dim", len(self.levels) if embedding_dim is None else embedding_dim, minimum=1
        )
        self.num_embeddings = int(np.prod(self.levels))
        self._levels = np.array(self.levels, "float32")
        self._basis = np.cumprod((1,) + self.levels[:-1]).astype("int64")
        if self.num_embeddings > 2**31 - 1:
            raise ValueError(f"The product of levels must fit int32. Received: levels={list(self.levels)}")
        self._make_projections(len(self.levels))

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self._build_projections(input_shape)
        self._build_usage()

    # --------------------------------------------------------------- numerics
    def bound_and_round(self, z):
        """Float32 codes `q` in `[−1, 1]` of float32 `z` `(N, len(levels))`, straight-through gradient."""
        levels = self._levels
        if self.preserve_symmetry:
            squash = tf.clip_by_value(z, -1.0, 1.0) if self.hard_clamp else tf.tanh(z)
            bracket = floor_straight_through((levels - 1.0) * (squash + 1.0) / 2.0 + 0.5)
            return 2.0 / (levels - 1.0) * bracket - 1.0
        half_l = (levels - 1.0) * (1.0 + 1e-3) / 2.0
        offset = np.where(self._levels % 2 == 0, 0.5, 0.0).astype("float32")
        shift = np.arctanh(offset / half_l).astype("float32")
        bounded = tf.tanh(z + shift) * half_l - offset
        return round_straight_through(bounded) / np.floor(levels / 2.0)

    def _level_indices(self, codes):
        """Float32 level indices `k_i ∈ [0, L_i)` of codes in `[−1, 1]`."""
        if self.preserve_symmetry:
            return (codes + 1.0) * (self._levels - 1.0) / 2.0
        half_width = np.floor(self._levels / 2.0)
        return codes * half_width + half_width

    def _codes_of_level_indices(self, level_indices):
        if self.preserve_symmetry:
            return level_indices * (2.0 / (self._levels - 1.0)) - 1.0
        half_width = np.floor(self._levels / 2.0)
        return (level_indices - half_width) / half_width

    def indices_of_codes(self, codes):
        """Int32 indices `(N,)` of float32 codes `(N, len(levels))` on the grid."""
        level_indices = tf.cast(tf.round(self._level_indices(codes)), tf.int32)
        return tf.reduce_sum(level_indices * self._basis.astype("int32"), axis=-1)

    def codes_of_indices(self, indices):
        """Float32 codes `(*indices.shape, len(levels))` of int32 indices (no projection)."""
        level_indices = (indices[..., tf.newaxis] // self._basis.astype("int32")) % self._levels.astype("int32")
        return self._codes_of_level_indices(tf.cast(level_indices, "float32"))

    # ------------------------------------------------------------ public API
    def quantize_with_stats(self, inputs, training=False):
        """Quantizes `inputs`; returns a dict with `quantized`, `indices`, `loss` (0), `losses` (empty),
        `perplexity`, `codebook_usage`, `codebook_alive`."""
        inputs = self._prepare(inputs)
        batch_shape = tf.shape(inputs)[:-1]
        out = self.quantize_rows(self._to_inner(inputs), training)
        quantized = self._from_inner(out["quantized"], batch_shape)
        return {**out, "quantized": quantized, "indices": tf.reshape(out["indices"], batch_shape)}

    def quantize_rows(self, z, training=False, learn=True):
        """`quantize_with_stats` on float32 rows `z` `(N, len(levels))`: float32 rows out, flat indices."""
        codes = self.bound_and_round(z)
        indices = self.indices_of_codes(codes)
        return {
            "quantized": codes,
            "indices": indices,
            "loss": tf.constant(0.0),
            "losses": {},
            **self.usage_stats(indices, training and learn),
        }

    def codes_to_indices(self, inputs):
        inputs = self._prepare(inputs)
        indices = self.indices_of_codes(self.bound_and_round(self._to_inner(inputs)))
        return tf.reshape(indices, tf.shape(inputs)[:-1])

    def _indices_to_codes(self, indices):
        codes = self.codes_of_indices(tf.reshape(indices, (-1,)))
        return self._from_inner(codes, tf.shape(indices))

    def get_config(self):
        config = {
            "levels": list(self.levels),
            "embedding_dim": self.embedding_dim,
            "preserve_symmetry": self.preserve_symmetry,
            "hard_clamp": self.hard_clamp,
        }
        return {**super().get_config(), **config}
