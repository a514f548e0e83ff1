"""FSQ against a NumPy reference: bound, rounding, indices, gradients, dtypes, errors, serialization."""

import numpy as np
import pytest
import tensorflow as tf

from tests.quantizers.conftest import keras_round_trip
from vqkeras.quantizers import FSQ


def numpy_fsq(z, levels, preserve_symmetry=False):
    """(codes, level indices) of float64 z (N, d), written from the paper's formulas."""
    levels = np.asarray(levels, "float64")
    if preserve_symmetry:
        k = np.floor((levels - 1) * (np.tanh(z) + 1) / 2 + 0.5)
        return 2 * k / (levels - 1) - 1, k
    half = (levels - 1) * 1.001 / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    bounded = np.tanh(z + np.arctanh(offset / half)) * half - offset
    rounded = np.round(bounded)
    width = np.floor(levels / 2)
    return rounded / width, rounded + width


def numpy_index(k, levels):
    basis = np.cumprod([1] + list(levels[:-1]))
    return (k * basis).sum(-1).astype("int64")


@pytest.mark.parametrize("levels, symmetric", [([8, 5, 5, 5], False), ([7, 6, 4], False), ([2, 3, 8, 5], True)])
def test_codes_and_indices_match_numpy(levels, symmetric, rng):
    z = (rng.normal(size=(500, len(levels))) * 2).astype("float32")
    fsq = FSQ(levels, preserve_symmetry=symmetric)
    out = fsq.quantize_with_stats(z)
    codes, k = numpy_fsq(z.astype("float64"), levels, symmetric)
    np.testing.assert_allclose(out["quantized"].numpy(), codes, atol=1e-6)
    np.testing.assert_array_equal(out["indices"].numpy(), numpy_index(k, levels))
    assert out["loss"].numpy() == 0.0 and out["losses"] == {}
    # Every code of the grid is reachable and indices_to_codes enumerates it in index order.
    grid = fsq.indices_to_codes(np.arange(fsq.codebook_size)).numpy()
    assert fsq.codebook_size == np.prod(levels) and len(np.unique(grid, axis=0)) == fsq.codebook_size
    np.testing.assert_allclose(grid[out["indices"].numpy()], out["quantized"].numpy(), atol=1e-6)
    for axis, level in enumerate(levels):
        assert len(np.unique(np.round(grid[:, axis], 6))) == level


def test_even_levels_are_offset_and_odd_levels_symmetric():
    fsq = FSQ([4, 5])
    fsq.build((None, 2))
    grid = fsq.indices_to_codes(np.arange(20)).numpy()
    np.testing.assert_allclose(np.unique(grid[:, 0]), [-1.0, -0.5, 0.0, 0.5])
    np.testing.assert_allclose(np.unique(grid[:, 1]), [-1.0, -0.5, 0.0, 0.5, 1.0])


def test_symmetric_levels_are_evenly_spaced_including_two():
    fsq = FSQ([4, 2], preserve_symmetry=True)
    fsq.build((None, 2))
    grid = fsq.indices_to_codes(np.arange(8)).numpy()
    np.testing.assert_allclose(np.unique(grid[:, 0]), [-1.0, -1 / 3, 1 / 3, 1.0], atol=1e-6)
    np.testing.assert_allclose(np.unique(grid[:, 1]), [-1.0, 1.0])


def test_gradient_is_the_bound_derivative_straight_through_the_rounding(rng):
    levels = [8, 5]
    z = rng.normal(size=(64, 2)).astype("float32")
    w = rng.normal(size=(64, 2)).astype("float32")
    fsq = FSQ(levels)
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fsq(zt) * w)
    grad = tape.gradient(loss, zt).numpy()
    lv = np.array(levels, "float64")
    half = (lv - 1) * 1.001 / 2
    shift = np.arctanh(np.where(lv % 2 == 0, 0.5, 0.0) / half)
    expected = w * (1 - np.tanh(z + shift) ** 2) * half / np.floor(lv / 2)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_projections_and_float32_maths_under_bfloat16(rng):
    z = rng.normal(size=(4, 5, 5, 16)).astype("float32")
    fsq32 = FSQ([8, 5, 5, 5], embedding_dim=16)
    fsq16 = FSQ([8, 5, 5, 5], embedding_dim=16, dtype="mixed_bfloat16")
    fsq32.build(z.shape)
    fsq16.build(z.shape)
    for a, b in zip(fsq32.weights, fsq16.weights):
        b.assign(a)
    assert fsq32.project_in is not None
    out16 = fsq16.quantize_with_stats(z)
    assert out16["quantized"].dtype == tf.bfloat16
    # Only the bfloat16 projection differs; the bound and the rounding run in float32.
    inner = tf.cast(fsq16.project_in(z), "float32").numpy().reshape(-1, 4)
    codes, k = numpy_fsq(inner.astype("float64"), [8, 5, 5, 5])
    np.testing.assert_array_equal(out16["indices"].numpy().reshape(-1), numpy_index(k, [8, 5, 5, 5]))


@pytest.mark.parametrize("levels, match", [
    ([8, 1], r"levels=\[8, 1\]"),
    ([8, 2.5], r"levels=\[8, 2.5\]"),
    ([], r"levels=\[\]"),
    (8, "levels=8"),
    ([2, 5], r"preserve_symmetry.*levels=\[2, 5\]"),
])
def test_bad_levels(levels, match):
    with pytest.raises(ValueError, match=match):
        FSQ(levels)


def test_wrong_input_width_and_out_of_range_indices():
    fsq = FSQ([8, 5, 5, 5])
    with pytest.raises(ValueError, match=r"embedding_dim=4.*inputs.shape=\(2, 3\)"):
        fsq(np.zeros((2, 3), "float32"))
    fsq.build((None, 4))
    with pytest.raises(ValueError, match=r"\[0, 1000\).*\[0, 1000\]"):
        fsq.indices_to_codes(np.array([0, 1000]))


def test_usage_state_changes_only_in_training(rng):
    fsq = FSQ([3, 3])
    z = rng.normal(size=(100, 2)).astype("float32") * 3
    fsq(z, training=False)
    assert fsq.usage_ema.numpy().sum() == 0
    out = fsq.quantize_with_stats(z, training=True)
    counts = np.bincount(out["indices"].numpy(), minlength=9)
    np.testing.assert_allclose(fsq.usage_ema.numpy(), 0.01 * counts, rtol=1e-6)
    probs = counts / counts.sum()
    np.testing.assert_allclose(out["perplexity"].numpy(), np.exp(-(probs[probs > 0] * np.log(probs[probs > 0])).sum()),
                               rtol=1e-5)
    np.testing.assert_allclose(out["codebook_usage"].numpy(), (counts > 0).mean())


def test_keras_round_trip(rng, tmp_path):
    z = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    keras_round_trip(FSQ([8, 5, 2], embedding_dim=6, preserve_symmetry=True, name="fsq"), z, tmp_path)
