import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.losses import adaptive_weight
from vqkeras.losses import get_disc_loss
from vqkeras.losses import get_gen_loss
from vqkeras.losses import hinge_d_loss
from vqkeras.losses import hinge_g_loss
from vqkeras.losses import non_saturating_d_loss
from vqkeras.losses import non_saturating_g_loss
from vqkeras.losses import r1_penalty
from vqkeras.losses import vanilla_d_loss
from vqkeras.losses import vanilla_g_loss


def _softplus(x):
    return np.logaddexp(0.0, x)


def _logits(seed, shape=(4, 6, 6, 1)):
    return np.random.default_rng(seed).normal(scale=2.0, size=shape)


def _np(x):
    return float(keras.ops.convert_to_numpy(x))


def test_hinge_losses_match_numpy():
    real, fake = _logits(0), _logits(1)
    expected_d = 0.5 * (np.maximum(0, 1 - real).mean()
                        + np.maximum(0, 1 + fake).mean())
    np.testing.assert_allclose(
        _np(hinge_d_loss(real.astype("float32"), fake.astype("float32"))),
        expected_d, rtol=1e-5)
    np.testing.assert_allclose(_np(hinge_g_loss(fake.astype("float32"))),
                               -fake.mean(), rtol=1e-5, atol=1e-6)
    # Confident, correct logits have zero hinge loss.
    assert _np(hinge_d_loss(np.full((2, 3), 2.0), np.full((2, 3), -2.0))) == 0


def test_vanilla_and_non_saturating_losses_match_numpy():
    real, fake = _logits(2), _logits(3)
    expected_d = 0.5 * (_softplus(-real).mean() + _softplus(fake).mean())
    bce = 0.5 * (-np.log(1 / (1 + np.exp(-real))).mean()
                 - np.log(1 - 1 / (1 + np.exp(-fake))).mean())
    np.testing.assert_allclose(expected_d, bce, rtol=1e-6)
    r32, f32 = real.astype("float32"), fake.astype("float32")
    np.testing.assert_allclose(_np(vanilla_d_loss(r32, f32)), expected_d,
                               rtol=1e-5)
    np.testing.assert_allclose(_np(non_saturating_d_loss(r32, f32)),
                               expected_d, rtol=1e-5)
    # Minimax generator loss: mean log(1 - sigmoid(D(fake))).
    np.testing.assert_allclose(
        _np(vanilla_g_loss(f32)),
        np.log(1 - 1 / (1 + np.exp(-fake))).mean(), rtol=1e-5)
    # Non-saturating: -mean log sigmoid(D(fake)).
    np.testing.assert_allclose(
        _np(non_saturating_g_loss(f32)),
        -np.log(1 / (1 + np.exp(-fake))).mean(), rtol=1e-5)


def test_losses_are_float32_for_float16_logits():
    fake = _logits(4).astype("float16")
    for name in ("hinge", "vanilla", "non_saturating"):
        assert keras.ops.dtype(get_disc_loss(name)(fake, fake)) == "float32"
        assert keras.ops.dtype(get_gen_loss(name)(fake)) == "float32"


def test_lookup():
    assert get_disc_loss("hinge") is hinge_d_loss
    assert get_gen_loss("hinge") is hinge_g_loss
    assert get_disc_loss("vanilla") is vanilla_d_loss
    assert get_gen_loss("vanilla") is vanilla_g_loss
    assert get_gen_loss("non-saturating") is non_saturating_g_loss
    assert get_disc_loss("non_saturating") is non_saturating_d_loss
    with pytest.raises(ValueError, match="Unknown adversarial loss 'wgan'"):
        get_disc_loss("wgan")
    with pytest.raises(ValueError, match="hinge"):
        get_gen_loss("lsgan")


