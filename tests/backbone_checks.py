"""Checks shared by the tests of the offline ImageNet backbones (`vqkeras.backbones`)."""

import os


def photo(name, size=224):
    """A scikit-image sample photo (`"chelsea"`, `"coffee"`, ...) resized to `size`×`size`, RGB float32 in [0, 1]."""
    from skimage import data
    from skimage import transform

    image = transform.resize(getattr(data, name)(), (size, size), anti_aliasing=True)
    return image.astype("float32")


def assert_weights_cached_once(module, keras_cache, monkeypatch):
    """`module.imagenet_weights_path` reuses the converted file in `keras_cache` (already written by a fixture) and no
    longer needs the weights package: neither with an explicit cache root nor with `$KERAS_HOME`."""
    path = os.path.join(keras_cache, "models", module.CACHE_FILE_NAME)
    assert os.path.exists(path)
    assert path.endswith(".weights.h5")
    mtime = os.path.getmtime(path)

    def missing():
        raise AssertionError("the cache must be used")

    monkeypatch.setattr(module, "checkpoint_path", missing)
    assert module.imagenet_weights_path(keras_cache) == path
    assert os.path.getmtime(path) == mtime
    monkeypatch.setenv("KERAS_HOME", keras_cache)
    assert module.imagenet_weights_path() == path
