"""VQ-GAN-style convolutional encoder."""

import keras
import tensorflow as tf

from vqkeras.layers.attention_block import AttentionBlock
from vqkeras.layers.conv_stack import ConvStack


@keras.saving.register_keras_serializable(package="vqkeras")
class Encoder(ConvStack):
    """Convolutional encoder of Esser et al. (2021): ResNet blocks, GroupNorm, swish, strided downsampling.

    Level `i` has `num_res_blocks` residual blocks with `base_channels·channel_multipliers[i]` channels; every level
    but the last ends with a stride-2 3×3 convolution, so the downsampling factor is `f = 2^(len(multipliers) − 1)`.
    The lowest resolution has `ResBlock → [AttentionBlock] → ResBlock`, then `GN → swish → conv3×3` to
    `output_channels`.

    Args:
        output_channels: Integer. Channels of the latent map.
        base_channels: Integer. Channels of the first level. Defaults to `64`.
        channel_multipliers: Tuple of integers, one per level. Defaults to `(1, 2, 2, 4)` (f = 8).
        num_res_blocks: Integer ≥ 0. Residual blocks per level (the middle blocks are always there). Defaults
            to `2`.
        use_attention: Boolean. Self-attention at the lowest resolution. Defaults to `True`.
        dropout: Float. Dropout inside the residual blocks.
        normalization: `"group"` (GroupNorm before each swish) or `"none"` (no normalization outside the attention
            block: cheaper per step, for small models). Defaults to `"group"`.
        patch_size: Integer ≥ 1. `p > 1` starts with space-to-depth: each `p×p` patch of pixels becomes `p²·C`
            channels of one position, and the first level runs at `H/p × W/p`. This multiplies `f` by `p` and
            removes every full-resolution convolution, which on a CPU are the slowest per multiply-add when they are
            narrow. Defaults to `1`.
        attention_levels: Tuple of level indices (0 = full resolution). Each residual block of these levels is
            followed by an `AttentionBlock` (taming's `attn_resolutions`). Defaults to `()`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Images `(batch, H, W, C)` with `H` and `W` divisible by `f = p·2^(len(multipliers) − 1)`.

    Returns:
        Latent map `(batch, H/f, W/f, output_channels)`.
    """

    def _make_body(self):
        # Sub-layers take this layer's dtype policy, whatever the global policy is when they are built.
        policy = self.dtype_policy
        body = [keras.layers.Conv2D(self.base_channels, 3, padding="same", name="conv_in", dtype=policy)]
        last = len(self.channel_multipliers) - 1
        for level, mult in enumerate(self.channel_multipliers):
            channels = self.base_channels * mult
            body += self._level_blocks(level, channels, self.num_res_blocks)
            if level != last:
                body.append(keras.layers.Conv2D(channels, 3, strides=2, padding="same", name=f"down_{level}",
                                                dtype=policy))
        body.append(self._res_block(channels, "mid_res_1"))
        if self.use_attention:
            body.append(AttentionBlock(name="mid_attention", dtype=policy))
        body.append(self._res_block(channels, "mid_res_2"))
        self.body = body
        return channels

    def _into_body(self, inputs):
        return inputs if self.patch_size == 1 else tf.nn.space_to_depth(inputs, self.patch_size)

    def _body_input_shape(self, input_shape):
        b, h, w, c = input_shape
        p = self.patch_size
        return (b, None if h is None else h // p, None if w is None else w // p, None if c is None else c * p * p)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = self.factor
        return (b, None if h is None else h // f, None if w is None else w // f, self.output_channels)
