"""DiffAugment against NumPy ports of the authors' transforms (Zhao et al. 2020, `DiffAugment_pytorch.py`)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.layers import DiffAugment


def images(n=3, h=16, w=12, c=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, h, w, c)).astype("float32")


def numpy_color(x, b, s, c):
    """Brightness, saturation, contrast with per-image factors, as the authors write them (NCHW there)."""
    x = x + b[:, None, None, None]
    mean = x.mean(axis=3, keepdims=True)
    x = (x - mean) * s[:, None, None, None] + mean
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * c[:, None, None, None] + mean


def numpy_translation(x, shifts):
    """The authors' index grid: pad by one zero pixel, clamp `i + t + 1` to `[0, H + 1]`, gather."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    grid_b, grid_y, grid_x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    grid_y = np.clip(grid_y + shifts[:, 0, None, None] + 1, 0, h + 1)
    grid_x = np.clip(grid_x + shifts[:, 1, None, None] + 1, 0, w + 1)
    return padded[grid_b, grid_y, grid_x]


def numpy_cutout(x, offsets, ratio=0.5):
    """The authors' mask: a `size` box of indices `offset − size//2 + k`, clamped to the image, set to zero."""
    n, h, w, _ = x.shape
    size = int(h * ratio + 0.5), int(w * ratio + 0.5)
    grid_b, grid_y, grid_x = np.meshgrid(np.arange(n), np.arange(size[0]), np.arange(size[1]), indexing="ij")
    grid_y = np.clip(grid_y + offsets[:, 0, None, None] - size[0] // 2, 0, h - 1)
    grid_x = np.clip(grid_x + offsets[:, 1, None, None] - size[1] // 2, 0, w - 1)
    mask = np.ones((n, h, w), x.dtype)
    mask[grid_b, grid_y, grid_x] = 0
    return x * mask[..., None]


def draws_for(layer, n, **values):
    draws = {"apply": tf.ones((n, len(layer.policy)), "bool")}
    for key, value in values.items():
        draws[key] = tf.constant(value)
    return draws


def test_color_matches_numpy():
    x = images()
    b, s, c = (np.array(v, "float32") for v in ([-0.4, 0.0, 0.3], [0.2, 1.0, 1.9], [0.6, 1.0, 1.4]))
    layer = DiffAugment("color")
    out = layer.augment(x, draws_for(layer, 3, brightness=b, saturation=s, contrast=c))
    np.testing.assert_allclose(out.numpy(), numpy_color(x, b, s, c), rtol=1e-5, atol=1e-5)
    assert not np.allclose(out.numpy(), x)


def test_translation_matches_numpy_with_fixed_offsets():
    x = images(4)
    shifts = np.array([[2, -2], [-2, 1], [0, 0], [1, 2]], "int32")  # |t| ≤ int(16·0.125 + 0.5) = 2
    layer = DiffAugment(["translation"])
    out = layer.augment(x, draws_for(layer, 4, translation=shifts)).numpy()
    np.testing.assert_array_equal(out, numpy_translation(x, shifts))
    np.testing.assert_array_equal(out[2], x[2])
    np.testing.assert_array_equal(out[0, :14, 2:], x[0, 2:, :10])  # out[i, j] = x[i + 2, j − 2]
    assert (out[0, 14:] == 0).all() and (out[0, :, :2] == 0).all()


def test_cutout_matches_numpy_with_fixed_boxes():
    x = images(4, h=16, w=11)  # 8×6 box (int(5.5 + 0.5)); centres at the corners, inside, and at the far edge
    offsets = np.array([[0, 0], [8, 5], [16, 11], [3, 10]], "int32")
    layer = DiffAugment("cutout")
    out = layer.augment(x, draws_for(layer, 4, cutout=offsets)).numpy()
    np.testing.assert_array_equal(out, numpy_cutout(x, offsets))
    assert (out[1, 4:12, 2:8] == 0).all() and (out[1, :4] == x[1, :4]).all()


def test_policy_composes_in_order_and_probability_selects_images():
    x = images(4)
    layer = DiffAugment("translation,cutout,color")
    values = dict(translation=np.array([[1, -1]] * 4, "int32"), cutout=np.array([[5, 5]] * 4, "int32"),
                  brightness=np.full(4, 0.25, "float32"), saturation=np.full(4, 0.5, "float32"),
                  contrast=np.full(4, 1.2, "float32"))
    apply = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]], bool)
    draws = {**draws_for(layer, 4, **values), "apply": tf.constant(apply)}
    out = layer.augment(x, draws).numpy()
    for i, (t, cut, col) in enumerate(apply):
        expected = x[i : i + 1]
        expected = numpy_translation(expected, values["translation"][i : i + 1]) if t else expected
        expected = numpy_cutout(expected, values["cutout"][i : i + 1]) if cut else expected
        if col:
            expected = numpy_color(expected, *(values[k][i : i + 1] for k in ("brightness", "saturation", "contrast")))
        np.testing.assert_allclose(out[i : i + 1], expected, rtol=1e-5, atol=1e-6)


