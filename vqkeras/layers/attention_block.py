"""Spatial self-attention block used at the lowest resolution of the VQ-GAN encoder and decoder."""

import keras
from keras import ops

from vqkeras.layers.group_norm import GroupNorm
from vqkeras.layers.res_block import group_count


@keras.saving.register_keras_serializable(package="vqkeras")
class AttentionBlock(keras.layers.Layer):
    """Single-head self-attention over all spatial positions: `x + W_o·softmax(QKᵀ/√C)·V`, `Q, K, V` from GN(x).

    Args:
        **kwargs: Base layer arguments.
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        self.norm = GroupNorm(
            group_count(channels), epsilon=1e-6, name="norm", dtype=self.dtype_policy
        )
        self.norm.build(input_shape)
        self.qkv = keras.layers.Dense(3 * channels, name="qkv", dtype=self.dtype_policy)
        self.qkv.build(tuple(input_shape[:-1]) + (channels,))
        self.proj = keras.layers.Dense(channels, name="proj", dtype=self.dtype_policy)
        self.proj.build(tuple(input_shape[:-1]) + (channels,))

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        h = ops.reshape(self.qkv(self.norm(inputs)), (shape[0], -1, 3 * channels))
        q, k, v = ops.split(h, 3, axis=-1)
        scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / ops.sqrt(ops.cast(channels, q.dtype))
        weights = ops.cast(ops.softmax(ops.cast(scores, "float32"), axis=-1), v.dtype)
        out = ops.reshape(ops.matmul(weights, v), shape)
        return inputs + self.proj(out)

    def compute_output_shape(self, input_shape):
        return input_shape
