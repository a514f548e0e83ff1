"""VQGAN with `diff_augment`: the discriminator sees augmented real and fake images in both players' steps."""

import json

import keras
import numpy as np
import tensorflow as tf

from tests.models.test_vqgan import compiled
from tests.models.test_vqgan import images
from tests.models.test_vqgan import manual_adaptive_weight
from tests.models.test_vqgan import manual_generator_losses
from tests.models.test_vqgan import tiny_vqgan
from vqkeras.layers import DiffAugment

POLICY = ("color", "translation", "cutout")


def test_off_by_default_and_built_from_a_policy():
    assert tiny_vqgan().diff_augment is None
    model = tiny_vqgan(diff_augment="color,cutout")
    assert isinstance(model.diff_augment, DiffAugment) and model.diff_augment.policy == ("color", "cutout")
    assert tiny_vqgan(diff_augment=list(POLICY)).diff_augment.policy == POLICY


def test_generator_step_goes_through_the_augmentation():
    """The adaptive weight and the update are those of `L_adv` on the augmented fakes: the first draws of the
    model's layer, replayed here from a twin layer with the same seed."""
    x = images(4)
    model = tiny_vqgan(quantizer="gradient", disc_weight=0.7, disc_norm="none",
                       diff_augment=DiffAugment(POLICY, seed=4))
    model.compile(optimizer=keras.optimizers.SGD(1.0), discriminator_optimizer=keras.optimizers.SGD(0.0))
    model.build(x.shape)
    twin = DiffAugment(POLICY, seed=4)
    draws = twin.sample_draws(x.shape)  # the generator's term draws first in a train step

    def augment(fake):
        return twin.augment(fake, draws)

    weight = manual_adaptive_weight(model, x, 0.7, 0.0, augment)
    assert abs(weight - manual_adaptive_weight(model, x, 0.7, 0.0)) > 1e-3 * weight  # the augmentation matters
    variables = model.generator_variables
    with tf.GradientTape() as tape:
        _, adv, _ = manual_generator_losses(model, x, 0.0, augment)
    # Gradients of the adversarial term reach the decoder and the encoder through the augmentation.
    ends = [model.decoder.conv_out.kernel, model.encoder.trainable_variables[0]]
    assert all(np.abs(g.numpy()).max() > 0 for g in tape.gradient(adv, ends))
    with tf.GradientTape() as tape:
        nll, adv, vq_loss = manual_generator_losses(model, x, 0.0, augment)
        total = nll + weight * adv + vq_loss
    expected = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(total, variables)]
    before = [v.numpy().copy() for v in variables]
    logs = model.train_on_batch(x, return_dict=True)
    np.testing.assert_allclose(logs["adaptive_weight"], weight, rtol=1e-5)
    for b, v, g in zip(before, variables, expected):
        np.testing.assert_allclose(b - v.numpy(), g, rtol=1e-3, atol=1e-5, err_msg=v.path)


def test_discriminator_step_sees_augmented_images():
    """Draws 2 and 3 of the layer augment the real and the fake images of the discriminator's step."""
    x = images(4)
    model = compiled(tiny_vqgan(disc_norm="none", diff_augment=DiffAugment(POLICY, seed=7)), lr=0.0)
    model.build(x.shape)
    # A fresh discriminator's logits are about 1e-4, where the hinge loss barely moves with its inputs: logits
    # scaled to about 1 put the augmented and the plain losses far apart compared with the tolerance below.
    logits = model.discriminator.get_layer("logits")
    logits.kernel.assign(logits.kernel / float(np.abs(model.discriminator(x)).mean()))
    twin = DiffAugment(POLICY, seed=7)
    twin.sample_draws(x.shape)
    real, fake = twin.augment(x, twin.sample_draws(x.shape)), model(x)
    fake = twin.augment(fake, twin.sample_draws(x.shape))
    expected = model.adversarial.discriminator_loss_fn(model.discriminator(real), model.discriminator(fake))
    logs = model.train_on_batch(x, return_dict=True)
    np.testing.assert_allclose(logs["discriminator_loss"], expected.numpy(), rtol=1e-5)
    plain = model.adversarial.discriminator_loss_fn(model.discriminator(x), model.discriminator(model(x)))
    assert abs(float(plain) - float(expected)) > 1e-2 * abs(float(expected))


def test_probability_zero_trains_as_without_augmentation():
    x = images(8)
    runs = []
    for diff_augment in (None, DiffAugment(POLICY, probability=0.0, seed=1)):
        keras.utils.set_random_seed(0)
        model = compiled(tiny_vqgan(diff_augment=diff_augment))
        runs.append((model, model.fit(x, epochs=1, batch_size=4, shuffle=False, verbose=0).history))
    (a, history_a), (b, history_b) = runs
    assert history_a == history_b
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_keras_round_trip_keeps_the_augmentation(tmp_path):
    model = compiled(tiny_vqgan(diff_augment=DiffAugment(["translation", "cutout"], probability=0.5, seed=2)))
    x = images(4)
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "vqgan.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.diff_augment.get_config() == model.diff_augment.get_config()
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(model.get_config()))
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    loaded.fit(x, epochs=1, batch_size=4, verbose=0)


def test_fits_under_mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = compiled(tiny_vqgan(diff_augment=POLICY))
    history = model.fit(images(8), epochs=2, batch_size=4, verbose=0).history
    assert model.diff_augment.compute_dtype == "float16"
    for name, values in history.items():
        assert np.all(np.isfinite(values)), (name, values)
    assert int(model.discriminator_optimizer.inner_optimizer.iterations.numpy()) == 4
