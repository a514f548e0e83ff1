import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.data import load_images
from vqkeras.data import preprocess_image


def _images(n=24, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def _collect(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


def test_numpy_ranges_are_detected():
    images = _images()
    expected = images / 127.5 - 1.0
    for source in (images, images / 255.0, images / 127.5 - 1.0, images.astype(np.int64)):
        out = _collect(load_images(source, 8, batch_size=5, shuffle=False))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_numpy_without_channel_axis():
    out = _collect(load_images(_images(channels=1)[..., 0], 8, shuffle=False))
    assert out.shape == (24, 8, 8, 1)


@pytest.mark.parametrize(
    "source,match",
    [
        (np.full((2, 4, 4, 1), np.nan, dtype=np.float32), "NaN"),
        (np.full((2, 4, 4, 1), 200.0), r"\[0, 1\] or \[-1, 1\]"),
        (np.full((2, 4, 4, 1), -5, dtype=np.int32), r"\[0, 255\]"),
        (np.zeros((2, 4, 4, 5), dtype=np.uint8), "shape"),
        (np.zeros((0, 4, 4, 1), dtype=np.uint8), "empty"),
    ],
)
def test_bad_numpy_input(source, match):
    with pytest.raises(ValueError, match=match):
        load_images(source, 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"image_size": 0}, "Received: image_size=0"),
        ({"image_size": -8}, "Received: image_size=-8"),
        ({"image_size": (8,)}, r"Received: image_size=\(8,\)"),
        ({"image_size": "8"}, "Received: image_size='8'"),
        ({"image_size": 8, "batch_size": 0}, "Received: batch_size=0"),
        ({"image_size": 8, "channels": 2}, "Received: channels=2"),
        ({"image_size": 8, "split": "test"}, "Received: split='test'"),
        ({"image_size": 8, "image_key": "image"}, "Received: image_key='image'"),
    ],
)
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_images(_images(), **kwargs)


def test_batches_and_drop_remainder():
    shapes = [b.shape for b in load_images(_images(n=10), (6, 4), batch_size=4, seed=0)]
    assert shapes == [(4, 6, 4, 3), (4, 6, 4, 3), (2, 6, 4, 3)]
    dataset = load_images(_images(n=10), 8, batch_size=4, seed=0, drop_remainder=True)
    assert [b.shape[0] for b in dataset] == [4, 4]
    assert dataset.element_spec.shape.as_list() == [4, 8, 8, 3]


def test_same_seed_same_stream_and_epochs_differ():
    images = _images(n=64)

    def two_epochs(seed):
        dataset = load_images(images, 8, batch_size=16, seed=seed, augment=True)
        return _collect(dataset), _collect(dataset)

    first, second = two_epochs(7), two_epochs(7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])  # Reshuffled and re-flipped per epoch.
    assert not np.array_equal(first[0], two_epochs(8)[0])
    # Shuffling only reorders: the same multiset of images.
    unshuffled = _collect(load_images(images, 8, shuffle=False))
    np.testing.assert_allclose(np.sort(first[0].ravel()), np.sort(unshuffled.ravel()))


@pytest.mark.parametrize("global_seed", [0, 3])
def test_order_ignores_a_global_seed(global_seed):
    images = _images(n=32)
    plain = _collect(load_images(images, 8, batch_size=8, seed=5))
    keras.utils.set_random_seed(global_seed)  # 0 once failed inside TF's seed resolution
    np.testing.assert_array_equal(_collect(load_images(images, 8, batch_size=8, seed=5)), plain)


def test_augment_flips_some_images_left_right():
    images = _images(n=64, seed=3)
    plain = _collect(load_images(images, 8, shuffle=False))
    flipped = _collect(load_images(images, 8, shuffle=False, augment=True, seed=0))
    same = np.all(flipped == plain, axis=(1, 2, 3))
    mirrored = np.all(flipped == plain[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored)
    assert 10 < mirrored.sum() < 54


def test_channel_conversion():
    gray = _images(n=4, channels=1)
    rgb = _collect(load_images(gray, 8, channels=3, shuffle=False))
    assert rgb.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_allclose(rgb[..., 1], gray[..., 0] / 127.5 - 1.0, atol=1e-6)

    red = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    red[..., 0] = 255
    luma = _collect(load_images(red, 4, channels=1, shuffle=False))
    assert luma.shape == (2, 4, 4, 1)
    np.testing.assert_allclose(luma, 2 * 0.2989 - 1.0, atol=1e-3)

    rgba = np.concatenate([_images(n=2), np.full((2, 8, 8, 1), 7, np.uint8)], axis=-1)
    out = _collect(load_images(rgba, 8, shuffle=False))
    np.testing.assert_allclose(out, rgba[..., :3] / 127.5 - 1.0, atol=1e-6)


def test_preprocess_centre_crop():
    # A 112x92 image: the square crop keeps rows 10-101, as for the ORL faces.
    image = np.arange(112 * 92).reshape(112, 92, 1) % 251
    image = image.astype(np.uint8)
    out = preprocess_image(image, 92).numpy()
    np.testing.assert_allclose(out, image[10:102] / 127.5 - 1.0, atol=1e-6)
    # A non-square target keeps its aspect ratio: 112x92 -> 46x92 crop for (23, 46).
    wide = preprocess_image(image, (46, 92)).numpy()
    np.testing.assert_allclose(wide, image[33:79] / 127.5 - 1.0, atol=1e-6)
    batch = preprocess_image(np.stack([image, image]), 46)
    assert batch.shape == (2, 46, 46, 1)


def test_resize_is_antialiased():
    # Alternate black and white columns. A 3x downsample without antialiasing picks
    # single columns (all black or all white); with it, each output is a weighted average
    # (triangle kernel over 6 columns): grey, within 1/9 of the mean.
    stripes = np.zeros((48, 48, 1), dtype=np.uint8)
    stripes[:, ::2] = 255
    out = preprocess_image(stripes, 16).numpy()
    np.testing.assert_allclose(out, 0.0, atol=0.12)
    upsampled = preprocess_image(np.full((28, 28, 1), 128, np.uint8), 32).numpy()
    np.testing.assert_allclose(upsampled, 128 / 127.5 - 1.0, atol=1e-6)


def test_inside_tf_function():
    fn = tf.function(lambda x: preprocess_image(x, 4, channels=3))
    out = fn(tf.zeros((6, 8, 1), tf.uint8))
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out.numpy(), -1.0)


def test_images_already_at_size_skip_the_resize_with_the_same_result():
    """Static 28×28 inputs take the short path (no crop, no resize); unknown sizes take the crop-and-resize path.
    Both give the NumPy reference x / 127.5 − 1."""
    images = _images(n=3, size=28, channels=1)
    expected = images / 127.5 - 1.0
    short = preprocess_image(images, 28)
    general = tf.function(lambda x: preprocess_image(x, 28), input_signature=[
        tf.TensorSpec((None, None, None, 1), tf.uint8)])(images)
    traced = tf.function(lambda x: preprocess_image(x, 28)).get_concrete_function(
        tf.TensorSpec((None, 28, 28, 1), tf.uint8)).graph.get_operations()
    assert not any("ScaleAndTranslate" in op.type for op in traced)  # the short path has no resize kernel
    for out in (short, general):
        assert out.shape == (3, 28, 28, 1)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
