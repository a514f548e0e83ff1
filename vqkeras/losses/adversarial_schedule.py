"""AdversarialSchedule: when and how a VQ-GAN's discriminator trains and enters the generator's loss."""

import keras
import tensorflow as tf

from vqkeras.layers.diff_augment import DiffAugment
from vqkeras.losses.adversarial import get_disc_loss
from vqkeras.losses.adversarial import get_gen_loss
from vqkeras.losses.adversarial import r1_penalty
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


def make_diff_augment(diff_augment):
    """None, a `DiffAugment` layer (returned as is), its config, or a policy such as `("color", "cutout")`."""
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


@keras.saving.register_keras_serializable(package="vqkeras")
class AdversarialSchedule:
    """The adversarial part of a VQ-GAN's objective (Esser et al. 2021, eq. 5–7): when the discriminator trains, when
    and how strongly its loss enters the generator's, which loss it is, and what the discriminator sees.

    The discriminator trains from generator step `start` on, on real images `x` against `sg(x̂)`, with
    `L_D = loss_D(D(x), D(x̂)) + r1_weight/2 · R1` (`R1 = E‖∇_x D(x)‖²` on the real images, Mescheder et al. 2018).
    The generator's adversarial term `λ·d·L_adv` has `d = 0` before `start + warmup` steps and 1 after, and
    `λ = weight · clip(‖∇_w L_nll‖ / (‖∇_w L_adv‖ + 1e-4), 0, 1e4)` (the adaptive weight, `w` the decoder's last
    kernel). The warm-up lets the discriminator learn before its loss enters the generator, which avoids taming's
    switch-on collapse.

    With `diff_augment`, the discriminator sees only augmented images, real and fake, in its own step and in the
    generator's adversarial term (fresh draws each time), so `L_adv`, `λ`'s gradient and R1 all go through the
    augmentation (Zhao et al. 2020): for small data sets, where the discriminator otherwise memorises the real images.

    Args:
        start: Integer ≥ 0. Generator steps before the discriminator trains. Defaults to `10000`.
        warmup: Integer ≥ 0. Further steps before `L_adv` enters the generator. Defaults to `0`.
        weight: Float ≥ 0. Scale of the adaptive weight `λ`. Defaults to `0.8`.
        loss: `"hinge"`, `"vanilla"` or `"non_saturating"` (`vqkeras.losses.adversarial`). Defaults to `"hinge"`.
        r1_weight: Float ≥ 0. `γ` of the R1 penalty `γ/2·R1`. Defaults to `0.0` (off).
        diff_augment: None (off), a `DiffAugment` layer, or its policy (`("color", "translation", "cutout")` or
            `"color,translation,cutout"`). Defaults to `None`.

    Example:

    >>> schedule = vqkeras.losses.AdversarialSchedule(start=2000, warmup=500, weight=0.3, diff_augment="color,cutout")
    >>> gan = vqkeras.models.VQGAN(backbone=backbone, adversarial=schedule)
    """

    def __init__(self, start=10000, warmup=0, weight=0.8, loss="hinge", r1_weight=0.0, diff_augment=None):
        self.start = check_int("disc_start", start, minimum=0)
        self.warmup = check_int("disc_warmup", warmup, minimum=0)
        self.weight = check_float("disc_weight", weight, minimum=0)
        self.r1_weight = check_float("r1_weight", r1_weight, minimum=0)
        self.discriminator_loss_fn = get_disc_loss(loss)
        self.generator_loss_fn = get_gen_loss(loss)
        self.loss = loss
        self.diff_augment = make_diff_augment(diff_augment)

    def discriminator_on(self, step):
        """Boolean tensor: does the discriminator train at generator step `step`?"""
        return step >= self.start

    def adversarial_factor(self, step):
        """`d`: float32 1 once `L_adv` enters the generator's loss (`step ≥ start + warmup`), else 0."""
        return tf.cast(step >= self.start + self.warmup, "float32")

    def augment(self, images):
        """`images` as the discriminator sees them: through `diff_augment` (fresh draws) when it is set."""
        return images if self.diff_augment is None else self.diff_augment(images, training=True)

    def discriminator_loss(self, discriminator, real, fake):
        """`L_D` on (augmented) real images `real` and fakes `fake` (augmented here), plus `r1_weight/2·R1` on `real`;
        returns `(L_D, real_logits, fake_logits)`, the logits in float32."""
        real_logits = tf.cast(discriminator(real, training=True), "float32")
        fake_logits = tf.cast(discriminator(self.augment(fake), training=True), "float32")
        loss = self.discriminator_loss_fn(real_logits, fake_logits)
        if self.r1_weight > 0:
            loss += 0.5 * self.r1_weight * r1_penalty(discriminator, real)
        return loss, real_logits, fake_logits

    def get_config(self):
        return {
            "start": self.start,
            "warmup": self.warmup,
            "weight": self.weight,
            "loss": self.loss,
            "r1_weight": self.r1_weight,
            "diff_augment": None if self.diff_augment is None else keras.saving.serialize_keras_object(
                self.diff_augment),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
