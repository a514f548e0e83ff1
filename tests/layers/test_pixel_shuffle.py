import keras
import numpy as np
import pytest

from vqkeras.layers import PixelShuffle


def pixel_shuffle_reference(x, r):
    """`y[b, r·i + p, r·j + q, k] = x[b, i, j, (r·p + q)·c + k]`, by explicit loops."""
    b, h, w, channels = x.shape
    c = channels // (r * r)
    y = np.zeros((b, h * r, w * r, c), x.dtype)
    for i in range(h):
        for j in range(w):
            for p in range(r):
                for q in range(r):
                    y[:, r * i + p, r * j + q, :] = x[:, i, j, (r * p + q) * c:(r * p + q + 1) * c]
    return y


@pytest.mark.parametrize("factor", [2, 3])
def test_matches_the_numpy_reference(factor):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 2 * factor * factor)).astype("float32")
    y = PixelShuffle(factor)(x).numpy()
    assert y.shape == (2, 3 * factor, 4 * factor, 2)
    np.testing.assert_array_equal(y, pixel_shuffle_reference(x, factor))


def test_output_shape_and_config_round_trip():
    layer = PixelShuffle(2, name="ps")
    assert layer.compute_output_shape((None, 7, None, 32)) == (None, 14, None, 8)
    clone = PixelShuffle.from_config(layer.get_config())
    assert clone.factor == 2 and clone.name == "ps"


@pytest.mark.parametrize("factor", [1, 0, 2.5])
def test_bad_factor_is_rejected_with_the_value(factor):
    with pytest.raises(ValueError, match=f"factor={factor}"):
        PixelShuffle(factor)


def test_channels_not_divisible_by_factor_squared_are_rejected_with_the_shape():
    with pytest.raises(ValueError, match=r"divisible by 4.*\(1, 2, 2, 6\)"):
        PixelShuffle(2)(np.zeros((1, 2, 2, 6), "float32"))


def test_is_differentiable():
    import tensorflow as tf

    x = tf.Variable(np.random.default_rng(1).normal(size=(1, 2, 2, 8)).astype("float32"))
    weights = tf.constant(np.random.default_rng(2).normal(size=(1, 4, 4, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(PixelShuffle(2)(x) * weights)
    # The gradient is the inverse rearrangement of the weights (space to depth).
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), tf.nn.space_to_depth(weights, 2).numpy())
    assert keras.ops.shape(PixelShuffle(2)(x)) == (1, 4, 4, 2)
