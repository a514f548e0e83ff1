"""VQBackbone: the encoder, vector quantizer and decoder of a VQ tokenizer, architecture only."""

import keras
import tensorflow as tf

from vqkeras.layers.conv_stack import build_once
from vqkeras.layers.conv_stack import check_channel_multipliers
from vqkeras.layers.decoder import Decoder
from vqkeras.layers.encoder import Encoder
from vqkeras.quantizers.make_quantizer import make_quantizer
from vqkeras.utils.compiled_calls import run_compiled
from vqkeras.utils.images import check_model_range
from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

_QUANTIZERS = ("ema", "gradient")


def nearest_valid_sizes(size, factor):
    """The two multiples of `factor` closest to `size` (the lower one is at least `factor`)."""
    low = max(factor, (size // factor) * factor)
    high = low if low >= size else low + factor
    return sorted({low, high})


def backbone_quantizer(quantizer, num_embeddings, latent_dim, commitment_cost=0.25):
    """A quantizer layer from `None`/`"ema"` (`VectorQuantizerEMA`), `"gradient"` (`VectorQuantizer`), a vqkeras
    quantizer layer (returned as is) or its config."""
    if quantizer is None or isinstance(quantizer, str):
        name = quantizer or "ema"
        if name not in _QUANTIZERS:
            raise ValueError(f"quantizer must be one of {list(_QUANTIZERS)} or a layer. Received: {name!r}")
        latent_dim = check_int("latent_dim", latent_dim, minimum=1)  # the quantizer checks num_embeddings
        return make_quantizer(name, latent_dim, num_embeddings=num_embeddings, commitment_cost=commitment_cost)
    if isinstance(quantizer, dict):
        quantizer = keras.saving.deserialize_keras_object(quantizer)
    if not hasattr(quantizer, "quantize_with_stats"):
        raise ValueError(
            f"quantizer must be 'ema', 'gradient' or a vqkeras quantizer layer. Received: quantizer={quantizer!r}"
        )
    return quantizer


@keras.saving.register_keras_serializable(package="vqkeras")
class VQBackbone(keras.Model):
    """The architecture of a VQ tokenizer: encoder, vector quantizer and decoder (van den Oord et al. 2017, with the
    encoder and decoder of Esser et al. 2021). No loss, no optimizer: the tasks `VQVAE` and `VQGAN` train it.

    `images → Encoder → 1×1 pre-quant conv → quantizer → 1×1 post-quant conv → Decoder → reconstructions`.
    The encoder's output and the decoder's input have `z_channels` channels, the codes `latent_dim`: the 1×1 convs
    map between them (taming's `quant_conv`/`post_quant_conv`).

    Images are float tensors in [-1, 1] of shape `(batch, H, W, image_channels)`, `H` and `W` divisible by the
    downsampling factor `f = patch_size · 2^(len(channel_multipliers) − 1)`; `vqkeras.utils.to_model_range` converts
    uint8 or [0, 1] images. The token grid is `(H/f, W/f)`.

    Args:
        image_channels: Integer. 1 (grayscale) or 3 (RGB). Defaults to `3`.
        num_embeddings: Integer. Codebook size `K` of a quantizer built here. Defaults to `512`.
        latent_dim: Integer. Size of each code vector of a quantizer built here. Defaults to `64`.
        base_channels: Integer. Encoder/decoder channels at full resolution. Defaults to `64`.
        channel_multipliers: Tuple of integers, one per resolution level. Defaults to `(1, 2, 2, 4)` (f = 8).
        num_res_blocks: Integer ≥ 0. Residual blocks per encoder level (the decoder has one more). Defaults
            to `2`.
        use_attention: Boolean. Self-attention at the lowest resolution. Defaults to `True`.
        dropout: Float. Dropout in the residual blocks. Defaults to `0.0`.
        normalization: `"group"` (GroupNorm in the encoder and decoder, as in Esser et al.) or `"none"`. Without
            normalization a small model trains faster per CPU minute. Defaults to `"group"`.
        upsample: The decoder's upsampling, `"nearest"` (nearest ×2, then a 3×3 convolution at the higher
            resolution, as in Esser et al.) or `"pixel_shuffle"` (a 3×3 convolution at the lower resolution, then
            depth-to-space: cheaper when the full-resolution level is narrow). See `Decoder`. Defaults to
            `"nearest"`.
        patch_size: Integer ≥ 1. `p > 1`: the encoder starts with space-to-depth of `p×p` patches and the decoder
            ends with depth-to-space, so no convolution runs at full resolution. Defaults to `1`.
        z_channels: Integer or `None`. Channels of the encoder's output and the decoder's input (LlamaGen has 256
            channels around 8-d codes). Defaults to `None` (`latent_dim`).
        attention_levels: Tuple of level indices (0 = full resolution): each residual block of these levels is
            followed by an attention block, in the encoder and the decoder (taming-transformers' `attn_resolutions`).
            Defaults to `()`.
        quantizer: `None` or `"ema"` (a `VectorQuantizerEMA`), `"gradient"` (a `VectorQuantizer`), or any
            `vqkeras.quantizers` layer (`FSQ`, `LFQ`, `GumbelQuantizer`, `ResidualQuantizer`, ...) or its config; a
            layer's `num_embeddings` (its `codebook_size`) and `embedding_dim` win. Defaults to `None` (EMA).
        commitment_cost: Float. `β` of a quantizer built here. Defaults to `0.25`.
        **kwargs: Base model arguments (`name`, `dtype`, ...).

    Call arguments:
        images: Float images in [-1, 1].
        training: Boolean. Moves the EMA codebook only when true.

    Returns:
        Reconstructions, same shape as `images`. The quantizer's loss is added with `add_loss`.

    Example:

    >>> backbone = vqkeras.models.VQBackbone(image_channels=1, num_embeddings=64, latent_dim=16,
    ...                                      base_channels=32, channel_multipliers=(1, 2, 2))
    >>> vqvae = vqkeras.models.VQVAE(backbone=backbone)
    """

    def __init__(self, image_channels=3, num_embeddings=512, latent_dim=64, base_channels=64,
                 channel_multipliers=(1, 2, 2, 4), num_res_blocks=2, use_attention=True, dropout=0.0,
                 normalization="group", upsample="nearest", patch_size=1, z_channels=None, attention_levels=(),
                 quantizer=None, commitment_cost=0.25, **kwargs):
        super().__init__(**kwargs)
        if image_channels not in (1, 3) or isinstance(image_channels, bool):
            raise ValueError(f"image_channels must be 1 or 3. Received: image_channels={image_channels!r}")
        # The attribute order is the weights file's layout (`layers/conv2d` is pre_quant): keep it.
        self.quantizer = backbone_quantizer(quantizer, num_embeddings, latent_dim, commitment_cost)
        self.commitment_cost = float(commitment_cost)
        self.image_channels = int(image_channels)
        self.num_embeddings = self.quantizer.num_embeddings
        self.latent_dim = self.quantizer.embedding_dim
        self.base_channels = check_int("base_channels", base_channels, minimum=1)
        self.channel_multipliers = check_channel_multipliers(channel_multipliers)
        self.num_res_blocks = check_int("num_res_blocks", num_res_blocks, minimum=0)
        self.use_attention = check_bool("use_attention", use_attention)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.normalization = normalization  # checked by the encoder, with the value in the error
        stack = dict(
            base_channels=self.base_channels,
            channel_multipliers=self.channel_multipliers,
            num_res_blocks=self.num_res_blocks,
            use_attention=self.use_attention,
            dropout=self.dropout,
            normalization=self.normalization,
            patch_size=patch_size,
            attention_levels=attention_levels,
        )
        if z_channels is not None and (isinstance(z_channels, bool) or int(z_channels) != z_channels
                                       or z_channels < 1):
            raise ValueError(f"z_channels must be a positive integer or None. Received: z_channels={z_channels!r}")
        self.z_channels = self.latent_dim if z_channels is None else int(z_channels)
        self.encoder = Encoder(self.z_channels, name="encoder", **stack)
        self.patch_size = self.encoder.patch_size
        self.attention_levels = self.encoder.attention_levels
        self.pre_quant = keras.layers.Conv2D(self.latent_dim, 1, name="pre_quant")
        self.post_quant = keras.layers.Conv2D(self.z_channels, 1, name="post_quant")
        self.upsample = upsample  # checked by the decoder, with the value in the error
        self.decoder = Decoder(self.image_channels, upsample=self.upsample, name="decoder", **stack)

    # ------------------------------------------------------------------ shapes
    @property
    def downsample_factor(self):
        """Integer. `f`: images of size `H×W` give token grids of size `(H/f)×(W/f)`."""
        return self.encoder.factor

    @property
    def index_shape(self):
        """Tuple. The indices per token position: `()`, or `(depth,)` for a residual quantizer."""
        return tuple(self.quantizer.index_shape)

    def check_images(self, images, argument="images"):
        """Raises a `ValueError` naming `argument` if `images` can't go through this model (static checks)."""
        shape = images.shape
        dtype = tf.as_dtype(images.dtype)
        if not dtype.is_floating:
            raise ValueError(
                f"{argument} must be float images in [-1, 1]; convert uint8 or [0, 1] images with "
                f"vqkeras.utils.to_model_range(). Received: {argument}.dtype={dtype.name}"
            )
        if len(shape) != 4:
            raise ValueError(
                f"{argument} must have rank 4 (batch, height, width, channels). Received: {argument}.shape={shape}"
            )
        if shape[-1] != self.image_channels:
            raise ValueError(
                f"{argument} must have {self.image_channels} channel(s), the model's image_channels. "
                f"Received: {argument}.shape={shape}"
            )
        if shape[0] == 0:
            raise ValueError(f"{argument} is an empty batch: it needs at least one image. Received: "
                             f"{argument}.shape={shape}")
        f = self.downsample_factor
        for axis, size in (("height", shape[1]), ("width", shape[2])):
            if size is not None and size % f:
                raise ValueError(
                    f"{argument} {axis} must be divisible by the downsampling factor {f}; nearest valid sizes: "
                    f"{' or '.join(map(str, nearest_valid_sizes(size, f)))}. Received: {argument}.shape={shape}"
                )

    def checked(self, images, argument="images"):
        """`images` after `check_images` and the run-time check that they are finite and in [-1, 1]
        (`vqkeras.utils.images.check_model_range`: a `ValueError` eagerly, an `InvalidArgumentError` in graphs)."""
        self.check_images(images, argument)
        return check_model_range(images, argument)

    def build(self, input_shape):
        self.check_images(keras.KerasTensor(input_shape, dtype="float32"))
        z_shape = self.encoder.compute_output_shape(input_shape)
        code_shape = tuple(z_shape[:-1]) + (self.latent_dim,)
        build_once(self.encoder, input_shape)
        build_once(self.pre_quant, z_shape)
        for layer in (self.quantizer, self.post_quant):
            build_once(layer, code_shape)
        build_once(self.decoder, z_shape)

    # ----------------------------------------------------------------- forward
    def latents(self, images, training=False):
        """`z`: the encoder's output mapped to code space, `(batch, H/f, W/f, latent_dim)`, before quantization."""
        return self.pre_quant(self.encoder(images, training=training))

    def forward(self, images, training=False):
        """Runs the whole model and returns a dict: `reconstructions`, `indices`, `latents` (`z`), the quantizer's
        `vq_loss`, `perplexity`, `codebook_usage` and `codebook_alive`."""
        images = self.checked(images)
        if not self.built:
            self.build(tuple(images.shape))
        z = self.latents(images, training=training)
        vq = self.quantizer.quantize_with_stats(z, training=training)
        return {
            "reconstructions": self.decoder(self.post_quant(vq["quantized"]), training=training),
            "indices": vq["indices"],
            "latents": z,
            "vq_loss": vq["loss"],
            "perplexity": vq["perplexity"],
            "codebook_usage": vq["codebook_usage"],
            "codebook_alive": vq["codebook_alive"],
        }

    def call(self, images, training=None):
        quantized = self.quantizer(self.latents(self.checked(images), training=training), training=training)
        return self.decoder(self.post_quant(quantized), training=training)

    def encode(self, images):
        """Int32 code indices `(batch, H/f, W/f, *index_shape)` of float images in [-1, 1].

        Checks `images` eagerly, then runs as a graph (`vqkeras.utils.compiled_calls`: one `tf.function` per model,
        no retracing per batch size)."""
        images = self.checked(tf.convert_to_tensor(images))
        if not self.built:
            self.build(tuple(images.shape))
        return run_compiled(self, "encode", self.encode_checked, images)

    def encode_checked(self, images):
        """`encode` without the checks of `images`: the graph that `encode` runs."""
        return self.quantizer.get_code_indices(self.latents(images))

    def decode(self, indices):
        """Images in about [-1, 1] from int code indices `(batch, h, w, *index_shape)` in `[0, K)`.

        Indices outside `[0, K)` raise a `ValueError` eagerly, and an `InvalidArgumentError` from an assertion in a
        graph (a GPU's gather would return zeros for them instead of failing). After the checks, runs as a graph
        (as `encode`)."""
        return run_compiled(self, "decode", self.decode_checked, self.checked_indices(indices))

    def decode_checked(self, indices):
        """`decode` without the checks of `indices`: the graph that `decode` runs."""
        return self.decoder(self.post_quant(self.quantizer._indices_to_codes(indices)), training=False)

    def checked_indices(self, indices, argument="indices"):
        """`indices` as a tensor, after the checks of their rank, dtype and range that `decode` makes."""
        indices = tf.convert_to_tensor(indices)
        if indices.shape.rank != 3 + len(self.index_shape) or not indices.dtype.is_integer:
            expected = ", ".join(["batch", "h", "w", *map(str, self.index_shape)])
            raise ValueError(
                f"{argument} must be an integer tensor of shape ({expected}). "
                f"Received: {argument}.shape={indices.shape}, {argument}.dtype={indices.dtype.name}"
            )
        if not self.built:
            raise ValueError(
                "decode() needs a built model: call it on images, fit it, or call build((None, H, W, C)) first. "
                f"Received: an unbuilt {type(self).__name__}"
            )
        return self.quantizer.check_indices(indices, argument)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            "image_channels": self.image_channels,
            "num_embeddings": self.num_embeddings,
            "latent_dim": self.latent_dim,
            **self.encoder.stack_config(),  # `base_channels` … `attention_levels`, as the encoder and decoder take them
            "upsample": self.upsample,
            "z_channels": self.z_channels,
            "quantizer": keras.saving.serialize_keras_object(self.quantizer),
            "commitment_cost": self.commitment_cost,
        }
        return {**super().get_config(), **config}
