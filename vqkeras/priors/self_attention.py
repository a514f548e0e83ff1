"""Multi-head self-attention with an optional causal mask and a fixed-shape key/value cache."""

import math

import keras
import tensorflow as tf

from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

# Score given to masked (future) positions. exp(MASK_VALUE − max) underflows to exactly 0 in float32, so the full
# and cached paths give identical attention weights.
MASK_VALUE = -1e9


@keras.saving.register_keras_serializable(package="vqkeras")
class SelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention (Vaswani et al. 2017, eq. 1) with a KV cache.

    For each head, `q = x W_q`, `k = x W_k`, `v = x W_v` and

    `Attention(q, k, v) = softmax(q kᵀ / √d_h + M) v`,

    with `M_ij = −∞` for `j > i` when `causal=True` (decoder) and `M = 0` otherwise (bidirectional, e.g. MaskGIT).
    The heads are concatenated and projected by `W_o`.

    `call_cached` handles one new token at position `t`: it writes the token's `k, v` into fixed-shape cache tensors
    `[layers, batch, heads, seq, head_dim]` (at `[layer_index, :, :, t]`) and attends over cache positions `≤ t`, so a
    decoding step costs one single-token pass instead of a full-sequence pass.

    Args:
        num_heads: Integer. Number of heads; must divide the model width.
        dropout: Float in `[0, 1)`. Dropout on the attention weights (training only).
        causal: Boolean. Apply the causal mask. Defaults to `True`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(batch, seq, dim)`.
        training: Boolean. Enables dropout.

    Returns:
        Float tensor `(batch, seq, dim)`.

    Example:

    >>> attn = SelfAttention(num_heads=4)
    >>> attn(keras.random.normal((2, 10, 32))).shape
    TensorShape([2, 10, 32])
    """

    def __init__(self, num_heads, dropout=0.0, causal=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.causal = check_bool("causal", causal)
        self.query_dense = None

    def build(self, input_shape):
        dim = int(input_shape[-1])
        if dim % self.num_heads:
            raise ValueError(
                f"The model width must be divisible by num_heads. Received: width={dim}, num_heads={self.num_heads}"
            )
        self.dim = dim
        self.head_dim = dim // self.num_heads
        self.query_dense = keras.layers.Dense(dim, name="query")
        self.key_dense = keras.layers.Dense(dim, name="key")
        self.value_dense = keras.layers.Dense(dim, name="value")
        self.output_dense = keras.layers.Dense(dim, name="output")
        self.attention_dropout = keras.layers.Dropout(self.dropout)
        for layer in (self.query_dense, self.key_dense, self.value_dense, self.output_dense):
            layer.build(tuple(input_shape))

    def _split_heads(self, x):
        """(batch, seq, dim) → (batch, heads, seq, head_dim)."""
        shape = tf.shape(x)
        x = tf.reshape(x, [shape[0], shape[1], self.num_heads, self.head_dim])
        return tf.transpose(x, [0, 2, 1, 3])

    def _merge_heads(self, x):
        shape = tf.shape(x)
        x = tf.transpose(x, [0, 2, 1, 3])
        return tf.reshape(x, [shape[0], shape[2], self.dim])

    def _attend(self, q, k, v, mask, training=None):
        scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(self.head_dim)
        scores = tf.cast(scores, tf.float32)
        if mask is not None:
            scores = tf.where(mask, scores, MASK_VALUE)
        weights = tf.nn.softmax(scores, axis=-1)
        weights = self.attention_dropout(tf.cast(weights, v.dtype), training=training)
        return tf.matmul(weights, v)

    def call(self, inputs, training=None):
        q = self._split_heads(self.query_dense(inputs))
        k = self._split_heads(self.key_dense(inputs))
        v = self._split_heads(self.value_dense(inputs))
        mask = None
        if self.causal:
            seq = tf.shape(inputs)[1]
            positions = tf.range(seq)
            mask = positions[None, :] <= positions[:, None]  # (seq_q, seq_k): key j visible from query i iff j ≤ i
        out = self._attend(q, k, v, mask, training=training)
        return self.output_dense(self._merge_heads(out))

    def call_cached(self, inputs, key_cache, value_cache, layer_index, position):
        """One decoding step.

        Args:
            inputs: Float tensor `(batch, 1, dim)`, the token at `position`.
            key_cache: Float tensor `[layers, batch, heads, seq, head_dim]`.
            value_cache: Same shape as `key_cache`.
            layer_index: Integer. This layer's slot in the caches.
            position: Scalar int32 tensor `t`.

        Returns:
            `(outputs, key_cache, value_cache)`: outputs `(batch, 1, dim)` and the caches with slot `t` written.
        """
        q = self._split_heads(self.query_dense(inputs))  # (batch, heads, 1, head_dim)
        k = self.key_dense(inputs)[:, 0]  # (batch, dim)
        v = self.value_dense(inputs)[:, 0]
        batch = tf.shape(inputs)[0]
        k = tf.reshape(k, [batch, self.num_heads, self.head_dim])
        v = tf.reshape(v, [batch, self.num_heads, self.head_dim])
        b_idx, h_idx = tf.meshgrid(tf.range(batch), tf.range(self.num_heads), indexing="ij")
        indices = tf.stack(
            [tf.fill([batch, self.num_heads], layer_index), b_idx, h_idx, tf.fill([batch, self.num_heads], position)],
            axis=-1,
        )  # (batch, heads, 4) → slices of size head_dim
        key_cache = tf.tensor_scatter_nd_update(key_cache, indices, tf.cast(k, key_cache.dtype))
        value_cache = tf.tensor_scatter_nd_update(value_cache, indices, tf.cast(v, value_cache.dtype))
        keys = key_cache[layer_index]  # (batch, heads, seq, head_dim)
        values = value_cache[layer_index]
        seq = tf.shape(keys)[2]
        mask = tf.range(seq)[None, :] <= position  # (1, seq): positions ≤ t
        out = self._attend(q, tf.cast(keys, q.dtype), tf.cast(values, q.dtype), mask)
        return self.output_dense(self._merge_heads(out)), key_cache, value_cache

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "dropout": self.dropout, "causal": self.causal})
        return config
