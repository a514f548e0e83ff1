"""Residual block of the VQ-GAN encoder and decoder."""

import keras

from vqkeras.layers.group_norm import GroupNorm
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


def group_count(channels, max_groups=32):
    """Largest number of groups ≤ `max_groups` that divides `channels` (GroupNorm needs a divisor)."""
    for groups in range(min(max_groups, channels), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


NORMALIZATIONS = ("group", "none")


def check_normalization(normalization):
    """Returns `normalization` if it is one of `NORMALIZATIONS`, else raises a `ValueError` naming it."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}. Received: normalization={normalization!r}")
    return normalization


def make_norm(normalization, channels, name, dtype):
    """A `GroupNorm` over `channels` for `"group"`, an `Identity` (no weights, no op) for `"none"`."""
    if normalization == "none":
        return keras.layers.Identity(name=name, dtype=dtype)
    return GroupNorm(group_count(channels), epsilon=1e-6, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="vqkeras")
class ResBlock(keras.layers.Layer):
    """Pre-activation residual block: `x + conv(swish(GN(conv(swish(GN(x))))))` (Esser et al. 2021).

    A 1×1 convolution matches channels on the shortcut when they change. With `normalization="none"` the GroupNorms
    are left out: `x + conv(swish(conv(swish(x))))`.

    Args:
        filters: Integer. Output channels.
        dropout: Float. Dropout rate between the two convolutions.
        normalization: `"group"` (GroupNorm, up to 32 groups) or `"none"`. Defaults to `"group"`.
        **kwargs: Base layer arguments.
    """

    def __init__(self, filters, dropout=0.0, normalization="group", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.normalization = check_normalization(normalization)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv1", dtype=self.dtype_policy)
        self.norm2 = make_norm(self.normalization, self.filters, "norm2", self.dtype_policy)
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv2", dtype=self.dtype_policy)
        self.shortcut = None

    def build(self, input_shape):
        channels = input_shape[-1]
        # The first norm sees the input channels, which may differ from `filters`.
        self.norm1 = make_norm(self.normalization, channels, "norm1", self.dtype_policy)
        self.norm1.build(input_shape)
        self.conv1.build(input_shape)
        inner = tuple(input_shape[:-1]) + (self.filters,)
        self.norm2.build(inner)
        self.conv2.build(inner)
        if channels != self.filters:
            self.shortcut = keras.layers.Conv2D(self.filters, 1, name="shortcut", dtype=self.dtype_policy)
            self.shortcut.build(input_shape)

    def call(self, inputs, training=None):
        h = self.conv1(keras.activations.silu(self.norm1(inputs)))
        h = self.drop(keras.activations.silu(self.norm2(h)), training=training)
        h = self.conv2(h)
        skip = inputs if self.shortcut is None else self.shortcut(inputs)
        return skip + h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "dropout": self.dropout,
                "normalization": self.normalization}
