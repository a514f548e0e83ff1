"""Vector quantizer whose codebook is trained by gradient descent."""

import keras
import tensorflow as tf

from vqkeras.quantizers.base_quantizer import BaseQuantizer


@keras.saving.register_keras_serializable(package="vqkeras")
class VectorQuantizer(BaseQuantizer):
    """Vector quantizer with a gradient-trained codebook (van den Oord et al. 2017, eq. 3).

    Each input vector `z` is snapped to its nearest code `e = e_k`, `k = argmin_j ‖z − e_j‖²`, and the layer adds

    `L_vq = codebook_loss + β·commitment_loss = ‖sg(z) − e‖² + β·‖z − sg(e)‖²`

    (means over elements), with `β` on the **commitment** term as in the paper (taming-transformers' `legacy=True`
    puts it on the codebook term). Gradients reach the encoder through the straight-through estimator
    `q = z + sg(e − z)`.

    An EMA of per-code usage counts, `U ← γ·U + (1−γ)·n`, is kept for the "alive" diagnostic and for optional
    dead-code restarts (off by default here): codes with `U_k < dead_code_threshold` are replaced by random vectors
    of the current batch and get `U_k = threshold`.

    Distances are computed in float32 under any dtype policy; the codebook is stored in float32.

    Args:
        num_embeddings: Integer. Size of the codebook, `K ≥ 2`.
        embedding_dim: Integer. Size of the input vectors.
        commitment_cost: Float. `β`. Defaults to `0.25`.
        decay: Float in `[0, 1)`. `γ` of the usage EMA. Defaults to `0.99`.
        dead_code_threshold: Float ≥ 0. Restart codes whose usage EMA falls below it; `0` (default) disables.
        codebook_dim, l2_normalize, embeddings_initializer, max_distance_elements, seed, kmeans_init,
            kmeans_iters: The lookup options, documented in `BaseQuantizer`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(..., embedding_dim)`.
        training: Boolean. Usage statistics and metrics change only when true.

    Returns:
        The quantized tensor, same shape and dtype as `inputs`; `L_vq` is added with `add_loss`.

    Example:

    >>> vq = vqkeras.layers.VectorQuantizer(num_embeddings=64, embedding_dim=16)
    >>> vq(keras.random.normal((2, 7, 7, 16))).shape
    (2, 7, 7, 16)
    """

    # The constructor is `BaseQuantizer.__init__`: its arguments and defaults are the ones above.

    def _build_codebook(self):
        self.embeddings = self._add_float32_weight(
            "embeddings", (self.num_embeddings, self.lookup_dim), self.embeddings_initializer, trainable=True
        )
        self.usage_ema = self._add_float32_weight("usage_ema", (self.num_embeddings,), "ones")

    def _codebook_values(self):
        return self._normalize(self.embeddings.value)

    def _usage_counts(self):
        return self.usage_ema.value

    def _quantizer_losses(self, z, e):
        codebook_loss = tf.reduce_mean(tf.square(tf.stop_gradient(z) - e))
        commitment_loss = tf.reduce_mean(tf.square(z - tf.stop_gradient(e)))
        return {"codebook_loss": codebook_loss, "commitment_loss": self.commitment_cost * commitment_loss}

    def _update_codebook(self, z, indices, counts):
        self.usage_ema.assign(self.decay * self.usage_ema + (1.0 - self.decay) * counts)

    def _set_codebook(self, codebook, counts):
        self.embeddings.assign(codebook)
        self.usage_ema.assign(counts)

    def _reset_codes(self, mask, vectors):
        self.embeddings.assign(tf.where(mask[:, tf.newaxis], vectors, self.embeddings))
        self.usage_ema.assign(tf.where(mask, self.dead_code_threshold, self.usage_ema))
