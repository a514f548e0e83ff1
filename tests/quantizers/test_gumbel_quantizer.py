"""GumbelQuantizer against a NumPy reference: logits, deterministic eval, relaxed samples, KL, schedule, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests.quantizers.conftest import keras_round_trip
from vqkeras.quantizers import GumbelQuantizer


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def built(rng, **kwargs):
    gq = GumbelQuantizer(12, 5, **kwargs)
    gq.build((None, 5))
    return gq


def test_eval_is_the_deterministic_argmax_code_and_kl_matches_numpy(rng):
    gq = built(rng, kl_weight=0.3)
    z = rng.normal(size=(40, 5)).astype("float32")
    kernel, bias = (w.numpy().astype("float64") for w in gq.to_logits.weights)
    logits = z @ kernel + bias
    p = softmax(logits)
    out = gq.quantize_with_stats(z, training=False)
    np.testing.assert_array_equal(out["indices"].numpy(), logits.argmax(1))
    np.testing.assert_allclose(out["quantized"].numpy(), gq.embeddings.numpy()[logits.argmax(1)])
    kl = (p * np.log(p * 12 + 1e-10)).sum(1).mean()
    np.testing.assert_allclose(out["losses"]["kl_loss"].numpy(), 0.3 * kl, rtol=1e-4)
    again = gq.quantize_with_stats(z, training=False)
    np.testing.assert_array_equal(again["quantized"].numpy(), out["quantized"].numpy())
    assert gq.step.numpy() == 0


@pytest.mark.parametrize("hard", [False, True])
def test_training_draws_relaxed_samples_and_anneals(hard, rng):
    gq = built(rng, temperature=2.0, min_temperature=0.5, temperature_decay=0.1, hard=hard, seed=3)
    z = rng.normal(size=(2000, 5)).astype("float32")
    out = gq.quantize_with_stats(z, training=True)
    assert out["temperature"].numpy() == pytest.approx(2.0)
    e = gq.embeddings.numpy()
    q = out["quantized"].numpy()
    if hard:
        np.testing.assert_allclose(q, e[out["indices"].numpy()], atol=1e-6)
    else:  # a convex combination of codes, not a code
        assert np.abs(q - e[out["indices"].numpy()]).max() > 1e-3
    # Sampled indices follow softmax(logits): frequencies of the argmax of Gumbel-perturbed logits.
    logits = z @ gq.to_logits.weights[0].numpy() + gq.to_logits.weights[1].numpy()
    expected = softmax(logits.astype("float64")).mean(0)
    observed = np.bincount(out["indices"].numpy(), minlength=12) / 2000
    np.testing.assert_allclose(observed, expected, atol=0.03)
    for _ in range(30):
        gq.quantize_with_stats(z[:4], training=True)
    np.testing.assert_allclose(gq.current_temperature().numpy(), max(0.5, 2.0 * np.exp(-0.1 * 31)), rtol=1e-6)


def test_gradients_reach_the_projection_and_the_codebook(rng):
    gq = built(rng)
    z = rng.normal(size=(8, 5)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gq.quantize_with_stats(z, training=True)["quantized"] ** 2)
    grads = tape.gradient(loss, gq.trainable_variables)
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_embeddings": 1}, "num_embeddings=1"),
    ({"temperature": 0.0}, "temperature=0.0"),
    ({"temperature_decay": -1.0}, "temperature_decay=-1.0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GumbelQuantizer(**{"num_embeddings": 8, "embedding_dim": 4, **kwargs})


def test_keras_round_trip(rng, tmp_path):
    z = rng.normal(size=(2, 4, 4, 5)).astype("float32")
    keras_round_trip(GumbelQuantizer(12, 5, name="gumbel"), z, tmp_path)
