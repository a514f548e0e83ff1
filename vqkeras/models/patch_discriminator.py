"""PatchGAN discriminator (Isola et al. 2017), as used by VQ-GAN."""

import keras

from vqkeras.layers.group_norm import GroupNorm
from vqkeras.utils.keras_file_saving import KerasFileSaving
from vqkeras.utils.validation import check_int

_NORMS = ("batch", "group", "none")


@keras.saving.register_keras_serializable(package="vqkeras")
class PatchDiscriminator(KerasFileSaving, keras.Model):
    """PatchGAN discriminator: one real/fake logit per overlapping patch.

    The stack of Isola et al. 2017 ("pix2pix", sec. 3.2.2), as used by
    Esser et al. 2021 (VQ-GAN, sec. 3.1):

    - `Conv 4×4 stride 2 (filters) → LeakyReLU(0.2)`;
    - for `n = 1 … num_layers − 1`:
      `Conv 4×4 stride 2 (filters·min(2ⁿ, 8)) → Norm → LeakyReLU(0.2)`;
    - `Conv 4×4 stride 1 (filters·min(2^num_layers, 8)) → Norm →
      LeakyReLU(0.2)`;
    - `Conv 4×4 stride 1 (1)`: the patch logits.

    Every convolution pads by 1 pixel, so an `H×W` input gives logits of
    size `(H / 2^num_layers − 2) × (W / 2^num_layers − 2)` (for sizes that
    are multiples of `2^num_layers`). Convolutions followed by a
    normalization have no bias. Conv kernels are initialised `N(0, 0.02)`,
    normalization scales `N(1, 0.02)` and biases 0. The logits are float32
    under any dtype policy. `save` replaces its file atomically, as the other
    vqkeras models do (`vqkeras.utils.keras_file_saving.KerasFileSaving`).

    Args:
        num_layers: Integer, at least 1. Number of stride-2 convolutions.
        filters: Integer. Filters of the first convolution.
        norm: String. `"batch"`, `"group"` or `"none"`.
        norm_groups: Integer. Number of groups for `norm="group"`; each
            normalised width must be divisible by it.
        **kwargs: Base `keras.Model` arguments (`name`, `dtype`, …).

    Call arguments:
        inputs: Images of shape `(batch, height, width, channels)`.
        training: Boolean or None. Whether BatchNorm uses batch statistics.

    Returns:
        Logits of shape `(batch, h, w, 1)`, float32.

    Example:

    >>> d = PatchDiscriminator(num_layers=3, filters=64)
    >>> d(keras.ops.zeros((2, 64, 64, 3))).shape
    TensorShape([2, 6, 6, 1])
    """

    def __init__(
        self, num_layers=3, filters=64, norm="batch", norm_groups=32, **kwargs
    ):
        super().__init__(**kwargs)
        num_layers = check_int("num_layers", num_layers, minimum=1)
        filters = check_int("filters", filters, minimum=1)
        norm_groups = check_int("norm_groups", norm_groups, minimum=1)
        if norm not in _NORMS:
            raise ValueError(
                f"norm must be one of {_NORMS}. Received: norm={norm!r}"
            )
        self.num_layers = num_layers
        self.filters = filters
        self.norm = norm
        self.norm_groups = norm_groups

        kernel_init = keras.initializers.RandomNormal(0.0, 0.02)
        gamma_init = keras.initializers.RandomNormal(1.0, 0.02)

        def conv(width, strides, use_bias, name, dtype=None):
            return keras.layers.Conv2D(
                width, 4, strides=strides, padding="valid", use_bias=use_bias,
                kernel_initializer=kernel_init, name=name,
                dtype=dtype or self.dtype_policy,
            )

        def normalization(width, name):
            if norm == "batch":
                return keras.layers.BatchNormalization(
                    gamma_initializer=gamma_init, name=name,
                    dtype=self.dtype_policy,
                )
            if width % norm_groups:
                raise ValueError(
                    f"Width {width} is not divisible by "
                    f"norm_groups={norm_groups}."
                )
            return GroupNorm(
                norm_groups, gamma_initializer=gamma_init, name=name,
                dtype=self.dtype_policy,
            )

        use_bias = norm == "none"
        # Each entry: (padding, conv, normalization or None, activation).
        self.blocks = []
        widths = [filters * min(2**n, 8) for n in range(num_layers + 1)]
        for n, width in enumerate(widths):
            strides = 2 if n < num_layers else 1
            self.blocks.append(
                (
                    keras.layers.ZeroPadding2D(
                        1, name=f"pad_{n}", dtype=self.dtype_policy
                    ),
                    conv(width, strides, n == 0 or use_bias, f"conv_{n}"),
                    None if (n == 0 or norm == "none")
                    else normalization(width, f"norm_{n}"),
                    keras.layers.LeakyReLU(
                        0.2, name=f"leaky_relu_{n}", dtype=self.dtype_policy
                    ),
                )
            )
        self.logits_pad = keras.layers.ZeroPadding2D(
            1, name="logits_pad", dtype=self.dtype_policy
        )
        # The logits layer computes in float32 so the losses stay stable
        # under mixed precision.
        self.logits_conv = conv(1, 1, True, "logits", dtype="float32")

    def output_size(self, size):
        """Side of the logits for an input side `size`: `⌊(s − 2)/2⌋ + 1` per stride-2 layer (4×4 kernels, padding
        1), then `s − 1` for each of the two stride-1 layers. `0` or less: the input is too small."""
        for _ in range(self.num_layers):
            if size < 2:
                return 0
            size = (size - 2) // 2 + 1
        return size - 2

    def min_input_size(self):
        """The smallest input side that gives at least one logit."""
        size = 2
        while self.output_size(size) < 1:
            size += 1
        return size

    def build(self, input_shape):
        shape = tuple(input_shape)
        sides = [s for s in shape[1:3] if s is not None]
        if any(self.output_size(s) < 1 for s in sides):
            raise ValueError(
                f"Images of {shape[1]}×{shape[2]} are too small for the discriminator's num_layers="
                f"{self.num_layers} stride-2 layers (VQGAN's disc_num_layers): they need images of at least "
                f"{self.min_input_size()}×{self.min_input_size()}. Lower disc_num_layers or use larger images. "
                f"Received: input_shape={shape}"
            )
        layers = [layer for block in self.blocks for layer in block if layer is not None]
        for layer in layers + [self.logits_pad, self.logits_conv]:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))

    def call(self, inputs, training=None):
        x = inputs
        for pad, conv, norm, activation in self.blocks:
            x = conv(pad(x))
            if norm is not None:
                x = norm(x, training=training)
            x = activation(x)
        return self.logits_conv(self.logits_pad(x))

    def get_config(self):
        config = {
            "num_layers": self.num_layers,
            "filters": self.filters,
            "norm": self.norm,
            "norm_groups": self.norm_groups,
        }
        base_config = super().get_config()
        return {**base_config, **config}