def test_adaptive_weight_matches_numpy():
    rng = np.random.default_rng(0)
    nll = rng.normal(size=(3, 3, 8, 3)).astype("float32")
    g = rng.normal(scale=0.1, size=(3, 3, 8, 3)).astype("float32")
    expected = np.linalg.norm(nll) / (np.linalg.norm(g) + 1e-4)
    np.testing.assert_allclose(_np(adaptive_weight(nll, g)), expected,
                               rtol=1e-5)
    # A list of tensors is one vector (global norm).
    bias_nll = rng.normal(size=(3,)).astype("float32")
    bias_g = rng.normal(size=(3,)).astype("float32")
    expected = np.sqrt((nll**2).sum() + (bias_nll**2).sum()) / (
        np.sqrt((g**2).sum() + (bias_g**2).sum()) + 1e-4)
    np.testing.assert_allclose(
        _np(adaptive_weight([nll, bias_nll], [g, bias_g])), expected,
        rtol=1e-5)
    # Clipping: a zero generator gradient gives ||nll|| / delta, clipped.
    np.testing.assert_allclose(
        _np(adaptive_weight(nll, np.zeros_like(g))), 1e4, rtol=1e-6)
    np.testing.assert_allclose(
        _np(adaptive_weight(nll * 1e-6, np.zeros_like(g), delta=1.0)),
        np.linalg.norm(nll) * 1e-6, rtol=1e-4)
    np.testing.assert_allclose(
        _np(adaptive_weight(nll, np.zeros_like(g), max_value=10.0)), 10.0)


def test_adaptive_weight_stops_gradient():
    nll = tf.Variable([1.0, 2.0])
    g = tf.Variable([0.5, 0.5])
    with tf.GradientTape() as tape:
        weight = adaptive_weight(nll * 1.0, g * 1.0)
    grads = tape.gradient(weight, [nll, g])
    assert all(grad is None or np.all(grad.numpy() == 0) for grad in grads)


def test_r1_linear_discriminator_is_exact():
    # D(x) = conv(x, w) with one 2x2 kernel and no bias: dΣD/dx at each
    # pixel is the sum of the kernel taps that touch it.
    kernel = np.random.default_rng(0).normal(size=(2, 2, 1, 1))
    discriminator = keras.Sequential([
        keras.Input((3, 3, 1), dtype="float64"),
        keras.layers.Conv2D(1, 2, use_bias=False, dtype="float64"),
    ])
    discriminator.layers[0].kernel.assign(kernel)
    k = kernel[:, :, 0, 0]
    grad = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            grad[i:i + 2, j:j + 2] += k
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 1))
    np.testing.assert_allclose(
        _np(r1_penalty(discriminator, x)), (grad**2).sum(), rtol=1e-5)


def test_r1_matches_finite_differences():
    keras.utils.set_random_seed(0)
    discriminator = keras.Sequential([
        keras.Input((4, 4, 2), dtype="float64"),
        keras.layers.Conv2D(3, 3, activation="tanh", dtype="float64"),
        keras.layers.Conv2D(1, 2, dtype="float64"),
    ])
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 2))

    def total(images):
        return float(np.sum(discriminator(images).numpy(), axis=(1, 2, 3))
                     .sum())

    eps = 1e-6
    squared_norms = []
    for b in range(2):
        grad = np.zeros(x.shape[1:])
        for idx in np.ndindex(*x.shape[1:]):
            plus, minus = x.copy(), x.copy()
            plus[(b,) + idx] += eps
            minus[(b,) + idx] -= eps
            grad[idx] = (total(plus) - total(minus)) / (2 * eps)
        squared_norms.append((grad**2).sum())
    np.testing.assert_allclose(
        _np(r1_penalty(discriminator, x)), np.mean(squared_norms), rtol=1e-5)


def test_r1_is_differentiable_in_the_discriminator_weights():
    discriminator = keras.Sequential([
        keras.Input((4, 4, 1)),
        keras.layers.Conv2D(2, 3, activation="tanh"),
        keras.layers.Conv2D(1, 2),
    ])
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 1)).astype("float32")
    with tf.GradientTape() as tape:
        penalty = r1_penalty(discriminator, x)
    grads = tape.gradient(penalty, discriminator.trainable_variables)
    kernel_grads = [g for g, v in zip(grads, discriminator.trainable_variables)
                    if "kernel" in v.path]
    assert all(g is not None and np.abs(g.numpy()).sum() > 0
               for g in kernel_grads)
