"""VQ-VAE: encoder, vector quantizer and decoder, trained with `model.fit`."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.distribute import local_first_batch
from vqkeras.distribute import needs_multi_worker_workaround
from vqkeras.distribute import rank_1_logs
from vqkeras.distribute import replica_scaled
from vqkeras.layers.conv_stack import build_once
from vqkeras.layers.conv_stack import check_channel_multipliers
from vqkeras.layers.decoder import Decoder
from vqkeras.layers.encoder import Encoder
from vqkeras.quantizers.vector_quantizer import VectorQuantizer
from vqkeras.quantizers.vector_quantizer_ema import VectorQuantizerEMA
from vqkeras.presets.preset_loading import PresetLoading
from vqkeras.utils.images import check_model_range
from vqkeras.utils.images import from_model_range
from vqkeras.utils.images import model_range_error
from vqkeras.utils.compiled_calls import run_compiled
from vqkeras.utils.keras_file_saving import KerasFileSaving
from vqkeras.utils.removed_options import pop_removed_option
from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

_QUANTIZERS = {"ema": VectorQuantizerEMA, "gradient": VectorQuantizer}
_RECONSTRUCTION_LOSSES = ("l1", "l2")


def nearest_valid_sizes(size, factor):
    """The two multiples of `factor` closest to `size` (the lower one is at least `factor`)."""
    low = max(factor, (size // factor) * factor)
    high = low if low >= size else low + factor
    return sorted({low, high})


@keras.saving.register_keras_serializable(package="vqkeras")
class VQVAE(PresetLoading, KerasFileSaving, keras.Model):
    """Vector-quantized autoencoder (van den Oord et al. 2017) with the VQ-GAN encoder/decoder (Esser et al. 2021).

    `images → Encoder → 1×1 pre-quant conv → quantizer → 1×1 post-quant conv → Decoder → reconstructions`.
    The encoder's output and the decoder's input have `z_channels` channels, the codes `latent_dim`: the 1×1 convs
    map between them (taming's `quant_conv`/`post_quant_conv`).

    Training minimises `L = L_rec + L_vq`, with `L_rec = mean|x − x̂|` (`"l1"`) or `mean(x − x̂)²` (`"l2"`) and
    `L_vq` the quantizer's loss (commitment, plus the codebook term for a gradient-trained codebook).

    Images are float tensors in [-1, 1] of shape `(batch, H, W, image_channels)`, `H` and `W` divisible by the
    downsampling factor `f = 2^(len(channel_multipliers) − 1)`; `vqkeras.utils.to_model_range` converts uint8 or
    [0, 1] images. The token grid is `(H/f, W/f)`.

    Args:
        image_channels: Integer. 1 (grayscale) or 3 (RGB). Defaults to `3`.
        num_embeddings: Integer. Codebook size `K`. Defaults to `512`.
        latent_dim: Integer. Size of each code vector. Defaults to `64`.
        base_channels: Integer. Encoder/decoder channels at full resolution. Defaults to `64`.
        channel_multipliers: Tuple of integers, one per resolution level. Defaults to `(1, 2, 2, 4)` (f = 8).
        num_res_blocks: Integer ≥ 0. Residual blocks per encoder level (the decoder has one more). Defaults
            to `2`.
        use_attention: Boolean. Self-attention at the lowest resolution. Defaults to `True`.
        dropout: Float. Dropout in the residual blocks. Defaults to `0.0`.
        normalization: `"group"` (GroupNorm in the encoder and decoder, as in Esser et al.) or `"none"`. Without
            normalization a small model trains faster per CPU minute, and in short runs it can learn more per step
            too. Defaults to `"group"`.
        upsample: The decoder's upsampling, `"nearest"` (nearest ×2, then a 3×3 convolution at the higher
            resolution, as in Esser et al.) or `"pixel_shuffle"` (a 3×3 convolution at the lower resolution, then
            depth-to-space: cheaper when the full-resolution level is narrow). See `Decoder`. Defaults to
            `"nearest"`.
        patch_size: Integer ≥ 1. `p > 1`: the encoder starts with space-to-depth of `p×p` patches and the decoder
            ends with depth-to-space, so no convolution runs at full resolution and `f = p·2^(levels − 1)`. On a CPU
            the full-resolution convolutions of a narrow model dominate its step. Defaults to `1`.
        z_channels: Integer or `None`. Channels of the encoder's output and the decoder's input, mapped to and from
            the `latent_dim`-dimensional codes by the 1×1 convs: LlamaGen has 256 channels around 8-d codes.
            Defaults to `None` (`latent_dim`).
        attention_levels: Tuple of level indices (0 = full resolution): each residual block of these levels is
            followed by an attention block, in the encoder and the decoder (taming-transformers' `attn_resolutions`:
            level `log2(resolution / attn_resolution)`). Defaults to `()`.
        quantizer: `None` or `"ema"` (a `VectorQuantizerEMA`), `"gradient"` (a `VectorQuantizer`), or any
            `vqkeras.quantizers` layer (`FSQ`, `LFQ`, `GumbelQuantizer`, `ResidualQuantizer`, ...) or its config; a
            layer's `num_embeddings` (its `codebook_size`) and `embedding_dim` win. Defaults to `None` (EMA).
        commitment_cost: Float. `β` of a quantizer built here. Defaults to `0.25`.
        gradient_estimator: How gradients pass a quantizer built here: `"straight_through"` or `"rotation"` (the
            rotation trick, Fifty et al. 2024; see `BaseQuantizer`). A quantizer layer passed in keeps its own.
            Defaults to `"straight_through"`.
        reconstruction_loss: `"l1"` or `"l2"`. Defaults to `"l1"`.
        code_entropy_weight: Float `λ`. Adds `λ·H(p̄)`, the entropy of the batch's mean soft code assignment
            (`BaseQuantizer.code_entropy`), to `L_vq`. `λ > 0` concentrates the codes on fewer entries: a lower rate,
            so a prior models the token grids more easily, for some reconstruction error.
            `λ < 0` spreads them (a diversity term). `VQGAN.from_vqvae` can set it for the adversarial phase only.
            Defaults to `0.0` (off, no extra work).
        code_entropy_temperature: Float `τ > 0` of the code-entropy term's soft assignments, or `None` (the batch's
            mean gap between the squared distances to the nearest and the second-nearest code). Defaults to `None`.
        **kwargs: Base model arguments (`name`, `dtype`, ...).

    Call arguments:
        images: Float images in [-1, 1].
        training: Boolean.

    Returns:
        Reconstructions, same shape as `images`. The quantizer's loss is added with `add_loss`.

    Example:

    >>> model = vqkeras.models.VQVAE(image_channels=1, num_embeddings=64, latent_dim=16,
    ...                              base_channels=32, channel_multipliers=(1, 2, 2))
    >>> model.compile(optimizer=keras.optimizers.Adam(2e-4))
    >>> model.fit(images, epochs=10, batch_size=32)  # images: float32 in [-1, 1], 28×28 → padded to 32×32
    >>> model.encode(images[:4]).shape   # (4, 8, 8) token grid
    """

    def __init__(
        self,
        image_channels=3,
        num_embeddings=512,
        latent_dim=64,
        base_channels=64,
        channel_multipliers=(1, 2, 2, 4),
        num_res_blocks=2,
        use_attention=True,
        dropout=0.0,
        normalization="group",
        upsample="nearest",
        patch_size=1,
        quantizer=None,
        z_channels=None,
        attention_levels=(),
        commitment_cost=0.25,
        gradient_estimator="straight_through",
        reconstruction_loss="l1",
        code_entropy_weight=0.0,
        code_entropy_temperature=None,
        **kwargs,
    ):
        super().__init__(**pop_removed_option(kwargs, "code_prediction_weight", 0.0))
        code_entropy_weight = check_float("code_entropy_weight", code_entropy_weight)
        code_entropy_temperature = check_float("code_entropy_temperature", code_entropy_temperature, minimum=0,
                                               exclusive_minimum=True, allow_none=True)
        if image_channels not in (1, 3) or isinstance(image_channels, bool):
            raise ValueError(f"image_channels must be 1 or 3. Received: image_channels={image_channels!r}")
        if quantizer is None or isinstance(quantizer, str):  # the quantizer built here checks the other two
            latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        if reconstruction_loss not in _RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"reconstruction_loss must be one of {_RECONSTRUCTION_LOSSES}. "
                f"Received: reconstruction_loss={reconstruction_loss!r}"
            )
        self.quantizer = self._make_quantizer(quantizer, num_embeddings, latent_dim, commitment_cost,
                                              gradient_estimator)
        if code_entropy_weight and not hasattr(self.quantizer, "soft_assignments"):
            raise ValueError(
                "code_entropy_weight needs a quantizer with code distances (VectorQuantizerEMA or VectorQuantizer); "
                f"{type(self.quantizer).__name__} has none. Received: code_entropy_weight={code_entropy_weight!r} "
                f"with quantizer={type(self.quantizer).__name__}"
            )
        self.image_channels = int(image_channels)
        self.num_embeddings = self.quantizer.num_embeddings
        self.latent_dim = self.quantizer.embedding_dim
        self.base_channels = check_int("base_channels", base_channels, minimum=1)
        self.channel_multipliers = check_channel_multipliers(channel_multipliers)
        self.num_res_blocks = check_int("num_res_blocks", num_res_blocks, minimum=0)
        self.use_attention = check_bool("use_attention", use_attention)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.normalization = normalization  # checked by the encoder, with the value in the error
        self.commitment_cost = float(commitment_cost)
        self.reconstruction_loss = reconstruction_loss
        self.code_entropy_weight = code_entropy_weight
        self.code_entropy_temperature = code_entropy_temperature
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
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "loss",
                "reconstruction_loss",
                "vq_loss",
                "perplexity",
                "codebook_usage",
                "codebook_alive",
                "psnr",
            )
        }

    @staticmethod
    def _make_quantizer(quantizer, num_embeddings, latent_dim, commitment_cost, gradient_estimator):
        if quantizer is None or isinstance(quantizer, str):
            name = quantizer or "ema"
            if name not in _QUANTIZERS:
                raise ValueError(f"quantizer must be one of {sorted(_QUANTIZERS)} or a layer. Received: {name!r}")
            return _QUANTIZERS[name](num_embeddings, latent_dim, commitment_cost=commitment_cost,
                                     gradient_estimator=gradient_estimator, name="quantizer")
        if isinstance(quantizer, dict):
            quantizer = keras.saving.deserialize_keras_object(quantizer)
        if not hasattr(quantizer, "quantize_with_stats"):
            raise ValueError(
                "quantizer must be 'ema', 'gradient' or a vqkeras quantizer layer. "
                f"Received: quantizer={quantizer!r}"
            )
        return quantizer

    # ------------------------------------------------------------------ shapes
    @property
    def downsample_factor(self):
        """Integer. `f`: images of size `H×W` give token grids of size `(H/f)×(W/f)`."""
        return self.encoder.factor

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
    def forward(self, images, training=False):
        """Runs the whole model and returns a dict: `reconstructions`, `indices`, `vq_loss` and diagnostics."""
        images = self.checked(images)
        if not self.built:
            self.build(tuple(images.shape))
        z = self.pre_quant(self.encoder(images, training=training))
        vq = self.quantizer.quantize_with_stats(z, training=training)
        reconstructions = self.decoder(self.post_quant(vq["quantized"]), training=training)
        vq_loss = vq["loss"]
        if self.code_entropy_weight:
            vq_loss += self.code_entropy_weight * self.quantizer.code_entropy(z, self.code_entropy_temperature)
        return {
            "reconstructions": reconstructions,
            "indices": vq["indices"],
            "vq_loss": vq_loss,
            "perplexity": vq["perplexity"],
            "codebook_usage": vq["codebook_usage"],
            "codebook_alive": vq["codebook_alive"],
        }

    def call(self, images, training=None):
        images = self.checked(images)
        z = self.pre_quant(self.encoder(images, training=training))
        quantized = self.quantizer(z, training=training)
        return self.decoder(self.post_quant(quantized), training=training)

    @property
    def index_shape(self):
        """Tuple. The indices per token position: `()`, or `(depth,)` for a residual quantizer."""
        return tuple(self.quantizer.index_shape)

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
        return self.quantizer.get_code_indices(self.pre_quant(self.encoder(images, training=False)))

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

    # ---------------------------------------------------------------- training
    def reconstruction_error(self, images, reconstructions):
        """`mean|x − x̂|` (l1) or `mean(x − x̂)²` (l2), in float32."""
        diff = tf.cast(images, "float32") - tf.cast(reconstructions, "float32")
        return tf.reduce_mean(tf.abs(diff) if self.reconstruction_loss == "l1" else tf.square(diff))

    def checked_images(self, data):
        """The batch's images after the static checks (`forward` adds the run-time check)."""
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        try:
            self.check_images(images)
        except ValueError:
            # The failed trace poisons Keras' cached step functions (variables would then be created on a
            # non-first call); drop them so the next fit/evaluate with good data traces afresh.
            self.train_function = self.test_function = None
            raise
        if not self.built:
            self.build(tuple(images.shape))
        return images

    def update_trackers(self, images, out, **values):
        """Updates the metric trackers from a forward dict plus extra named values; returns the logs."""
        psnr = tf.image.psnr(from_model_range(images), from_model_range(out["reconstructions"]), max_val=1.0)
        values = {
            **values,
            "vq_loss": out["vq_loss"],
            "perplexity": out["perplexity"],
            "codebook_usage": out["codebook_usage"],
            "codebook_alive": out["codebook_alive"],
            "psnr": tf.reduce_mean(psnr),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        # 1. Encode, quantize (EMA codebook update happens here), decode.
        images = self.checked_images(data)
        with tf.GradientTape() as tape:
            out = self.forward(images, training=True)
            # 2. Losses.
            reconstruction_loss = self.reconstruction_error(images, out["reconstructions"])
            loss = reconstruction_loss + out["vq_loss"]
            scaled_loss = self.optimizer.scale_loss(replica_scaled(loss))
        # 3. Update every trainable variable (the EMA codebook is not trainable).
        grads = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self.update_trackers(images, out, loss=loss, reconstruction_loss=reconstruction_loss)

    def test_step(self, data):
        images = self.checked_images(data)
        out = self.forward(images, training=False)
        reconstruction_loss = self.reconstruction_error(images, out["reconstructions"])
        loss = reconstruction_loss + out["vq_loss"]
        return self.update_trackers(images, out, loss=loss, reconstruction_loss=reconstruction_loss)

    @property
    def metrics(self):
        return list(self.trackers.values())

    # --------------------------------------------- host-side checks of fit / evaluate / predict inputs
    def fit(self, x=None, *args, **kwargs):
        """`keras.Model.fit`, with `x`'s images checked first (see `_run_checked`)."""
        return self._run_checked(super().fit, x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        """`keras.Model.evaluate`, with `x`'s images checked first (see `_run_checked`)."""
        return self._run_checked(super().evaluate, x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, with `x`'s images checked first (see `_run_checked`)."""
        return self._run_checked(super().predict, x, *args, **kwargs)

    def _run_checked(self, method, x, *args, **kwargs):
        """Runs Keras' `method` on `x` after checks that name `x`, with a one-line error for bad batches.

        An array or tensor `x` is checked whole before any work (float, non-empty, finite, in [-1, 1]). A
        `tf.data.Dataset` must have batches; its images are checked batch by batch in the step (under
        `jit_compile=True`, where XLA drops assertions, in a `map` before the step), and a failing batch ends the run
        with a one-line `ValueError` instead of TensorFlow's graph traceback.
        """
        if isinstance(x, tf.data.Dataset):
            if int(x.cardinality()) == 0:
                raise ValueError("x is empty: the dataset has no batches. Received: x=a dataset of 0 batches")
            if getattr(self, "jit_compile", False):
                x = x.map(lambda *data: (check_model_range(data[0], "x"), *data[1:]) if len(data) > 1
                          else check_model_range(data[0], "x"))
        elif isinstance(x, (np.ndarray, tf.Tensor)):
            array = x.numpy() if isinstance(x, tf.Tensor) else np.asarray(x)
            self.check_images(keras.KerasTensor(array.shape, dtype=array.dtype.name), argument="x")
            check_model_range(array, "x")
        try:
            return method(x, *args, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            readable = model_range_error(error, "x")
            if readable is None:
                raise
            raise readable from None

    # ------------------------------------------- keras-team/keras#20585 workaround (vqkeras.distribute)
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is not None and data_batch is None and needs_multi_worker_workaround(strategy):
            # Failure 1: build from this worker's first local replica batch instead of reducing the distributed one.
            data_batch, iterator = local_first_batch(strategy, iterator), None
        if self._distribute_strategy is None:
            # Build the model and optimizer(s) eagerly first (Keras defers it to the first traced step here): XLA can't
            # create variables inside the compiled step, and a `tf.function` whose first trace creates variables
            # traces the whole step a second time.
            if data_batch is None and iterator is not None:
                for _, _, batches in iterator:
                    data_batch = next(batches)
                    break
            if data_batch is not None:
                self.build_for_training(tuple(keras.utils.unpack_x_y_sample_weight(data_batch)[0].shape))
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def build_for_training(self, input_shape):
        """Builds the model for images of `input_shape` and the optimizer(s) for their variables."""
        if not self.built:
            self.build(input_shape)
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def _make_function(self, step_function):
        if needs_multi_worker_workaround(self._distribute_strategy):
            step_function = rank_1_logs(step_function)
        return super()._make_function(step_function)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            "image_channels": self.image_channels,
            "num_embeddings": self.num_embeddings,
            "latent_dim": self.latent_dim,
            "base_channels": self.base_channels,
            "channel_multipliers": list(self.channel_multipliers),
            "num_res_blocks": self.num_res_blocks,
            "use_attention": self.use_attention,
            "dropout": self.dropout,
            "normalization": self.normalization,
            "upsample": self.upsample,
            "patch_size": self.patch_size,
            "quantizer": keras.saving.serialize_keras_object(self.quantizer),
            "z_channels": self.z_channels,
            "attention_levels": list(self.attention_levels),
            "commitment_cost": self.commitment_cost,
            "reconstruction_loss": self.reconstruction_loss,
            "code_entropy_weight": self.code_entropy_weight,
            "code_entropy_temperature": self.code_entropy_temperature,
        }
        return {**super().get_config(), **config}
