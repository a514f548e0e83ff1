"""Sub-pixel upsampling (depth to space)."""

import keras
import tensorflow as tf

from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class PixelShuffle(keras.layers.Layer):
    """Rearranges channels into space (Shi et al. 2016, "sub-pixel convolution"): `(b, h, w, r²·c) → (b, r·h, r·w, c)`.

    `y[b, r·i + p, r·j + q, k] = x[b, i, j, (r·p + q)·c + k]`, the layout of `tf.nn.depth_to_space`. After a
    convolution to `r²·c` channels this is an upsampling whose arithmetic all runs at the lower resolution.

    Args:
        factor: Integer ≥ 2. The upsampling factor `r`. Defaults to `2`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: `(batch, h, w, channels)` with `channels` divisible by `factor²`.

    Returns:
        `(batch, factor·h, factor·w, channels / factor²)`.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = check_int("factor", factor, minimum=2)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels % (self.factor**2):
            raise ValueError(
                f"PixelShuffle(factor={self.factor}) needs channels divisible by {self.factor ** 2}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        return tf.nn.depth_to_space(inputs, self.factor)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        r = self.factor
        return (b, None if h is None else h * r, None if w is None else w * r, None if c is None else c // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
