"""VQ-GAN: the adversarial objective of a `VQBackbone`, with a perceptual loss and a patch discriminator."""

import keras
import tensorflow as tf

from vqkeras.distribute import replica_mean
from vqkeras.distribute import replica_scaled
from vqkeras.layers.conv_stack import build_once
from vqkeras.losses.adversarial import adaptive_weight
from vqkeras.losses.adversarial_schedule import AdversarialSchedule
from vqkeras.losses.perceptual_loss import PerceptualLoss
from vqkeras.losses.perceptual_loss import check_image_size
from vqkeras.models.patch_discriminator import PatchDiscriminator
from vqkeras.models.vq_backbone import VQBackbone
from vqkeras.models.vqvae import VQVAE
from vqkeras.utils.validation import check_float

# The one-line constructor's (and older configs') flat arguments → the part they configure, and its argument name.
_SCHEDULE_ARGUMENTS = {"disc_start": "start", "disc_warmup": "warmup", "disc_weight": "weight", "disc_loss": "loss",
                       "r1_weight": "r1_weight", "diff_augment": "diff_augment"}
_DISCRIMINATOR_ARGUMENTS = {"disc_num_layers": "num_layers", "disc_filters": "filters", "disc_norm": "norm"}
_PERCEPTUAL_ARGUMENTS = {"perceptual_backbone": "backbone", "perceptual_layers": "layer_names",
                         "perceptual_image_size": "image_size"}
# Every argument that `VQGAN` takes and `VQVAE` doesn't.
ADVERSARIAL_ARGUMENTS = frozenset(("discriminator", "adversarial", "perceptual_loss", "perceptual_weight",
                                   "codebook_weight", *_SCHEDULE_ARGUMENTS, *_DISCRIMINATOR_ARGUMENTS,
                                   *_PERCEPTUAL_ARGUMENTS))

_GAN_METRICS = (
    "perceptual_loss",
    "generator_adv_loss",
    "discriminator_loss",
    "adaptive_weight",
    "logits_real",
    "logits_fake",
)


# `generator_gradients`' values that `train_step` logs.
_GENERATOR_LOGS = ("loss", "reconstruction_loss", "perceptual_loss", "generator_adv_loss", "adaptive_weight")


def apply_if(condition, optimizer, grads, variables):
    """`optimizer.apply(grads, variables)` if the scalar boolean tensor `condition` holds, else nothing.

    Under a `tf.distribute` strategy that synchronises through `merge_call` (e.g. `MirroredStrategy`), a replica may not
    cross a synchronisation point inside `tf.cond`, and `optimizer.apply` is one (it all-reduces the gradients). There
    the condition is taken in the cross-replica context and the update runs on every replica inside it, as Keras'
    `LossScaleOptimizer` does. `condition` must be the same on every replica.
    """

    def update():
        optimizer.apply(grads, variables)
        return tf.constant(True)

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(condition, update, lambda: tf.constant(False))
        return

    def cross_replica(distribution, condition, grads):
        def update_every_replica():
            distribution.extended.call_for_each_replica(optimizer.apply, args=(grads, variables))
            return tf.constant(True)

        first = distribution.experimental_local_results(condition)[0]
        tf.cond(first, update_every_replica, lambda: tf.constant(False))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(condition, grads))


def take(kwargs, names):
    """The entries of `kwargs` named in `names` (popped), under `names`' new names."""
    return {new: kwargs.pop(old) for old, new in names.items() if old in kwargs}


def make_part(part, flat, build, name, names):
    """`part` (an object or its config), or `build(**flat)` when it is None; `flat` holds the one-line arguments
    under their part's names (`names` maps the one-line names to those)."""
    if part is None:
        return build(**flat)
    if flat:
        given = ", ".join(f"{old}={flat[new]!r}" for old, new in sorted(names.items()) if new in flat)
        raise ValueError(f"Give {name} or its one-line arguments, not both. Received: {name} and {given}")
    return keras.saving.deserialize_keras_object(part) if isinstance(part, dict) and "class_name" in part else part


def perceptual_config(backbone="efficientnet_lite0", layer_names=None, image_size=None):
    """The `PerceptualLoss` config of the one-line arguments, checked (the loss itself is built by `compile`)."""
    if layer_names is not None and (
        isinstance(layer_names, str) or not layer_names or not all(isinstance(n, str) for n in layer_names)
    ):
        raise ValueError(
            "perceptual_layers must be None or a non-empty list of backbone layer names. "
            f"Received: perceptual_layers={layer_names!r}"
        )
    return {"backbone": backbone, "layer_names": None if layer_names is None else list(layer_names),
            "image_size": check_image_size(image_size, "perceptual_image_size")}


