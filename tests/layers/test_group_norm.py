"""`GroupNorm` computes Keras' `GroupNormalization` (same weights and config) against a float64 NumPy reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.layers import GroupNorm


def numpy_group_norm(x, groups, gamma, beta, epsilon):
    """Float64 group normalization of channels-last `x`."""
    x64 = x.astype("float64")
    grouped = x64.reshape(x.shape[0], -1, groups, x.shape[-1] // groups)
    mean = grouped.mean(axis=(1, 3), keepdims=True)
    variance = ((grouped - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(variance + epsilon)).reshape(x.shape)
    return normalized * gamma + beta


def layer_pair(groups, shape, rng, **kwargs):
    """`(ours, Keras', gamma, beta)`, built for inputs of `shape`, with the same random gamma and beta."""
    ours, theirs = GroupNorm(groups, **kwargs), keras.layers.GroupNormalization(groups, **kwargs)
    channels = shape[-1]
    gamma, beta = rng.normal(1.0, 0.3, channels), rng.normal(0.0, 0.3, channels)
    for layer in (ours, theirs):
        layer.build(shape)
        layer.set_weights([gamma.astype("float32"), beta.astype("float32")])
    return ours, theirs, gamma, beta


@pytest.fixture(params=["axis by axis", "small images"])
def path(request, monkeypatch):
    """Both computations: axis by axis at every size, and Keras' one reduction below the size threshold."""
    if request.param == "axis by axis":
        monkeypatch.setattr(GroupNorm, "AXIS_BY_AXIS_MIN_POSITIONS", 0)
    return request.param


@pytest.mark.parametrize("shape, groups", [((2, 8, 8, 16), 4), ((3, 5, 7, 12), 3), ((2, 10, 32), 8), ((2, 4, 6, 2, 8), 2)])
def test_matches_numpy_for_every_rank(shape, groups, path):
    rng = np.random.default_rng(0)
    x = (rng.normal(0.5, 2.0, shape) + rng.normal(0.0, 3.0, shape[-1])).astype("float32")
    ours, _, gamma, beta = layer_pair(groups, shape, rng, epsilon=1e-6)
    np.testing.assert_allclose(ours(x).numpy(), numpy_group_norm(x, groups, gamma, beta, 1e-6), atol=2e-5)


def test_small_images_take_the_keras_graph_and_large_ones_the_axis_by_axis_one():
    def mean_ops(layer, shape):
        graph = tf.function(layer).get_concrete_function(tf.TensorSpec(shape)).graph
        return sum(op.type == "Mean" for op in graph.get_operations())

    small, large = (1, 31, 33, 8), (1, 32, 32, 8)  # 1,023 and 1,024 positions
    assert mean_ops(GroupNorm(4), small) == mean_ops(keras.layers.GroupNormalization(4), small) == 2
    assert mean_ops(GroupNorm(4), large) == 6  # three means (h, w, the group) for each moment
    assert mean_ops(GroupNorm(4), (1, None, None, 8)) == 6  # unknown sizes: the accurate path


def test_large_images_stay_accurate():
    """At 128×128 positions per image the statistics sum over 16,384 × (C/G) values: ours sums `w`, then `h` terms,
    and stays within 2e-6 of float64, where a single sum over all of them in float32 drifts."""
    rng = np.random.default_rng(1)
    x = (rng.normal(0.5, 2.0, (1, 128, 128, 64)) + rng.normal(0.0, 3.0, 64)).astype("float32")
    ours, theirs, gamma, beta = layer_pair(32, x.shape, rng, epsilon=1e-6)
    reference = numpy_group_norm(x, 32, gamma, beta, 1e-6)
    error = np.abs(ours(x).numpy() - reference).max()
    assert error < 2e-6, error
    assert error <= np.abs(theirs(x).numpy() - reference).max()


def test_gradients_equal_keras_group_normalization(path):
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(0.3, 1.5, (2, 6, 6, 16)).astype("float32"))
    weights = tf.constant(rng.normal(size=(2, 6, 6, 16)).astype("float32"))
    gradients = []
    for layer in layer_pair(4, x.shape, rng, epsilon=1e-5)[:2]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * weights)
        gradients.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for ours, theirs in zip(*gradients):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)


def test_weights_and_config_are_keras_group_normalization():
    """Files of models built with Keras' layer load into ours: the same weight names, shapes and config."""
    ours, theirs, _, _ = layer_pair(4, (None, 4, 4, 16), np.random.default_rng(3), epsilon=1e-6, name="norm")
    assert isinstance(ours, keras.layers.GroupNormalization)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights] == ["norm/gamma", "norm/beta"]
    assert ours.get_config() == theirs.get_config()
    clone = keras.layers.deserialize(keras.layers.serialize(ours))
    assert type(clone) is GroupNorm and clone.get_config() == ours.get_config()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_statistics_are_float32_under_mixed_precision(dtype, path):
    """Inputs of magnitude 300 square to 9e4, above float16's range: the statistics are float32 (as in Keras), the
    output is finite, in the compute dtype, and Keras' layer's."""
    x = np.random.default_rng(4).normal(300.0, 20.0, (2, 4, 4, 8)).astype("float32")
    assert np.square(x).max() > np.finfo("float16").max
    ours, theirs = (cls(2, epsilon=1e-6, dtype=f"mixed_{dtype}") for cls in (GroupNorm, keras.layers.GroupNormalization))
    out = ours(x)
    assert out.dtype == dtype and np.all(np.isfinite(np.asarray(out, "float32")))
    assert np.abs(np.asarray(out, "float32")).max() < 4.0  # normalized, not overflowed
    np.testing.assert_allclose(np.asarray(out, "float32"), np.asarray(theirs(x), "float32"), atol=1e-2)


def test_other_axes_take_the_keras_computation():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 8, 5, 5)).astype("float32")
    ours, theirs = GroupNorm(4, axis=1), keras.layers.GroupNormalization(4, axis=1)
    np.testing.assert_array_equal(ours(x).numpy(), theirs(x).numpy())
