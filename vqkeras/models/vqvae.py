"""VQ-VAE: the reconstruction objective of a `VQBackbone`, trained with `model.fit`."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.distribute import local_first_batch
from vqkeras.distribute import needs_multi_worker_workaround
from vqkeras.distribute import rank_1_logs
from vqkeras.distribute import replica_scaled
from vqkeras.layers.conv_stack import build_once
from vqkeras.losses.code_entropy import CodeEntropy
from vqkeras.models.vq_backbone import VQBackbone
from vqkeras.models.vq_backbone import nearest_valid_sizes  # noqa: F401  (re-exported: older import path)
from vqkeras.presets.preset_loading import PresetLoading
from vqkeras.utils.images import check_model_range
from vqkeras.utils.images import from_model_range
from vqkeras.utils.images import model_range_error
from vqkeras.utils.keras_file_saving import KerasFileSaving
from vqkeras.utils.removed_options import pop_removed_option
from vqkeras.utils.validation import check_float

_RECONSTRUCTION_LOSSES = ("l1", "l2")
_BASE_ARGUMENTS = ("name", "dtype", "trainable")
# The backbone's layers, tracked by the task too, in this order: Keras' weights files name each layer by the first
# attribute path that reaches it, so the task's files keep the layout of the files saved before the split.
_BACKBONE_LAYERS = ("quantizer", "encoder", "pre_quant", "post_quant", "decoder")
# The backbone's attributes and methods that the task answers for it.
_DELEGATED = (
    "image_channels", "num_embeddings", "latent_dim", "base_channels", "channel_multipliers", "num_res_blocks",
    "use_attention", "dropout", "normalization", "upsample", "patch_size", "z_channels", "attention_levels",
    "commitment_cost", "downsample_factor", "index_shape", "check_images", "checked", "latents", "encode",
    "encode_checked", "decode", "decode_checked", "checked_indices",
)


def make_backbone(backbone, architecture, dtype=None):
    """`backbone` (a `VQBackbone` or its config), or a new `VQBackbone(**architecture)` when it is None."""
    if backbone is None:
        return VQBackbone(**architecture, dtype=dtype, name="backbone")
    if architecture:
        raise ValueError(
            "Give either a backbone or architecture arguments, not both. "
            f"Received: backbone and {', '.join(f'{k}={v!r}' for k, v in sorted(architecture.items()))}"
        )
    if isinstance(backbone, dict):
        backbone = keras.saving.deserialize_keras_object(backbone)
    if not isinstance(backbone, VQBackbone):
        raise ValueError(f"backbone must be a vqkeras VQBackbone. Received: backbone={backbone!r}")
    return backbone


def make_code_regularizer(code_regularizer, legacy):
    """`code_regularizer` (an object, its config or None); older configs' `code_entropy_weight` and
    `code_entropy_temperature` in `legacy` (popped) make a `CodeEntropy`."""
    weight = check_float("code_entropy_weight", legacy.pop("code_entropy_weight", 0.0))
    temperature = check_float("code_entropy_temperature", legacy.pop("code_entropy_temperature", None), minimum=0,
                              exclusive_minimum=True, allow_none=True)
    if weight or temperature is not None:
        if code_regularizer is not None:
            raise ValueError("Give code_regularizer or code_entropy_weight, not both. "
                             f"Received: code_regularizer={code_regularizer!r}, code_entropy_weight={weight!r}")
        code_regularizer = CodeEntropy(weight, temperature)
        if not code_regularizer.weight:
            return None
    if isinstance(code_regularizer, dict):
        code_regularizer = keras.saving.deserialize_keras_object(code_regularizer)
    if code_regularizer is not None and not callable(code_regularizer):
        raise ValueError(f"code_regularizer must be None or a callable such as CodeEntropy. "
                         f"Received: code_regularizer={code_regularizer!r}")
    return code_regularizer


@keras.saving.register_keras_serializable(package="vqkeras")
class VQVAE(PresetLoading, KerasFileSaving, keras.Model):
    """VQ-VAE (van den Oord et al. 2017): a `VQBackbone` (encoder, quantizer, decoder) trained to reconstruct.

    Training minimises `L = L_rec + L_vq`, with `L_rec = mean|x − x̂|` (`"l1"`) or `mean(x − x̂)²` (`"l2"`), `L_vq`
    the quantizer's loss (commitment, plus the codebook term for a gradient-trained codebook) plus the code
    regulariser's term, if any.

    The one-line form builds the backbone: `VQVAE(image_channels=1, num_embeddings=256, ...)` passes every
    argument but the task's own and `name`/`dtype`/`trainable` to `VQBackbone`. The task answers for the
    backbone's shapes and calls (`encode`, `decode`, `downsample_factor`, `index_shape`, `quantizer`, ...).

    Args:
        backbone: A `VQBackbone` (or its config), or None to build one from `**kwargs`. Defaults to `None`.
        reconstruction_loss: `"l1"` or `"l2"`. Defaults to `"l1"`.
        code_regularizer: None or a code regulariser added to `L_vq`, such as `vqkeras.losses.CodeEntropy`.
            (`code_entropy_weight=λ` and `code_entropy_temperature=τ` are still accepted: they make a
            `CodeEntropy(λ, τ)`.) Defaults to `None`.
        **kwargs: `VQBackbone` arguments (when `backbone` is None) and base model arguments (`name`, `dtype`, ...).

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

    def __init__(self, backbone=None, reconstruction_loss="l1", code_regularizer=None, **kwargs):
        base = {name: kwargs.pop(name) for name in _BASE_ARGUMENTS if name in kwargs}
        code_regularizer = make_code_regularizer(code_regularizer, kwargs)
        pop_removed_option(kwargs, "code_prediction_weight", 0.0)
        pop_removed_option(kwargs, "gradient_estimator", "straight_through")
        super().__init__(**base)
        if reconstruction_loss not in _RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"reconstruction_loss must be one of {_RECONSTRUCTION_LOSSES}. "
                f"Received: reconstruction_loss={reconstruction_loss!r}"
            )
        backbone = make_backbone(backbone, kwargs, base.get("dtype"))
        if isinstance(code_regularizer, CodeEntropy):
            code_regularizer.check_quantizer(backbone.quantizer)
        self.reconstruction_loss = reconstruction_loss
        self.code_regularizer = code_regularizer
        for part in _BACKBONE_LAYERS:
            setattr(self, part, getattr(backbone, part))
        self.backbone = backbone
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

    def __dir__(self):
        # Keras' weights files walk `dir()` in sorted order: `backbone` would come first and move every layer under
        # `backbone/`. Hidden, its layers keep their paths through `_BACKBONE_LAYERS` (older files load).
        return [name for name in super().__dir__() if name != "backbone"]

    def build(self, input_shape):
        build_once(self.backbone, input_shape)

    # ----------------------------------------------------------------- forward
    def forward(self, images, training=False):
        """Runs the whole model and returns `VQBackbone.forward`'s dict, with the code regulariser's term in
        `vq_loss`."""
        if not self.built:
            self.check_images(images)
            self.build(tuple(images.shape))
        out = self.backbone.forward(images, training=training)
        if self.code_regularizer is not None:
            out["vq_loss"] += self.code_regularizer(self.quantizer, out["latents"])
        return out

    def call(self, images, training=None):
        return self.backbone.call(images, training=training)

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
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "reconstruction_loss": self.reconstruction_loss,
            "code_regularizer": None if self.code_regularizer is None else keras.saving.serialize_keras_object(
                self.code_regularizer),
        }
        return {**super().get_config(), **config}


def _delegated(name):
    return property(lambda self: getattr(self.backbone, name), doc=f"The backbone's `{name}` (`VQBackbone.{name}`).")


for _name in _DELEGATED:
    setattr(VQVAE, _name, _delegated(_name))
