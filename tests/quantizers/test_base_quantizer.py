"""Behaviour shared by both quantizers: distances, lookups, gradients, dtypes, errors, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.layers import VectorQuantizer
from vqkeras.layers import VectorQuantizerEMA

QUANTIZERS = [VectorQuantizerEMA, VectorQuantizer]


def numpy_distances(z, e):
    return ((z[:, None, :] - e[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("cls", QUANTIZERS)
def test_distances_and_argmin_match_numpy(cls):
    rng = np.random.default_rng(0)
    vq = cls(num_embeddings=37, embedding_dim=6)
    z = rng.normal(size=(50, 6)).astype("float32")
    vq.build(z.shape)
    e = vq.embeddings.numpy()
    expected = numpy_distances(z.astype("float64"), e.astype("float64"))
    np.testing.assert_allclose(vq.compute_distances(z).numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(vq.get_code_indices(z).numpy(), expected.argmin(1))


@pytest.mark.parametrize("cls", QUANTIZERS)
def test_chunked_lookup_equals_single_matmul(cls):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 11, 13, 4)).astype("float32")
    whole = cls(num_embeddings=16, embedding_dim=4, seed=3)
    chunked = cls(num_embeddings=16, embedding_dim=4, seed=3, max_distance_elements=16 * 7)
    whole.build(z.shape)
    chunked.build(z.shape)
    chunked.embeddings.assign(whole.embeddings)
    expected = numpy_distances(z.reshape(-1, 4), whole.embeddings.numpy()).argmin(1).reshape(3, 11, 13)
    np.testing.assert_array_equal(chunked.get_code_indices(z).numpy(), expected)
    # Also inside a graph with an unknown batch size (the tf.cond / map_fn path).
    fn = tf.function(chunked.get_code_indices, input_signature=[tf.TensorSpec((None, 11, 13, 4), tf.float32)])
    np.testing.assert_array_equal(fn(z).numpy(), expected)


@pytest.mark.parametrize("cls", QUANTIZERS)
@pytest.mark.parametrize("options", [{}, {"l2_normalize": True}, {"codebook_dim": 3}, {"codebook_dim": 3, "l2_normalize": True}])
def test_entries_of_indices_equal_quantized_output(cls, options):
    z = np.random.default_rng(2).normal(size=(2, 5, 5, 8)).astype("float32")
    vq = cls(num_embeddings=20, embedding_dim=8, **options)
    quantized = vq(z, training=False)
    assert quantized.shape == z.shape
    indices = vq.get_code_indices(z)
    assert indices.dtype == tf.int32 and indices.shape == (2, 5, 5)
    np.testing.assert_allclose(vq.get_codebook_entries(indices).numpy(), quantized.numpy(), atol=1e-5)


@pytest.mark.parametrize("cls", QUANTIZERS)
def test_straight_through_gradient_equals_output_gradient(cls):
    z = tf.Variable(np.random.default_rng(3).normal(size=(4, 3, 3, 8)).astype("float32"))
    upstream = tf.constant(np.random.default_rng(4).normal(size=(4, 3, 3, 8)).astype("float32"))
    vq = cls(num_embeddings=10, embedding_dim=8)
    with tf.GradientTape() as tape:
        quantized = vq(z, training=False)
        objective = tf.reduce_sum(quantized * upstream)
    np.testing.assert_allclose(tape.gradient(objective, z).numpy(), upstream.numpy(), rtol=1e-6)


@pytest.mark.parametrize("cls", QUANTIZERS)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_maths(cls, policy):
    keras.mixed_precision.set_global_policy(policy)
    vq = cls(num_embeddings=32, embedding_dim=8, codebook_dim=4)
    # Large values: the squared norms overflow float16 (max 65504) unless the distances are float32.
    z = tf.constant(np.random.default_rng(5).normal(scale=200.0, size=(2, 4, 4, 8)), dtype=vq.compute_dtype)
    out = vq.quantize_with_stats(z, training=True)
    assert out["quantized"].dtype == z.dtype
    assert vq.embeddings.dtype == "float32"
    flat = vq._to_lookup_space(z)
    distances = vq.compute_distances(flat)
    assert distances.dtype == tf.float32
    assert np.all(np.isfinite(distances.numpy()))
    assert np.isfinite(out["loss"].numpy()) and out["loss"].dtype == tf.float32
    assert np.all(np.isfinite(vq.embeddings.numpy()))
    assert np.all(np.isfinite(tf.cast(out["quantized"], tf.float32).numpy()))


@pytest.mark.parametrize("cls", QUANTIZERS)
def test_bad_arguments_name_the_argument_and_value(cls):
    with pytest.raises(ValueError, match="num_embeddings=1"):
        cls(num_embeddings=1, embedding_dim=4)
    with pytest.raises(ValueError, match="commitment_cost=-0.5"):
        cls(num_embeddings=4, embedding_dim=4, commitment_cost=-0.5)
    with pytest.raises(ValueError, match="decay=1.0"):
        cls(num_embeddings=4, embedding_dim=4, decay=1.0)
    with pytest.raises(ValueError, match="decay=-0.1"):
        cls(num_embeddings=4, embedding_dim=4, decay=-0.1)
    with pytest.raises(ValueError, match="gradient_estimator was removed.*gradient_estimator='rotation'"):
        cls(num_embeddings=4, embedding_dim=4, gradient_estimator="rotation")
    assert "gradient_estimator" not in cls(num_embeddings=4, embedding_dim=4,
                                           gradient_estimator="straight_through").get_config()
    vq = cls(num_embeddings=4, embedding_dim=4)
    with pytest.raises(ValueError, match=r"embedding_dim=4.*inputs.shape=\(2, 5\)"):
        vq(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="inputs.dtype=int32"):
        vq.get_code_indices(np.zeros((2, 4), "int32"))


@pytest.mark.parametrize("cls", QUANTIZERS)
def test_keras_round_trip_in_a_functional_model(cls, tmp_path):
    inputs = keras.Input((4, 4, 6))
    outputs = cls(num_embeddings=12, embedding_dim=6, codebook_dim=3, name="vq")(keras.layers.Dense(6)(inputs))
    model = keras.Model(inputs, outputs)
    z = np.random.default_rng(6).normal(size=(3, 4, 4, 6)).astype("float32")
    model(z, training=True)  # change the state away from its initial values
    path = tmp_path / "vq.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(z).numpy(), model(z).numpy())
    for a, b in zip(model.get_layer("vq").weights, loaded.get_layer("vq").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.get_layer("vq").get_config() == model.get_layer("vq").get_config()


@pytest.mark.parametrize("cls", QUANTIZERS)
def test_metrics_surface_in_fit_logs(cls):
    inputs = keras.Input((4, 4, 6))
    outputs = cls(num_embeddings=12, embedding_dim=6)(keras.layers.Dense(6)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    z = np.random.default_rng(7).normal(size=(8, 4, 4, 6)).astype("float32")
    logs = model.fit(z, z, epochs=1, batch_size=4, verbose=0).history
    for name in ("perplexity", "codebook_usage", "codebook_alive"):
        assert name in logs and 0 < logs[name][0] <= (12 if name == "perplexity" else 1)


def numpy_code_entropy(z, e, temperature=None):
    d = numpy_distances(z, e)
    if temperature is None:
        two = np.sort(d, 1)[:, :2]
        temperature = (two[:, 1] - two[:, 0]).mean()
    soft = np.exp(-(d - d.min(1, keepdims=True)) / temperature)
    mean = (soft / soft.sum(1, keepdims=True)).mean(0)
    return -(mean * np.log(mean + 1e-10)).sum()


@pytest.mark.parametrize("cls", QUANTIZERS)
@pytest.mark.parametrize("temperature", [None, 0.5, 4.0])
def test_code_entropy_matches_numpy_and_its_gradient_lowers_it(cls, temperature):
    rng = np.random.default_rng(8)
    vq = cls(num_embeddings=16, embedding_dim=4, seed=1)
    z = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    vq.build(z.shape)
    vq.embeddings.assign(rng.normal(size=(16, 4)))  # spread like the inputs (the initial codebook is tiny)
    expected = numpy_code_entropy(z.reshape(-1, 4).astype("float64"), vq.embeddings.numpy().astype("float64"),
                                  temperature)
    assert 0 < expected < np.log(16)
    np.testing.assert_allclose(vq.code_entropy(z, temperature).numpy(), expected, rtol=1e-4)
    # A few gradient steps on the inputs alone concentrate them on fewer codes: lower entropy, lower perplexity.
    variable = tf.Variable(z)
    before = float(vq.quantize_with_stats(variable)["perplexity"])
    for _ in range(30):
        with tf.GradientTape() as tape:
            entropy = vq.code_entropy(variable, temperature)
        variable.assign_sub(10.0 * tape.gradient(entropy, variable))
    assert float(vq.code_entropy(variable, temperature)) < expected - 0.04
    assert float(vq.quantize_with_stats(variable)["perplexity"]) < before


def integer_codebook(k, d, rng):
    """`k` codes with small integer entries, repeated so that rows tie within and across groups of codes."""
    distinct = rng.integers(-3, 4, size=(max(2, k // 3), d))
    return np.concatenate([distinct, distinct, distinct, distinct])[:k].astype("float32")


@pytest.mark.parametrize("cls", QUANTIZERS)
@pytest.mark.parametrize("k", [37, 40, 96, 128])  # plain argmin (gcd with 64 < 8); groups of 8, 32 and 64 codes
@pytest.mark.parametrize("max_distance_elements", [None, 7])  # one piece; chunks of 7 rows (+ a padded last one)
def test_nearest_code_is_numpy_first_argmin_with_ties(cls, k, max_distance_elements):
    # Integer vectors: every distance is exact in float32, and many tie, so the index must be the first minimum
    # (NumPy's argmin) whatever the chunking and the grouping of the argmin.
    rng = np.random.default_rng(k)
    z = rng.integers(-3, 4, size=(203, 4)).astype("float32")
    codebook = integer_codebook(k, 4, rng)
    options = {} if max_distance_elements is None else {"max_distance_elements": k * max_distance_elements}
    vq = cls(num_embeddings=k, embedding_dim=4, **options)
    vq.build(z.shape)
    vq.embeddings.assign(codebook)
    distances = numpy_distances(z.astype("float64"), codebook.astype("float64"))
    expected = distances.argmin(1)
    assert (np.sort(distances, 1)[:, 1] == distances.min(1)).mean() > 0.5  # ties are common
    np.testing.assert_array_equal(vq.get_code_indices(z).numpy(), expected)
    fn = tf.function(vq.get_code_indices, input_signature=[tf.TensorSpec((None, 4), tf.float32)])
    np.testing.assert_array_equal(fn(z).numpy(), expected)
    np.testing.assert_array_equal(vq.quantize_with_stats(z, training=False)["indices"].numpy(), expected)


@pytest.mark.parametrize("cls", QUANTIZERS)
@pytest.mark.parametrize("k", [37, 128])
def test_nearest_code_skips_nan_scores_like_argmin(cls, k):
    # A NaN code is never the nearest; a NaN input row (all its scores NaN) gets index 0: what tf.argmin gives.
    # The NaN codes sit among the first 64 codes only, so a search that skipped their whole group would go wrong.
    rng = np.random.default_rng(9)
    z = rng.integers(-3, 4, size=(50, 4)).astype("float32")
    z[7, 2] = np.nan
    codebook = rng.integers(-3, 4, size=(k, 4)).astype("float32")
    codebook[[0, 5], 1] = np.nan
    vq = cls(num_embeddings=k, embedding_dim=4, max_distance_elements=k * 16)
    vq.build(z.shape)
    vq.embeddings.assign(codebook)
    distances = numpy_distances(z.astype("float64"), codebook.astype("float64"))
    expected = np.where(np.isnan(distances).all(1), 0, np.nanargmin(np.where(np.isnan(distances), np.inf, distances), 1))
    assert expected[7] == 0 and not np.isin(expected[np.arange(50) != 7], [0, 5]).any()
    assert (expected[np.arange(50) != 7] < 64).sum() > 5
    np.testing.assert_array_equal(vq.get_code_indices(z).numpy(), expected)
