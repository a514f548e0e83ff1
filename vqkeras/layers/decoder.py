"""VQ-GAN-style convolutional decoder."""

import keras

from vqkeras.layers.attention_block import AttentionBlock
from vqkeras.layers.conv_stack import ConvStack
from vqkeras.layers.pixel_shuffle import PixelShuffle

UPSAMPLING = ("nearest", "pixel_shuffle")


def check_upsample(upsample):
    """Returns `upsample` if it is one of `UPSAMPLING`, else raises a `ValueError` naming it."""
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}. Received: upsample={upsample!r}")
    return upsample


@keras.saving.register_keras_serializable(package="vqkeras")
class Decoder(ConvStack):
    """Convolutional decoder of Esser et al. (2021), the mirror of `Encoder`.

    `conv3×3 → ResBlock → [AttentionBlock] → ResBlock`, then the levels in reverse order, each with
    `num_res_blocks + 1` residual blocks and, but for the last, a ×2 upsampling; finally `GN → swish → conv3×3` to
    `output_channels`. `conv_out.kernel` is the "last layer" whose gradients set the VQ-GAN adaptive weight.

    The upsampling (`upsample`) from level `l` to level `l − 1`, with `C_l` channels at level `l`:
    - `"nearest"` (Esser et al.): nearest-neighbour ×2, then a 3×3 convolution with `C_l` channels at the *higher*
      resolution;
    - `"pixel_shuffle"`: a 3×3 convolution to `4·C_(l−1)` channels at the *lower* resolution, then `PixelShuffle(2)`
      to `C_(l−1)` channels (Shi et al. 2016). The full-resolution level then runs no convolution wider than its
      own `C_0` channels: with few full-resolution channels the decoder step is much cheaper.

    Args:
        output_channels: Integer. Image channels (1 or 3).
        base_channels: Integer. Defaults to `64`.
        channel_multipliers: Tuple of integers, the encoder's. Defaults to `(1, 2, 2, 4)`.
        num_res_blocks: Integer ≥ 0. Defaults to `2`.
        use_attention: Boolean. Defaults to `True`.
        dropout: Float.
        normalization: `"group"` or `"none"`, as in `Encoder`. Defaults to `"group"`.
        upsample: `"nearest"` or `"pixel_shuffle"`, as above. Defaults to `"nearest"`.
        patch_size: Integer ≥ 1, the encoder's. `p > 1` ends with `conv_out` to `p²·output_channels` channels at
            `H/p × W/p`, then depth-to-space to `H × W`, the mirror of the encoder's space-to-depth. Defaults to `1`.
        attention_levels: Tuple of level indices, the encoder's: an `AttentionBlock` after each residual block of
            these levels. Defaults to `()`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Latent map `(batch, h, w, c)`.

    Returns:
        Images `(batch, h·f, w·f, output_channels)`, unbounded (the training target is in [-1, 1]).
    """

    def __init__(self, output_channels, upsample="nearest", **kwargs):
        self.upsample = check_upsample(upsample)  # read by `_make_body`, which the base constructor calls
        super().__init__(output_channels, **kwargs)
        self.patch_shuffle = (PixelShuffle(self.patch_size, name="patch_shuffle", dtype=self.dtype_policy)
                              if self.patch_size > 1 else None)

    def _make_body(self):
        # Sub-layers take this layer's dtype policy, whatever the global policy is when they are built.
        policy = self.dtype_policy
        channels = self.base_channels * self.channel_multipliers[-1]
        body = [keras.layers.Conv2D(channels, 3, padding="same", name="conv_in", dtype=policy)]
        body.append(self._res_block(channels, "mid_res_1"))
        if self.use_attention:
            body.append(AttentionBlock(name="mid_attention", dtype=policy))
        body.append(self._res_block(channels, "mid_res_2"))
        for level in reversed(range(len(self.channel_multipliers))):
            channels = self.base_channels * self.channel_multipliers[level]
            body += self._level_blocks(level, channels, self.num_res_blocks + 1)
            if level != 0:
                body += self._upsampling(level, channels)
        self.body = body
        return channels

    def _upsampling(self, level, channels):
        """The layers from level `level` (with `channels`) up to level `level − 1`."""
        policy = self.dtype_policy
        if self.upsample == "pixel_shuffle":
            outputs = 4 * self.base_channels * self.channel_multipliers[level - 1]
            return [keras.layers.Conv2D(outputs, 3, padding="same", name=f"up_{level}", dtype=policy),
                    PixelShuffle(2, name=f"pixel_shuffle_{level}", dtype=policy)]
        return [keras.layers.UpSampling2D(2, interpolation="nearest", name=f"upsample_{level}", dtype=policy),
                keras.layers.Conv2D(channels, 3, padding="same", name=f"up_{level}", dtype=policy)]

    def _conv_out_channels(self):
        return self.output_channels * self.patch_size**2

    def _out_of_body(self, outputs):
        return outputs if self.patch_size == 1 else self.patch_shuffle(outputs)

    def get_config(self):
        return {**super().get_config(), "upsample": self.upsample}

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, self.output_channels)
