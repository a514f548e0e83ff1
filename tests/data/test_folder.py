import io
import warnings

import numpy as np
import pytest
from PIL import Image

from vqkeras.data import load_images
from vqkeras.data import read_image_folder


def _save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


@pytest.fixture
def mixed_folder(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "a.png", rng.integers(0, 256, (40, 30, 3), dtype=np.uint8))
    _save(tmp_path / "b.JPG", rng.integers(0, 256, (50, 50), dtype=np.uint8))
    _save(tmp_path / "sub" / "c.bmp", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    _save(tmp_path / "sub" / "deeper" / "d.pgm", rng.integers(0, 256, (17, 33), dtype=np.uint8))
    _save(tmp_path / "sub" / "e.gif", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    # Two corrupt files and one file that is not an image.
    (tmp_path / "corrupt.png").write_bytes(b"not a png at all")
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
    (tmp_path / "sub" / "truncated.png").write_bytes(buffer.getvalue()[:200])
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_mixed_folder_skips_corrupt_files_with_one_warning(mixed_folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_images(mixed_folder, 16, batch_size=2, shuffle=False)
        batches = [batch.numpy() for batch in dataset]
    user_warnings = [w for w in caught if issubclass(w.category, UserWarning)]
    assert len(user_warnings) == 1, [str(w.message) for w in user_warnings]
    assert "Skipped 2 unreadable or corrupt image file(s) of 7" in str(user_warnings[0].message)
    # 5 readable images of mixed sizes, all resized; colour present, so RGB.
    assert [b.shape for b in batches] == [(2, 16, 16, 3), (2, 16, 16, 3), (1, 16, 16, 3)]
    images = np.concatenate(batches)
    assert images.dtype == np.float32 and images.min() >= -1.0 and images.max() <= 1.0
    # b.JPG is grayscale, read as RGB: its three channels are equal.
    np.testing.assert_allclose(images[1, ..., 0], images[1, ..., 2], atol=1e-6)
    assert np.abs(images[0, ..., 0] - images[0, ..., 1]).max() > 0.1


def test_read_image_folder_order_and_channels(mixed_folder):
    with pytest.warns(UserWarning, match="Skipped 2"):
        images, paths = read_image_folder(mixed_folder)
    names = [p.split("/")[-1] for p in paths]
    assert names == ["a.png", "b.JPG", "c.bmp", "d.pgm", "e.gif"]
    assert [image.shape for image in images] == [
        (40, 30, 3), (50, 50, 3), (20, 24, 3), (17, 33, 3), (16, 16, 3)
    ]


def test_uniform_grayscale_folder_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (12, 12), dtype=np.uint8) for _ in range(3)]
    for i, array in enumerate(arrays):
        _save(tmp_path / f"{i}.png", array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # No file is skipped, so no warning.
        batch = next(iter(load_images(str(tmp_path), 12, batch_size=8, shuffle=False))).numpy()
    assert batch.shape == (3, 12, 12, 1)
    np.testing.assert_allclose(batch[..., 0], np.stack(arrays) / 127.5 - 1.0, atol=1e-6)


def test_empty_folder_raises(tmp_path):
    with pytest.raises(ValueError, match="No image files"):
        load_images(tmp_path, 32)
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="No image files"):
        load_images(tmp_path, 32)


def test_folder_of_only_corrupt_files_raises(tmp_path):
    (tmp_path / "x.png").write_bytes(b"garbage")
    (tmp_path / "y.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="None of the 2 image files"):
        load_images(tmp_path, 32)
