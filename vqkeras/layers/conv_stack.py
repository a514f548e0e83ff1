"""Base class of the encoder and decoder stacks."""

import keras

from vqkeras.layers.attention_block import AttentionBlock
from vqkeras.layers.res_block import ResBlock
from vqkeras.layers.res_block import check_normalization
from vqkeras.layers.res_block import make_norm
from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


def build_once(layer, input_shape):
    """Builds `layer` unless it already is (sub-layers may have been built by an earlier call)."""
    if not layer.built:
        layer.build(input_shape)


def check_attention_levels(attention_levels, num_levels):
    """Returns `attention_levels` as a sorted tuple of distinct level indices in `[0, num_levels)`, else raises a
    `ValueError` naming it."""
    try:
        levels = tuple(check_int("attention_levels", v, minimum=0, maximum=num_levels - 1) for v in attention_levels)
    except (TypeError, ValueError):
        levels = None
    if levels is None or isinstance(attention_levels, str) or len(set(levels)) != len(levels):
        raise ValueError(
            f"attention_levels must be distinct level indices in [0, {num_levels}) (one level per channel "
            f"multiplier). Received: attention_levels={attention_levels!r}"
        )
    return tuple(sorted(levels))


def check_channel_multipliers(channel_multipliers):
    """`channel_multipliers` as a tuple of integers >= 1 (at least one), else a `ValueError` naming it."""
    try:
        multipliers = tuple(check_int("channel_multipliers", m, minimum=1) for m in channel_multipliers)
    except (TypeError, ValueError):
        multipliers = ()
    if not multipliers or isinstance(channel_multipliers, str):
        raise ValueError(
            "channel_multipliers must be a non-empty sequence of positive integers. "
            f"Received: channel_multipliers={channel_multipliers!r}"
        )
    return multipliers


class ConvStack(keras.layers.Layer):
    """A chain of layers (`self.body`), then `GN → swish → conv3×3` to `output_channels`.

    Subclasses fill `self.body` in `_make_body()`, which returns the channels of its last layer. Holds the arguments,
    the build, the call and the config shared by `Encoder` and `Decoder`. With `patch_size = p > 1` the encoder
    starts with space-to-depth (`p×p` pixel patches become channels) and the decoder ends with depth-to-space, so
    no convolution runs at full resolution; the resampling factor is `p·2^(levels − 1)`.

    `attention_levels` lists the levels (0 = full resolution) whose residual blocks are each followed by an
    `AttentionBlock`, as taming-transformers' `attn_resolutions` (level `log2(resolution / attn_resolution)`) and
    LlamaGen's lowest level do. Attention costs `O((HW)²)` per image at its level, so it belongs at low resolutions.
    """

    def __init__(self, output_channels, base_channels=64, channel_multipliers=(1, 2, 2, 4), num_res_blocks=2,
                 use_attention=True, dropout=0.0, normalization="group", patch_size=1, attention_levels=(), **kwargs):
        super().__init__(**kwargs)
        self.channel_multipliers = check_channel_multipliers(channel_multipliers)
        self.output_channels = check_int("output_channels", output_channels, minimum=1)
        self.base_channels = check_int("base_channels", base_channels, minimum=1)
        self.num_res_blocks = check_int("num_res_blocks", num_res_blocks, minimum=0)
        self.use_attention = check_bool("use_attention", use_attention)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.normalization = check_normalization(normalization)
        self.patch_size = check_int("patch_size", patch_size, minimum=1)
        self.attention_levels = check_attention_levels(attention_levels, len(self.channel_multipliers))
        channels = self._make_body()
        self.norm_out = make_norm(self.normalization, channels, "norm_out", self.dtype_policy)
        self.conv_out = keras.layers.Conv2D(
            self._conv_out_channels(), 3, padding="same", name="conv_out", dtype=self.dtype_policy
        )

    def _make_body(self):
        raise NotImplementedError

    def _conv_out_channels(self):
        return self.output_channels

    def _into_body(self, inputs):
        """The stack's input as the body sees it (the encoder's space-to-depth)."""
        return inputs

    def _out_of_body(self, outputs):
        """`conv_out`'s output as the stack returns it (the decoder's depth-to-space)."""
        return outputs

    def _body_input_shape(self, input_shape):
        return tuple(input_shape)

    def _res_block(self, channels, name):
        """A `ResBlock` with this stack's dropout, normalization and dtype policy."""
        return ResBlock(channels, self.dropout, normalization=self.normalization, name=name, dtype=self.dtype_policy)

    def _level_blocks(self, level, channels, count):
        """The `count` residual blocks of `level`, each followed by an `AttentionBlock` if the level has attention."""
        blocks = []
        for i in range(count):
            blocks.append(self._res_block(channels, f"res_{level}_{i}"))
            if level in self.attention_levels:
                blocks.append(AttentionBlock(name=f"attn_{level}_{i}", dtype=self.dtype_policy))
        return blocks

    @property
    def factor(self):
        """Integer. The resampling factor `f = p·2^(levels − 1)`, with `p` the patch size."""
        return self.patch_size * 2 ** (len(self.channel_multipliers) - 1)

    def build(self, input_shape):
        shape = self._body_input_shape(input_shape)
        for layer in self.body + [self.norm_out, self.conv_out]:
            build_once(layer, shape)
            shape = tuple(layer.compute_output_shape(shape))

    def call(self, inputs, training=None):
        h = self._into_body(inputs)
        for layer in self.body:
            h = layer(h, training=training) if isinstance(layer, ResBlock) else layer(h)
        return self._out_of_body(self.conv_out(keras.activations.silu(self.norm_out(h))))

    def stack_config(self):
        """The stack's arguments but `output_channels` (those `VQBackbone` shares), as checked here, in config form."""
        return {
            "base_channels": self.base_channels,
            "channel_multipliers": list(self.channel_multipliers),
            "num_res_blocks": self.num_res_blocks,
            "use_attention": self.use_attention,
            "dropout": self.dropout,
            "normalization": self.normalization,
            "patch_size": self.patch_size,
            "attention_levels": list(self.attention_levels),
        }

    def get_config(self):
        config = {"output_channels": self.output_channels, **self.stack_config()}
        return {**super().get_config(), **config}
