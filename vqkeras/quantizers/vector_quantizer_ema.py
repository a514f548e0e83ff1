"""Vector quantizer whose codebook is learned by exponential moving averages."""

import keras
import tensorflow as tf

from vqkeras.quantizers.base_quantizer import BaseQuantizer
from vqkeras.utils.validation import check_float


@keras.saving.register_keras_serializable(package="vqkeras")
class VectorQuantizerEMA(BaseQuantizer):
    """Vector quantizer with an EMA-learned codebook (van den Oord et al. 2017, Appendix A.1).

    Each input vector `z` is snapped to its nearest code `e_k`, `k = argmin_j ‖z − e_j‖²`. The codebook is not
    trained by gradients: on every training step, with `n_k` the number of vectors assigned to code `k` and
    `Σz_k` their sum,

    - `N ← γ·N + (1−γ)·n` (EMA cluster sizes),
    - `m ← γ·m + (1−γ)·Σz` (EMA embedding sums),
    - `Ñ = (N + ε) / (ΣN + K·ε) · ΣN` (Laplace smoothing; `N` itself keeps the unsmoothed counts),
    - `e = m / Ñ`.

    The state starts consistent with the initial codebook, `N = 1` and `m = e`, so a code that no batch uses decays
    slowly in place instead of collapsing to zero or blowing up. The encoder is pulled towards its codes by the
    commitment loss `β·‖z − sg(e)‖²` (eq. 3 without the codebook term, which the EMA replaces). Gradients reach the
    encoder through the straight-through estimator `q = z + sg(e − z)`.

    Dead-code restart (on by default): after the update, every code whose EMA count `N_k` is below
    `dead_code_threshold` is replaced by a random vector of the current batch (the global batch under
    `tf.distribute`), and its state is reset consistently: `N_k = threshold`, `m_k = e_k·threshold`.

    Counts and sums are all-reduced (SUM) across replicas before the update, so every replica computes the codebook
    one device would compute on the global batch. All quantizer maths and state are float32 under any dtype
    policy; the output has the input's dtype.

    Args:
        num_embeddings: Integer. Size of the codebook, `K ≥ 2`.
        embedding_dim: Integer. Size of the input vectors (last axis of the inputs).
        commitment_cost: Float. `β`, the weight of the commitment loss. Defaults to `0.25`.
        decay: Float in `[0, 1)`. `γ`, the EMA decay: the codebook follows the encoder within about `1/(1 − γ)`
            steps. Defaults to `0.99` (van den Oord et al., Sonnet). A smaller `γ` follows a fast-moving encoder
            more closely early in training; the advantage fades as the encoder settles.
        epsilon: Float > 0. `ε`, the Laplace smoothing constant. Defaults to `1e-5`.
        dead_code_threshold: Float ≥ 0. Codes whose EMA count falls below it are restarted; `0` disables
            restarts. Defaults to `0.1` (a code used less than once every ten batches).
        codebook_dim, l2_normalize, embeddings_initializer, max_distance_elements, seed, kmeans_init,
            kmeans_iters: The lookup options, documented in `BaseQuantizer`; keyword only.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(..., embedding_dim)`.
        training: Boolean. Only when true are the codebook, the EMA state and the codebook metrics updated.

    Returns:
        The quantized tensor, same shape and dtype as `inputs`. The commitment loss is added with `add_loss`.
        `quantize_with_stats()` returns the indices, loss and diagnostics as a dict.

    Example:

    >>> vq = vqkeras.layers.VectorQuantizerEMA(num_embeddings=512, embedding_dim=64)
    >>> z = keras.random.normal((8, 16, 16, 64))
    >>> vq(z).shape
    (8, 16, 16, 64)
    >>> vq.get_code_indices(z).shape
    TensorShape([8, 16, 16])
    """

    def __init__(self, num_embeddings, embedding_dim, commitment_cost=0.25, decay=0.99, epsilon=1e-5,
                 dead_code_threshold=0.1, **kwargs):
        # The other options (`codebook_dim` ... `kmeans_iters`, see above) go to `BaseQuantizer` as keywords.
        super().__init__(num_embeddings, embedding_dim, commitment_cost, decay, dead_code_threshold, **kwargs)
        self.epsilon = check_float("epsilon", epsilon, minimum=0, exclusive_minimum=True)

    def _build_codebook(self):
        shape = (self.num_embeddings, self.lookup_dim)
        self.embeddings = self._add_float32_weight("embeddings", shape, self.embeddings_initializer)
        self.ema_cluster_size = self._add_float32_weight("ema_cluster_size", (self.num_embeddings,), "ones")
        # m = e·N with N = 1: the EMA sums start consistent with the codebook.
        self.ema_embed_sum = self._add_float32_weight(
            "ema_embed_sum", shape, lambda shape, dtype=None: keras.ops.convert_to_tensor(self.embeddings.value)
        )

    def _codebook_values(self):
        return self.embeddings.value

    def _usage_counts(self):
        return self.ema_cluster_size.value

    def _quantizer_losses(self, z, e):
        commitment_loss = tf.reduce_mean(tf.square(z - tf.stop_gradient(e)))
        return {"commitment_loss": self.commitment_cost * commitment_loss}

    def _update_codebook(self, z, indices, counts):
        embed_sums = self._all_reduce_sum(tf.math.unsorted_segment_sum(z, indices, self.num_embeddings))
        g = self.decay
        cluster_size = g * self.ema_cluster_size + (1.0 - g) * counts
        embed_sum = g * self.ema_embed_sum + (1.0 - g) * embed_sums
        total = tf.reduce_sum(cluster_size)
        smoothed = (cluster_size + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total
        self.ema_cluster_size.assign(cluster_size)  # the unsmoothed counts are the state
        self.ema_embed_sum.assign(embed_sum)
        self.embeddings.assign(self._normalize(embed_sum / smoothed[:, tf.newaxis]))

    def _set_codebook(self, codebook, counts):
        self.embeddings.assign(codebook)
        self.ema_cluster_size.assign(counts)
        self.ema_embed_sum.assign(codebook * counts[:, tf.newaxis])

    def _reset_codes(self, mask, vectors):
        threshold = self.dead_code_threshold
        self.embeddings.assign(tf.where(mask[:, tf.newaxis], vectors, self.embeddings))
        self.ema_embed_sum.assign(tf.where(mask[:, tf.newaxis], vectors * threshold, self.ema_embed_sum))
        self.ema_cluster_size.assign(tf.where(mask, threshold, self.ema_cluster_size))

    def get_config(self):
        config = {
            "epsilon": self.epsilon,
        }
        return {**super().get_config(), **config}
