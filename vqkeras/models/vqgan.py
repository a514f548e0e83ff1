"""VQ-GAN: a VQ-VAE trained with a perceptual loss and a patch discriminator."""

import keras
import tensorflow as tf

from vqkeras.distribute import replica_mean
from vqkeras.distribute import replica_scaled
from vqkeras.layers.conv_stack import build_once
from vqkeras.layers.diff_augment import DiffAugment
from vqkeras.losses.adversarial import adaptive_weight
from vqkeras.losses.adversarial import get_disc_loss
from vqkeras.losses.adversarial import get_gen_loss
from vqkeras.losses.adversarial import r1_penalty
from vqkeras.losses.perceptual_loss import PerceptualLoss
from vqkeras.losses.perceptual_loss import check_image_size
from vqkeras.models.patch_discriminator import PatchDiscriminator
from vqkeras.models.vqvae import VQVAE
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int

# `VQVAE.get_config` keys that `VQGAN.from_vqvae` does not copy as architecture; the `_CARRIED` ones it copies as
# defaults that its `kwargs` may change.
_CARRIED = ("reconstruction_loss", "code_entropy_weight", "code_entropy_temperature")
_CONTINUABLE = ("name", "trainable", "dtype") + _CARRIED

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


@keras.saving.register_keras_serializable(package="vqkeras")
class VQGAN(VQVAE):
    """VQ-GAN (Esser et al. 2021, "Taming Transformers"): `VQVAE`'s encoder, quantizer and decoder, trained against
    a PatchGAN discriminator with a perceptual loss.

    Generator loss (eq. 5–7 of the paper):

    `L_G = L_rec + w_p·L_perc + λ·d·L_adv + w_vq·L_vq`, with `L_rec = mean|x − x̂|`,

    `λ = disc_weight · clip(‖∇_w L_nll‖ / (‖∇_w L_adv‖ + 1e-4), 0, 1e4)`, `L_nll = L_rec + w_p·L_perc`, `w` the
    decoder's last conv kernel and `λ` a constant for the gradient (stop-gradient). `d` is 0 before
    `disc_start + disc_warmup` generator steps and 1 after. The discriminator trains from `disc_start` on real
    images against `sg(x̂)` with `disc_loss` (plus `r1_weight/2 · R1` on real images); the warm-up lets it learn
    before its loss enters the generator, which avoids taming's switch-on collapse.

    Args:
        perceptual_weight: Float. `w_p`. `0` disables the perceptual loss (and its backbone). Defaults to `1.0`.
        perceptual_backbone: `"efficientnet_lite0"` or `"mobilenet_v2"` (offline ImageNet weights; use
            `"mobilenet_v2"` to keep the loss off the FID network) or `"vgg16"`.
        perceptual_image_size: Integer or None. Side the images are resized to before the perceptual backbone
            (`PerceptualLoss(image_size=...)`); None (default) keeps the training size.
        perceptual_layers: List of backbone layer names or None. The layers the perceptual loss compares
            (`PerceptualLoss(layer_names=...)`, e.g. `vqkeras.backbones.mobilenet_v2.block_output_name(i)`); None
            (default) takes the backbone's default layers, the last of each resolution. Fewer, earlier layers
            make the step cheaper: the backbone runs only up to the deepest one.
        disc_weight: Float. Scale of the adaptive weight. Defaults to `0.8`.
        disc_start: Integer. Generator steps before the discriminator trains. Defaults to `10000`.
        disc_warmup: Integer. Further steps before `L_adv` enters the generator. Defaults to `0`.
        codebook_weight: Float. `w_vq`. Defaults to `1.0`.
        disc_loss: `"hinge"`, `"vanilla"` or `"non_saturating"`. Defaults to `"hinge"`.
        r1_weight: Float. Weight `γ` of the R1 penalty `γ/2·E‖∇_x D(x)‖²`. Defaults to `0.0`.
        disc_num_layers: Integer. Strided layers of the `PatchDiscriminator`. Defaults to `3`.
        disc_filters: Integer. Base filters of the discriminator. Defaults to `64`.
        disc_norm: `"batch"`, `"group"` or `"none"`. Defaults to `"batch"`.
        discriminator: Optional discriminator model (overrides the three `disc_*` architecture arguments).
        diff_augment: None (default: off), a `DiffAugment` layer, or its policy (e.g. `("color", "translation",
            "cutout")` or `"color,translation,cutout"`). The discriminator then sees only augmented images, real and
            fake, in its own step and in the generator's adversarial term (fresh draws each time), so `L_adv` and
            `λ`'s gradient `∇_w L_adv` go through the augmentation, and so does R1 (on the augmented real images).
            For small data sets (a few hundred to a few thousand images), where the discriminator otherwise
            memorises the real images (Zhao et al. 2020).
        **kwargs: `VQVAE` arguments (`image_channels`, `num_embeddings`, `latent_dim`, `channel_multipliers`, ...).

    Example:

    >>> model = vqkeras.models.VQGAN(image_channels=1, num_embeddings=256, channel_multipliers=(1, 2, 2, 4),
    ...                              disc_start=2000)
    >>> model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
    ...               discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    >>> model.fit(faces, epochs=50)
    """

    def __init__(
        self,
        perceptual_weight=1.0,
        perceptual_backbone="efficientnet_lite0",
        perceptual_image_size=None,
        perceptual_layers=None,
        disc_weight=0.8,
        disc_start=10000,
        disc_warmup=0,
        codebook_weight=1.0,
        disc_loss="hinge",
        r1_weight=0.0,
        disc_num_layers=3,
        disc_filters=64,
        disc_norm="batch",
        discriminator=None,
        diff_augment=None,
        **kwargs,
    ):
        kwargs.setdefault("reconstruction_loss", "l1")
        super().__init__(**kwargs)
        perceptual_weight, disc_weight, codebook_weight, r1_weight = (
            check_float(name, value, minimum=0) for name, value in (
                ("perceptual_weight", perceptual_weight), ("disc_weight", disc_weight),
                ("codebook_weight", codebook_weight), ("r1_weight", r1_weight)))
        disc_start = check_int("disc_start", disc_start, minimum=0)
        disc_warmup = check_int("disc_warmup", disc_warmup, minimum=0)
        disc_num_layers = check_int("disc_num_layers", disc_num_layers, minimum=1)
        disc_filters = check_int("disc_filters", disc_filters, minimum=1)
        self.d_loss_fn = get_disc_loss(disc_loss)
        self.g_loss_fn = get_gen_loss(disc_loss)
        self.perceptual_weight = float(perceptual_weight)
        self.perceptual_backbone = perceptual_backbone
        self.perceptual_image_size = check_image_size(perceptual_image_size, "perceptual_image_size")
        if perceptual_layers is not None and (
            isinstance(perceptual_layers, str) or not perceptual_layers
            or not all(isinstance(name, str) for name in perceptual_layers)
        ):
            raise ValueError(
                "perceptual_layers must be None or a non-empty list of backbone layer names. "
                f"Received: perceptual_layers={perceptual_layers!r}"
            )
        self.perceptual_layers = None if perceptual_layers is None else list(perceptual_layers)
        self.disc_weight = float(disc_weight)
        self.disc_start = int(disc_start)
        self.disc_warmup = int(disc_warmup)
        self.codebook_weight = float(codebook_weight)
        self.disc_loss = disc_loss
        self.r1_weight = float(r1_weight)
        self.disc_num_layers = int(disc_num_layers)
        self.disc_filters = int(disc_filters)
        self.disc_norm = disc_norm
        if isinstance(discriminator, dict):
            discriminator = keras.saving.deserialize_keras_object(discriminator)
        self.discriminator = discriminator or PatchDiscriminator(
            num_layers=self.disc_num_layers, filters=self.disc_filters, norm=self.disc_norm, name="discriminator"
        )
        self.diff_augment = self._make_diff_augment(diff_augment)
        # Built by compile(), eagerly and only for training: inference and loading need no backbone weights.
        self.perceptual = None
        self.discriminator_optimizer = None
        self.trackers.update({name: keras.metrics.Mean(name=name) for name in _GAN_METRICS})

    @staticmethod
    def _make_diff_augment(diff_augment):
        if diff_augment is None or isinstance(diff_augment, DiffAugment):
            return diff_augment
        if isinstance(diff_augment, dict):
            return keras.saving.deserialize_keras_object(diff_augment)
        if isinstance(diff_augment, (str, list, tuple)):
            return DiffAugment(diff_augment, name="diff_augment")
        raise ValueError(
            "diff_augment must be None, a DiffAugment layer or a policy such as ('color', 'translation', 'cutout'). "
            f"Received: diff_augment={diff_augment!r}"
        )

    def augment_for_discriminator(self, images):
        """`images` as the discriminator sees them: through `diff_augment` (fresh draws) when it is set."""
        return images if self.diff_augment is None else self.diff_augment(images, training=True)

    @classmethod
    def from_vqvae(cls, vqvae, **kwargs):
        """A VQGAN that continues a trained `VQVAE`: taming's two phases, reconstruction first, then adversarial.

        The new model has `vqvae`'s architecture and a copy of its weights (encoder, 1×1 convs, quantizer with its
        EMA state, decoder), so it reconstructs and tokenizes exactly as `vqvae` does until it trains. Its
        discriminator is new. Its reconstruction loss and code-entropy term are `vqvae`'s unless `kwargs` sets them.

        Args:
            vqvae: A built `VQVAE` (or `VQGAN`).
            **kwargs: `VQGAN` arguments (`perceptual_weight`, `disc_weight`, `disc_start`, ...), plus
                `reconstruction_loss`, `code_entropy_weight`, `code_entropy_temperature`, `name` or `dtype`.
                Architecture arguments can't be changed.

        Returns:
            A built, uncompiled `VQGAN`.

        Raises:
            TypeError: if `vqvae` is not a `VQVAE`.
            ValueError: if `vqvae` is not built, or if `kwargs` sets an architecture argument.

        Example:

        >>> gan = vqkeras.models.VQGAN.from_vqvae(vqvae, perceptual_backbone="mobilenet_v2", disc_start=0)
        >>> gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
        ...             discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
        """
        if not isinstance(vqvae, VQVAE):
            raise TypeError(f"vqvae must be a vqkeras VQVAE. Received: vqvae of type {type(vqvae).__name__}")
        if not vqvae.built:
            raise ValueError(
                "vqvae must be built (trained, or `build((None, H, W, C))` called) to copy its weights. "
                f"Received: an unbuilt {type(vqvae).__name__} named {vqvae.name!r}"
            )
        config = VQVAE.get_config(vqvae)
        architecture = {k: v for k, v in config.items() if k not in _CONTINUABLE}
        fixed = sorted(set(kwargs) & set(architecture))
        if fixed:
            raise ValueError(
                f"from_vqvae keeps vqvae's architecture; these arguments can't change: {fixed}. "
                f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in fixed)}"
            )
        gan = cls(**architecture,
                  **{"dtype": vqvae.dtype_policy, **{k: config[k] for k in _CARRIED}, **kwargs})
        gan.build((None, None, None, vqvae.image_channels))
        for part in ("encoder", "pre_quant", "quantizer", "post_quant", "decoder"):
            getattr(gan, part).set_weights(getattr(vqvae, part).get_weights())
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
            self.perceptual = PerceptualLoss(backbone=self.perceptual_backbone, image_size=self.perceptual_image_size,
                                             layer_names=self.perceptual_layers)
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
        fake_logits = tf.cast(self.discriminator(self.augment_for_discriminator(fake), training=False), "float32")
        return {
            **out,
            "reconstruction_loss": reconstruction_loss,
            "perceptual_loss": perceptual_loss,
            "nll_loss": reconstruction_loss + self.perceptual_weight * perceptual_loss,
            "generator_adv_loss": self.g_loss_fn(fake_logits),
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
                out["adaptive_weight"] = self.disc_weight * adaptive_weight(nll_grads, adv_grads)
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
        disc_on = step >= self.disc_start
        adversarial_factor = tf.cast(step >= self.disc_start + self.disc_warmup, "float32")
        discriminator_variables = self.discriminator.trainable_variables
        # 1. Encode, quantize, decode; the generator's losses and its update, on its own variables only.
        grads, out = self.generator_gradients(images, adversarial_factor)
        self.optimizer.apply(grads, self.generator_variables)

        # 2. Discriminator update on real vs sg(fake), from disc_start on.
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(discriminator_variables)
        fake = tf.stop_gradient(out["reconstructions"])

        def discriminator_gradients():
            real = self.augment_for_discriminator(images)
            with tf.GradientTape() as d_tape:
                real_logits = tf.cast(self.discriminator(real, training=True), "float32")
                fake_logits = tf.cast(self.discriminator(self.augment_for_discriminator(fake), training=True),
                                      "float32")
                d_loss = self.d_loss_fn(real_logits, fake_logits)
                if self.r1_weight > 0:
                    d_loss += 0.5 * self.r1_weight * r1_penalty(self.discriminator, real)
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
        config = {
            "perceptual_weight": self.perceptual_weight,
            "perceptual_backbone": self.perceptual_backbone,
            "perceptual_image_size": self.perceptual_image_size,
            "perceptual_layers": self.perceptual_layers,
            "disc_weight": self.disc_weight,
            "disc_start": self.disc_start,
            "disc_warmup": self.disc_warmup,
            "codebook_weight": self.codebook_weight,
            "disc_loss": self.disc_loss,
            "r1_weight": self.r1_weight,
            "disc_num_layers": self.disc_num_layers,
            "disc_filters": self.disc_filters,
            "disc_norm": self.disc_norm,
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "diff_augment": None if self.diff_augment is None else keras.saving.serialize_keras_object(
                self.diff_augment),
        }
        return {**super().get_config(), **config}