@keras.saving.register_keras_serializable(package="vqkeras")
class VQGAN(VQVAE):
    """VQ-GAN (Esser et al. 2021, "Taming Transformers"): a `VQBackbone` trained against a discriminator, with a
    perceptual loss.

    Generator loss (eq. 5–7 of the paper):

    `L_G = L_rec + w_p·L_perc + λ·d·L_adv + w_vq·L_vq`, with `L_rec = mean|x − x̂|`,

    `λ` the adaptive weight and `d` the switch of the `AdversarialSchedule`, `L_nll = L_rec + w_p·L_perc`. The
    discriminator trains as the schedule says, on real images against `sg(x̂)`.

    The parts are objects: the backbone, the discriminator, the schedule and the perceptual loss. The one-line form
    builds them from flat arguments, as before the split: `VQGAN(image_channels=3, disc_start=2000,
    perceptual_weight=0.5)`; `disc_start`, `disc_warmup`, `disc_weight`, `disc_loss`, `r1_weight` and `diff_augment`
    make the `AdversarialSchedule`, `disc_num_layers`, `disc_filters` and `disc_norm` the `PatchDiscriminator`,
    `perceptual_backbone`, `perceptual_layers` and `perceptual_image_size` the `PerceptualLoss`, and the rest goes to
    `VQVAE` (the backbone's arguments, `reconstruction_loss`, `code_regularizer`).

    Args:
        backbone: A `VQBackbone`, or None to build one from `**kwargs`. Defaults to `None`.
        discriminator: A discriminator model (or its config), or None for a `PatchDiscriminator` (`num_layers=3`,
            `filters=64`, `norm="batch"` unless the one-line arguments say otherwise). Defaults to `None`.
        adversarial: An `AdversarialSchedule` (or its config), or None for one from the one-line arguments.
            Defaults to `None`.
        perceptual_loss: A `PerceptualLoss`, its config, or None (an EfficientNet-Lite0 `PerceptualLoss`). A
            config's network is built by `compile`, eagerly and only for training: inference and loading need no
            ImageNet weights. Defaults to `None`.
        perceptual_weight: Float `w_p ≥ 0`. `0` disables the perceptual loss (no network is built). Defaults to `1.0`.
        codebook_weight: Float `w_vq ≥ 0`. Defaults to `1.0`.
        **kwargs: The one-line arguments above, and `VQVAE` arguments.

    Example:

    >>> model = vqkeras.models.VQGAN(image_channels=1, num_embeddings=256, channel_multipliers=(1, 2, 2, 4),
    ...                              disc_start=2000)
    >>> model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
    ...               discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    >>> model.fit(faces, epochs=50)
    """

    def __init__(self, backbone=None, discriminator=None, adversarial=None, perceptual_loss=None,
                 perceptual_weight=1.0, codebook_weight=1.0, **kwargs):
        schedule = take(kwargs, _SCHEDULE_ARGUMENTS)
        discriminator_arguments = take(kwargs, _DISCRIMINATOR_ARGUMENTS)
        perceptual = take(kwargs, _PERCEPTUAL_ARGUMENTS)
        super().__init__(backbone=backbone, **kwargs)
        self.perceptual_weight = check_float("perceptual_weight", perceptual_weight, minimum=0)
        self.codebook_weight = check_float("codebook_weight", codebook_weight, minimum=0)
        self.perceptual_loss = make_part(perceptual_loss, perceptual, perceptual_config, "perceptual_loss",
                                         _PERCEPTUAL_ARGUMENTS)
        if discriminator is not None:  # older configs hold both (the discriminator wins)
            discriminator_arguments = {}
        self.discriminator = make_part(discriminator, discriminator_arguments, self._make_discriminator,
                                       "discriminator", _DISCRIMINATOR_ARGUMENTS)
        self.adversarial = make_part(adversarial, schedule, AdversarialSchedule, "adversarial", _SCHEDULE_ARGUMENTS)
        self.diff_augment = self.adversarial.diff_augment  # tracked here: its state is saved with the model
        # Built by compile(), eagerly and only for training: inference and loading need no backbone weights.
        self.perceptual = None
        self.discriminator_optimizer = None
        self.trackers.update({name: keras.metrics.Mean(name=name) for name in _GAN_METRICS})

    @staticmethod
    def _make_discriminator(num_layers=3, filters=64, norm="batch"):
        return PatchDiscriminator(num_layers=num_layers, filters=filters, norm=norm, name="discriminator")

    @classmethod
    def from_vqvae(cls, vqvae, **kwargs):
        """A VQGAN that continues a trained `VQVAE`: taming's two phases, reconstruction first, then adversarial.

        The new model has a copy of `vqvae`'s backbone (encoder, 1×1 convs, quantizer with its EMA state, decoder), so
        it reconstructs and tokenizes exactly as `vqvae` does until it trains, and `vqvae` stays as it is (to train
        the same backbone instead, pass it: `VQGAN(backbone=vqvae.backbone, ...)`). Its discriminator is new. Its
        reconstruction loss, code regulariser and dtype policy are `vqvae`'s unless `kwargs` sets them.

        Args:
            vqvae: A built `VQVAE` (or `VQGAN`).
            **kwargs: `VQGAN` arguments but the backbone's.

        Returns:
            A built, uncompiled `VQGAN`.

        Raises:
            TypeError: if `vqvae` is not a `VQVAE`.
            ValueError: if `vqvae` is not built, or if `kwargs` sets a backbone argument.

        Example:

        >>> gan = vqkeras.models.VQGAN.from_vqvae(vqvae, perceptual_backbone="mobilenet_v2", disc_start=0)
        """
        if not isinstance(vqvae, VQVAE):
            raise TypeError(f"vqvae must be a vqkeras VQVAE. Received: vqvae of type {type(vqvae).__name__}")
        if not vqvae.built:
            raise ValueError(
                "vqvae must be built (trained, or `build((None, H, W, C))` called) to continue it. "
                f"Received: an unbuilt {type(vqvae).__name__} named {vqvae.name!r}"
            )
        carried = {"reconstruction_loss": vqvae.reconstruction_loss, "dtype": vqvae.dtype_policy}
        if not {"code_entropy_weight", "code_entropy_temperature"} & set(kwargs):
            carried["code_regularizer"] = vqvae.code_regularizer
        gan = cls(backbone=VQBackbone.from_config(vqvae.backbone.get_config()), **{**carried, **kwargs})
        gan.build((None, None, None, vqvae.image_channels))
        gan.backbone.set_weights(vqvae.backbone.get_weights())
        return gan

    def compile(self, optimizer="adam", discriminator_optimizer=None, **kwargs):
        """Configures both players. `optimizer` trains the generator, `discriminator_optimizer` the discriminator.

        Raises:
            ValueError: if `discriminator_optimizer` is missing.
        """
        if discriminator_optimizer is None:
            raise ValueError(
                "VQGAN.compile() needs a discriminator_optimizer, e.g. "
                "discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5). "
                "Received: discriminator_optimizer=None"
            )
        super().compile(optimizer=optimizer, **kwargs)
        discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            discriminator_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            # As Keras does for `optimizer`: float16 gradients need dynamic loss scaling.
            discriminator_optimizer = keras.optimizers.LossScaleOptimizer(discriminator_optimizer)
        self.discriminator_optimizer = discriminator_optimizer
        if self.perceptual is None and self.perceptual_weight > 0:
            loss = self.perceptual_loss
            self.perceptual = loss if isinstance(loss, PerceptualLoss) else PerceptualLoss(**loss)
        if self.built:
            self._build_discriminator_optimizer()

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.saving.serialize_keras_object(self.discriminator_optimizer)
        return config

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            # Create both optimizers' variables now, so that `load_model` restores their state.
            self.optimizer.build(self.generator_variables)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def build(self, input_shape):
        super().build(input_shape)
        build_once(self.discriminator, input_shape)
        self._build_discriminator_optimizer()

    def build_for_training(self, input_shape):
        if not self.built:
            self.build(input_shape)
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.generator_variables)
        self._build_discriminator_optimizer()

    def _build_discriminator_optimizer(self):
        # Outside the train step: under tf.distribute, optimizer variables must not be created in a replica context.
        if self.discriminator_optimizer is not None and not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def generator_variables(self):
        """Trainable variables of the encoder, quantizer and decoder (everything but the discriminator)."""
        excluded = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in excluded]

    def generator_losses(self, images):
        """The forward pass and the generator's losses, for a tape: `forward`'s dict plus `reconstruction_loss`,
        `perceptual_loss`, `nll_loss` (`L_rec + w_p·L_perc`) and `generator_adv_loss` (`L_adv`)."""
        out = self.forward(images, training=True)
        fake = out["reconstructions"]
        reconstruction_loss = self.reconstruction_error(images, fake)
        perceptual_loss = tf.reduce_mean(self.perceptual(images, fake)) if self.perceptual is not None else tf.zeros(())
        # Inference-mode D: the generator's pass must not move D's normalisation statistics.
        fake_logits = tf.cast(self.discriminator(self.adversarial.augment(fake), training=False), "float32")
        return {
            **out,
            "reconstruction_loss": reconstruction_loss,
            "perceptual_loss": perceptual_loss,
            "nll_loss": reconstruction_loss + self.perceptual_weight * perceptual_loss,
            "generator_adv_loss": self.adversarial.generator_loss_fn(fake_logits),
        }

    def generator_gradients(self, images, adversarial_factor):
        """Gradients of `scale·L_G` for `generator_variables` (`scale`: the optimizer's loss scale over the replicas),
        with `generator_losses`' dict plus `adaptive_weight` (`λ`) and `loss` (`L_G`).

        `λ`'s last-layer gradients repeat part of the update's backward pass; in graph mode TensorFlow computes the
        shared part once, so backpropagating each loss network once by hand is no faster.
        """
        with tf.GradientTape(persistent=True) as tape:
            out = self.generator_losses(images)
            with tape.stop_recording():
                # λ from the global gradients (replica means), so every replica uses the one-device weight.
                kernel = self.decoder.conv_out.kernel
                nll_grads = replica_mean(tape.gradient(out["nll_loss"], kernel))
                adv_grads = replica_mean(tape.gradient(out["generator_adv_loss"], kernel))
                out["adaptive_weight"] = self.adversarial.weight * adaptive_weight(nll_grads, adv_grads)
            out["loss"] = (
                out["nll_loss"]
                + out["adaptive_weight"] * adversarial_factor * out["generator_adv_loss"]
                + self.codebook_weight * out["vq_loss"]
            )
            scaled_loss = self.optimizer.scale_loss(replica_scaled(out["loss"]))
        return tape.gradient(scaled_loss, self.generator_variables), out

    def train_step(self, data):
        images = self.checked_images(data)
        step = self.optimizer.iterations
        disc_on = self.adversarial.discriminator_on(step)
        adversarial_factor = self.adversarial.adversarial_factor(step)
        discriminator_variables = self.discriminator.trainable_variables
        # 1. Encode, quantize, decode; the generator's losses and its update, on its own variables only.
        grads, out = self.generator_gradients(images, adversarial_factor)
        self.optimizer.apply(grads, self.generator_variables)

        # 2. Discriminator update on real vs sg(fake), from the schedule's start on.
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(discriminator_variables)
        fake = tf.stop_gradient(out["reconstructions"])

        def discriminator_gradients():
            real = self.adversarial.augment(images)
            with tf.GradientTape() as d_tape:
                d_loss, real_logits, fake_logits = self.adversarial.discriminator_loss(self.discriminator, real, fake)
                scaled_d_loss = self.discriminator_optimizer.scale_loss(replica_scaled(d_loss))
            d_grads = d_tape.gradient(scaled_d_loss, discriminator_variables)
            return d_grads, d_loss, tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits)

        def idle():
            return [tf.zeros_like(v) for v in discriminator_variables], tf.zeros(()), tf.zeros(()), tf.zeros(())

        # The forward pass (and BatchNorm's statistics) only from disc_start on. The branches hold no cross-replica
        # synchronisation; the update, which has one (gradient all-reduce), is gated by `apply_if`.
        d_grads, d_loss, logits_real, logits_fake = tf.cond(disc_on, discriminator_gradients, idle)
        apply_if(disc_on, self.discriminator_optimizer, d_grads, discriminator_variables)
        return self.update_trackers(
            images,
            out,
            **{name: out[name] for name in _GENERATOR_LOGS},
            discriminator_loss=d_loss,
            logits_real=logits_real,
            logits_fake=logits_fake,
        )

    def get_config(self):
        perceptual_loss = self.perceptual_loss
        config = {
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "adversarial": keras.saving.serialize_keras_object(self.adversarial),
            "perceptual_loss": perceptual_loss if isinstance(perceptual_loss, dict) else perceptual_loss.get_config(),
            "perceptual_weight": self.perceptual_weight,
            "codebook_weight": self.codebook_weight,
        }
        return {**super().get_config(), **config}
