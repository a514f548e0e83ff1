"""Group normalization of channels-last images, with its statistics taken in per-channel steps."""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vqkeras")
class GroupNorm(keras.layers.GroupNormalization):
    """`keras.layers.GroupNormalization` for channels-last inputs, same weights, config and maths, cheaper moments.

    For inputs `x` of shape `(n, ..., C)` and groups `g` of `C / G` channels, with the positions `s` and channels
    `c ∈ g` of one image:

        μ_g  = mean_{s, c∈g} x_{s,c}
        σ²_g = mean_{s, c∈g} (x_{s,c} − μ_g)²
        y_{s,c} = γ_c · (x_{s,c} − μ_g) / √(σ²_g + ε) + β_c

    Keras reduces over the (positions, channels-in-group) axes of a `(n, s, G, C/G)` view at once, a reduction over
    two non-adjacent axes. Here each mean is taken over one spatial axis at a time for every channel (reductions
    over a middle axis, which vectorise along the channels), then over the `C/G` channels of each group: the same
    two passes over `x` (the mean, then the centred squares), the same values up to float32 summation order, and
    sums of `h` and `w` terms in turn rather than of `h·w`. Statistics are float32 whatever the compute dtype, as in
    Keras. Other axes than the last, and images of fewer than `AXIS_BY_AXIS_MIN_POSITIONS` positions (where one
    float32 sum is still accurate and the smaller graph traces faster), take the Keras computation.

    Args:
        **kwargs: Those of `keras.layers.GroupNormalization`.
    """

    # Below this many positions per image, Keras' single reduction is as fast and as accurate, and its graph is
    # smaller: quicker to trace and optimise.
    AXIS_BY_AXIS_MIN_POSITIONS = 1024

    def call(self, inputs):
        positions = math.prod(inputs.shape[1:-1]) if None not in inputs.shape[1:-1] else None
        small = positions is not None and positions < self.AXIS_BY_AXIS_MIN_POSITIONS
        if self.axis not in (-1, len(inputs.shape) - 1) or small:
            return super().call(inputs)
        rank = len(inputs.shape)
        channels = inputs.shape[-1]
        group_width = channels // self.groups
        x = tf.cast(inputs, "float32")
        stats_shape = (-1,) + (1,) * (rank - 2) + (channels,)

        def group_mean(values):
            """Mean over the positions and the group of each channel, `(n, 1, …, 1, C)`: over one spatial axis at
            a time (last first), then over the group's channels."""
            for axis in range(rank - 2, 0, -1):
                values = tf.reduce_mean(values, axis=axis)
            means = tf.reduce_mean(tf.reshape(values, (-1, self.groups, group_width)), axis=2)
            return tf.reshape(tf.repeat(means, group_width, axis=1), stats_shape)

        mean = group_mean(x)
        # One op whose gradient recomputes `x − μ` from `x`, instead of keeping an `x`-sized difference for it.
        variance = group_mean(tf.math.squared_difference(x, tf.stop_gradient(mean)))
        inv = tf.math.rsqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * tf.cast(self.gamma, "float32")
        shift = -mean * inv
        if self.center:
            shift = shift + tf.cast(self.beta, "float32")
        return tf.cast(x * inv + shift, self.compute_dtype)
