"""LFQ / BSQ against a NumPy reference: signs, indices, entropy loss (grouped and exact), commitment, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests.quantizers.conftest import keras_round_trip
from vqkeras.quantizers import LFQ


def numpy_codebook(d, value):
    bits = (np.arange(2**d)[:, None] >> np.arange(d - 1, -1, -1)) & 1
    return (2.0 * bits - 1.0) * value


def numpy_entropy(p):
    return -(p * np.log(np.maximum(p, 1e-5))).sum(-1)


def numpy_lfq(x, tau, gamma, value):
    """(indices, per-sample entropy, batch entropy) over the full 2^d codebook, in float64."""
    d = x.shape[1]
    logits = 2 * tau * x @ numpy_codebook(d, value).T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    indices = ((x > 0) * 2 ** np.arange(d - 1, -1, -1)).sum(1)
    return indices, numpy_entropy(p).mean(), numpy_entropy(p.mean(0))


@pytest.mark.parametrize("spherical", [False, True])
def test_forward_indices_and_losses_match_numpy_with_one_group(spherical, rng):
    x = rng.normal(size=(300, 6)).astype("float32") * 0.1
    lfq = LFQ(6, entropy_weight=0.3, commitment_weight=0.7, diversity_gamma=1.5, inverse_temperature=20.0,
              spherical=spherical, codebook_scale=1.5)
    out = lfq.quantize_with_stats(x)
    x64 = x.astype("float64")
    value = 1.5 / np.sqrt(6) if spherical else 1.5
    if spherical:
        x64 = 1.5 * x64 / np.linalg.norm(x64, axis=1, keepdims=True)
    indices, per_sample, batch = numpy_lfq(x64, 20.0, 1.5, value)
    q = np.where(x64 > 0, value, -value)
    np.testing.assert_array_equal(out["indices"].numpy(), indices)
    np.testing.assert_allclose(out["quantized"].numpy(), q, atol=1e-6)
    np.testing.assert_allclose(out["per_sample_entropy"].numpy(), per_sample, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["batch_entropy"].numpy(), batch, rtol=1e-5)
    np.testing.assert_allclose(out["losses"]["entropy_loss"].numpy(), 0.3 * (per_sample - 1.5 * batch), rtol=1e-4)
    np.testing.assert_allclose(out["losses"]["commitment_loss"].numpy(), 0.7 * np.mean((x64 - q) ** 2), rtol=1e-5)
    if spherical:
        np.testing.assert_allclose(np.linalg.norm(out["quantized"].numpy(), axis=1), 1.5, rtol=1e-6)
    np.testing.assert_allclose(lfq.indices_to_codes(out["indices"]).numpy(), q, atol=1e-6)


def test_grouped_entropy_is_exact_per_sample_and_bounds_the_batch_term(rng):
    x = rng.normal(size=(400, 8)).astype("float32") * 0.05
    x[:, 4:] += x[:, :4]  # correlated groups: the batch-mean distribution does not factorise
    exact = LFQ(8, inverse_temperature=10.0)
    grouped = LFQ(8, inverse_temperature=10.0, entropy_group_bits=3)
    assert grouped.group_sizes == (3, 3, 2)
    per_sample_exact, batch_exact = (v.numpy() for v in exact.entropy_terms(tf.constant(x)))
    per_sample, batch = (v.numpy() for v in grouped.entropy_terms(tf.constant(x)))
    np.testing.assert_allclose(per_sample, per_sample_exact, rtol=1e-4)
    # Sum of the groups' marginal entropies, from NumPy marginals of the full distribution.
    logits = 20.0 * x.astype("float64") @ numpy_codebook(8, 1.0).T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).mean(0)
    codes = np.arange(256)
    marginals = [np.bincount(codes >> 5, weights=p), np.bincount((codes >> 2) & 7, weights=p),
                 np.bincount(codes & 3, weights=p)]
    np.testing.assert_allclose(batch, sum(numpy_entropy(m) for m in marginals), rtol=1e-5)
    assert batch > batch_exact + 1e-3  # the stated bound, strict for correlated groups


def test_straight_through_gradient(rng):
    x = tf.Variable(rng.normal(size=(32, 5)).astype("float32"))
    w = rng.normal(size=(32, 5)).astype("float32")
    lfq = LFQ(5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(lfq.quantize_with_stats(x)["quantized"] * w)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), w, rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_bits": 0}, "num_bits=0"),
    ({"num_bits": 31}, "num_bits=31"),
    ({"num_bits": 4.0}, "num_bits=4.0"),
    ({"num_bits": 4, "inverse_temperature": 0}, "inverse_temperature=0"),
    ({"num_bits": 4, "entropy_weight": -1}, "entropy_weight=-1"),
    ({"num_bits": 4, "entropy_group_bits": 0}, "entropy_group_bits=0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LFQ(**kwargs)


def test_wrong_width_and_out_of_range_indices():
    lfq = LFQ(4, embedding_dim=8)
    with pytest.raises(ValueError, match=r"embedding_dim=8.*inputs.shape=\(2, 4\)"):
        lfq(np.zeros((2, 4), "float32"))
    lfq.build((None, 8))
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        lfq.indices_to_codes(np.array([16]))


def test_keras_round_trip(rng, tmp_path):
    z = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    keras_round_trip(LFQ(5, embedding_dim=6, spherical=True, name="lfq"), z, tmp_path)