def test_identity_at_probability_zero_and_outside_training():
    x = images()
    np.testing.assert_array_equal(DiffAugment(probability=0.0, seed=1)(x).numpy(), x)
    np.testing.assert_array_equal(DiffAugment(seed=1)(x, training=False).numpy(), x)
    assert not np.allclose(DiffAugment(seed=1)(x).numpy(), x)


def test_draws_lie_in_their_ranges_and_change_between_calls():
    layer = DiffAugment(seed=3, probability=0.5)
    shape = (2000, 16, 11, 1)
    first, second = layer.sample_draws(shape), layer.sample_draws(shape)
    assert not np.array_equal(first["brightness"].numpy(), second["brightness"].numpy())
    d = {k: v.numpy() for k, v in first.items()}
    assert -0.5 <= d["brightness"].min() and d["brightness"].max() < 0.5
    assert 0 <= d["saturation"].min() and d["saturation"].max() < 2
    assert 0.5 <= d["contrast"].min() and d["contrast"].max() < 1.5
    # shifts: int(16·0.125 + 0.5) = 2 rows, int(11·0.125 + 0.5) = 1 column, every value drawn
    assert set(np.unique(d["translation"][:, 0])) == {-2, -1, 0, 1, 2}
    assert set(np.unique(d["translation"][:, 1])) == {-1, 0, 1}
    # box centres: [0, 16 + 1 − 8 % 2) rows = 0..16, [0, 11 + 1 − 6 % 2) columns = 0..11
    assert set(np.unique(d["cutout"][:, 0])) == set(range(17))
    assert set(np.unique(d["cutout"][:, 1])) == set(range(12))
    assert 0.45 < d["apply"].mean() < 0.55


def test_gradients_through_every_transform_match_the_numerical_jacobian():
    x = images(2, 8, 8, 1)
    layer = DiffAugment()
    draws = draws_for(layer, 2, brightness=np.array([0.3, -0.2], "float32"), saturation=np.array([1.5, 0.5], "float32"),
                      contrast=np.array([0.7, 1.3], "float32"), translation=np.array([[1, -1], [0, 1]], "int32"),
                      cutout=np.array([[2, 6], [7, 0]], "int32"))
    theoretical, numerical = tf.test.compute_gradient(lambda t: layer.augment(t, draws), [tf.constant(x)], delta=1e-2)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=2e-3)
    # Cut-out and shifted-out pixels carry no gradient of their own, only the colour means' share.
    assert np.abs(theoretical[0]).max() > 0.5


def test_gradients_flow_through_random_draws():
    x = tf.constant(images(2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(DiffAugment(seed=0)(x) * tf.constant(images(2, seed=1)))
    assert np.abs(tape.gradient(loss, x).numpy()).max() > 0


def test_float16_inputs_stay_float16():
    x = tf.constant(images(2), "float16")
    layer = DiffAugment(seed=0, dtype="mixed_float16")
    out = layer(x)
    assert out.dtype == tf.float16 and np.isfinite(out.numpy()).all()


def test_keras_round_trip_keeps_the_config_and_the_seed(tmp_path):
    kwargs = dict(policy=["cutout", "color"], probability=0.7, translation_ratio=0.25, cutout_ratio=0.3, seed=5)
    layer = DiffAugment(**kwargs)
    model = keras.Sequential([keras.Input((8, 8, 1)), layer])
    x = images(2, 8, 8, 1)
    path = tmp_path / "augment.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True).layers[0]
    assert json.dumps(restored.get_config()) == json.dumps(layer.get_config())
    # The seed generator's state is not a weight (as in Keras' own random layers): draws restart from the seed.
    np.testing.assert_array_equal(restored(x).numpy(), DiffAugment(**kwargs)(x).numpy())
    assert not np.array_equal(restored(x).numpy(), x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(policy="colour"), "policy="),
        (dict(policy=[]), "policy="),
        (dict(policy=("color", "color")), "policy="),
        (dict(probability=1.5), "probability=1.5"),
        (dict(translation_ratio=0), "translation_ratio=0"),
        (dict(cutout_ratio=2.0), "cutout_ratio=2.0"),
        (dict(seed=1.5), "seed=1.5"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiffAugment(**kwargs)
