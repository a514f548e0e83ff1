import urllib.error

import keras
import numpy as np
import pytest

from vqkeras.metrics import EfficientNetLite0Features
from vqkeras.metrics import InceptionV3Features
from vqkeras.metrics import WeightsUnavailableError
from vqkeras.metrics import compute_features
from vqkeras.metrics import fid
from vqkeras.metrics import kid
from vqkeras.metrics.feature_extractors import INCEPTION_NOTOP_FILE


@pytest.fixture(scope="module")
def extractor():
    # The offline ImageNet weights (cached, or converted once from the installed weights package); 32×32 inputs
    # keep it fast. Random weights would not do: ReLU6 + BatchNorm at init give near-constant features.
    return EfficientNetLite0Features(image_size=32)


def test_efficientnet_features_shape_name_and_grayscale_to_rgb(extractor):
    gray = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28, 1)).astype("float32")
    assert extractor.name == "FID (EfficientNet-Lite0)"
    assert tuple(extractor.prepare(gray).shape) == (3, 32, 32, 3)
    features = compute_features(gray, extractor, verbose=0)
    assert features.shape == (3, 1280)
    np.testing.assert_allclose(features, compute_features(np.repeat(gray, 3, -1), extractor, verbose=0), rtol=1e-5)


def test_fid_of_a_set_with_itself_is_zero_and_positive_for_another_set(extractor):
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (12, 28, 28, 1)).astype("float32")
    assert fid(images, images, extractor, batch_size=5, verbose=0) == pytest.approx(0.0, abs=1e-6)
    darker = np.clip(images * 0.3 - 0.6, -1, 1)
    assert fid(images, darker, extractor, verbose=0) > 1e-3


def test_kid_of_images_uses_the_extractor(extractor):
    rng = np.random.default_rng(2)
    images = rng.uniform(-1, 1, (10, 28, 28, 1)).astype("float32")
    same = kid(images, images, extractor, verbose=0, num_subsets=3)
    other = kid(images, np.full_like(images, -1.0), extractor, verbose=0, num_subsets=3)
    assert abs(same["kid"]) < other["kid"]


def test_inception_without_cached_weights_and_no_download_raises(tmp_path):
    with pytest.raises(WeightsUnavailableError, match=INCEPTION_NOTOP_FILE):
        InceptionV3Features(allow_download=False, cache_dir=str(tmp_path))


def test_inception_download_failure_gives_a_clear_error(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.applications, "InceptionV3", no_network)
    with pytest.raises(WeightsUnavailableError, match="Could not download the InceptionV3"):
        InceptionV3Features(cache_dir=str(tmp_path))
