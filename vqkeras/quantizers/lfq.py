"""Lookup-free quantization (and binary spherical quantization)."""

import math

import keras
import numpy as np
import tensorflow as tf

from vqkeras.quantizers.quantizer import UsageTrackingQuantizer
from vqkeras.quantizers.quantizer import all_reduce_sum
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

MAX_BITS = 30  # indices are int32


def clamped_entropy(probs, axis=-1):
    """`−Σ p log max(p, 10⁻⁵)` (nats): the clamp keeps `log 0` finite, as vector-quantize-pytorch does."""
    return -tf.reduce_sum(probs * tf.math.log(tf.maximum(probs, 1e-5)), axis=axis)


def _bit_table(bits):
    """`(2^bits, bits)` float32 table of the bits of `0 … 2^bits − 1`, most significant first."""
    codes = np.arange(2**bits)[:, None]
    return ((codes >> np.arange(bits - 1, -1, -1)) & 1).astype("float32")


@keras.saving.register_keras_serializable(package="vqkeras")
class LFQ(UsageTrackingQuantizer):
    """Lookup-free quantization (MAGVIT-v2, Yu et al. 2023); `spherical=True` is BSQ (Zhao et al. 2024).

    Each of `d = num_bits` channels is quantized to its sign, so the implicit codebook is `{−s, s}^d` with
    `2^d` codes (`s = codebook_scale`) and no lookup: `q = s·sign(x)` and `index = Σ_i [x_i > 0]·2^{d−1−i}` (the
    first channel is the most significant bit). With `spherical=True`, inputs and codes are l2-normalised and
    scaled, `x ← s·x/‖x‖`, `q ← s·sign(x)/√d`, so every code lies on the sphere of radius `s`. Gradients pass
    straight through (`x + sg(q − x)`).

    **Entropy loss** (MAGVIT-v2 eq. 5). Each input gets a distribution over the codes,
    `p(c | x) = softmax_c(2τ·x·c)` (`τ = inverse_temperature`; `−2x·c` is the squared distance up to terms
    constant in `c`), and the loss is

    `L_entropy = w_e·(mean_n H(p(·|x_n)) − γ·H(p̄))`, `p̄ = mean_n p(·|x_n)`,

    low per-sample entropy (confident codes) and high entropy of the batch mean (all codes used). `p̄` is the mean
    over the global batch under `tf.distribute` (the sums are all-reduced), so `R` replicas compute what one device
    computes on the global batch.

    *Memory bound.* The `2^d` logits are linear in the bits, so `p(·|x)` factorises into independent groups of
    bits. The channels are split into `G = ⌈d / entropy_group_bits⌉` contiguous groups of near-equal size `g_j`,
    and each group's `2^{g_j}`-way distribution is computed: `N·Σ_j 2^{g_j} ≤ N·G·2^{⌈d/G⌉}` float32 values
    for `N` inputs, instead of `N·2^d`. The per-sample term `Σ_j H(p_j)` equals `H(p)` exactly (up to the `10⁻⁵`
    clamp inside the log). The batch term `Σ_j H(p̄_j)` is the sum of the groups' marginal entropies, an upper
    bound of `H(p̄)` (subadditivity), equal with one group (`num_bits ≤ entropy_group_bits`) or when the groups are
    independent in the batch mean.

    **Commitment loss**: `L_commit = w_c·mean‖x − sg(q)‖²`. Both losses are computed in training and in
    evaluation (vector-quantize-pytorch returns 0 outside training).

    With `embedding_dim != num_bits`, dense projections map the inputs to `num_bits` channels and back. All of it
    runs in float32 whatever the compute dtype.

    Args:
        num_bits: Integer in `[1, 30]`. `d`; the codebook has `2^d` codes.
        embedding_dim: Optional integer. Width of the inputs; defaults to `num_bits` (no projections).
        entropy_weight: Float ≥ 0. `w_e`. Defaults to `0.1`.
        commitment_weight: Float ≥ 0. `w_c`. Defaults to `0.25`.
        diversity_gamma: Float ≥ 0. `γ`. Defaults to `1.0`.
        inverse_temperature: Float > 0. `τ`. Defaults to `100.0`.
        spherical: Boolean. BSQ: quantize on the sphere. Defaults to `False`.
        codebook_scale: Float > 0. `s`. Defaults to `1.0`.
        entropy_group_bits: Integer ≥ 1. Largest group of bits whose joint distribution is formed (see the
            memory bound). Defaults to `10`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(..., embedding_dim)`.
        training: Boolean. Only the usage diagnostics change in training.

    Returns:
        The quantized tensor, same shape as `inputs`; `L_entropy + L_commit` is added with `add_loss`.

    Example:

    >>> lfq = vqkeras.quantizers.LFQ(num_bits=10, embedding_dim=16)
    >>> lfq(keras.random.normal((2, 7, 7, 16))).shape
    (2, 7, 7, 16)
    """

    def __init__(self, num_bits, embedding_dim=None, entropy_weight=0.1, commitment_weight=0.25, diversity_gamma=1.0,
                 inverse_temperature=100.0, spherical=False, codebook_scale=1.0, entropy_group_bits=10, **kwargs):
        super().__init__(**kwargs)
        self.num_bits = check_int("num_bits", num_bits, minimum=1)
        if self.num_bits > MAX_BITS:
            raise ValueError(f"num_bits must be at most {MAX_BITS} (int32 indices). Received: num_bits={num_bits}")
        self.embedding_dim = check_int(
            "embedding_dim", num_bits if embedding_dim is None else embedding_dim, minimum=1)
        self.entropy_weight = check_float("entropy_weight", entropy_weight, minimum=0)
        self.commitment_weight = check_float("commitment_weight", commitment_weight, minimum=0)
        self.diversity_gamma = check_float("diversity_gamma", diversity_gamma, minimum=0)
        self.inverse_temperature = check_float("inverse_temperature", inverse_temperature, minimum=0,
                                               exclusive_minimum=True)
        self.codebook_scale = check_float("codebook_scale", codebook_scale, minimum=0, exclusive_minimum=True)
        self.entropy_group_bits = check_int("entropy_group_bits", entropy_group_bits, minimum=1)
        self.spherical = bool(spherical)
        self.num_embeddings = 2**self.num_bits
        groups = -(-self.num_bits // self.entropy_group_bits)
        self.group_sizes = tuple(len(g) for g in np.array_split(np.arange(self.num_bits), groups))
        self._make_projections(self.num_bits)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self._build_projections(input_shape)
        self._build_usage()

    # --------------------------------------------------------------- numerics
    @property
    def code_value(self):
        """Float. The magnitude of every code channel: `s`, or `s/√d` on the sphere."""
        return self.codebook_scale / math.sqrt(self.num_bits) if self.spherical else self.codebook_scale

    def _inner_inputs(self, inputs):
        x = self._to_inner(inputs)
        if self.spherical:
            x = self.codebook_scale * tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)
        return x

    def _indices_of_signs(self, x):
        weights = (2 ** np.arange(self.num_bits - 1, -1, -1)).astype("int32")
        return tf.reduce_sum(tf.cast(x > 0, tf.int32) * weights, axis=-1)

    def group_probabilities(self, x):
        """List of float32 `(N, 2^{g_j})` code distributions `softmax(2τ·x_j·c)`, one per group of bits."""
        probs, start = [], 0
        for size in self.group_sizes:
            codes = (2.0 * _bit_table(size) - 1.0) * self.code_value
            logits = 2.0 * self.inverse_temperature * tf.matmul(x[:, start:start + size], codes, transpose_b=True)
            probs.append(tf.nn.softmax(logits, axis=-1))
            start += size
        return probs

    def entropy_terms(self, x):
        """`(mean_n H(p(·|x_n)), Σ_j H(p̄_j))` in nats for float32 rows `x` `(N, num_bits)`; `p̄` over the global
        batch."""
        count = all_reduce_sum(tf.cast(tf.shape(x)[0], "float32"))
        per_sample, batch = 0.0, 0.0
        for probs in self.group_probabilities(x):
            per_sample += tf.reduce_mean(clamped_entropy(probs))
            batch += clamped_entropy(all_reduce_sum(tf.reduce_sum(probs, axis=0)) / count)
        return per_sample, batch

    # ------------------------------------------------------------ public API
    def quantize_with_stats(self, inputs, training=False):
        """Quantizes `inputs`; returns a dict with `quantized`, `indices`, `loss`, `losses` (`entropy_loss`,
        `commitment_loss`, weighted), `per_sample_entropy`, `batch_entropy`, `perplexity`, `codebook_usage`,
        `codebook_alive`."""
        inputs = self._prepare(inputs)
        batch_shape = tf.shape(inputs)[:-1]
        x = self._inner_inputs(inputs)
        q = tf.where(x > 0, self.code_value, -self.code_value)
        indices = self._indices_of_signs(x)
        per_sample, batch = self.entropy_terms(x)
        losses = {
            "entropy_loss": self.entropy_weight * (per_sample - self.diversity_gamma * batch),
            "commitment_loss": self.commitment_weight * tf.reduce_mean(tf.square(x - tf.stop_gradient(q))),
        }
        quantized = x + tf.stop_gradient(q - x)  # straight through
        return {
            "quantized": self._from_inner(quantized, batch_shape),
            "indices": tf.reshape(indices, batch_shape),
            "loss": tf.add_n(list(losses.values())),
            "losses": losses,
            "per_sample_entropy": per_sample,
            "batch_entropy": batch,
            **self.usage_stats(indices, training),
        }

    def codes_to_indices(self, inputs):
        inputs = self._prepare(inputs)
        return tf.reshape(self._indices_of_signs(self._to_inner(inputs)), tf.shape(inputs)[:-1])

    def _indices_to_codes(self, indices):
        flat = tf.reshape(indices, (-1, 1))
        bits = tf.cast(tf.bitwise.bitwise_and(flat, (2 ** np.arange(self.num_bits - 1, -1, -1)).astype("int32")) > 0,
                       "float32")
        return self._from_inner((2.0 * bits - 1.0) * self.code_value, tf.shape(indices))

    def get_config(self):
        config = {
            "num_bits": self.num_bits,
            "embedding_dim": self.embedding_dim,
            "entropy_weight": self.entropy_weight,
            "commitment_weight": self.commitment_weight,
            "diversity_gamma": self.diversity_gamma,
            "inverse_temperature": self.inverse_temperature,
            "spherical": self.spherical,
            "codebook_scale": self.codebook_scale,
            "entropy_group_bits": self.entropy_group_bits,
        }
        return {**super().get_config(), **config}
