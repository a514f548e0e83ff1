import numpy as np
import pytest
import tensorflow as tf

from vqkeras.utils import from_model_range
from vqkeras.utils import to_model_range
from vqkeras.utils.images import convert_images
from vqkeras.utils.images import resize_images


def test_uint8_maps_to_minus_one_one():
    x = np.array([0, 51, 255], dtype=np.uint8)
    y = to_model_range(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_allclose(y, [-1.0, 51 / 127.5 - 1.0, 1.0], rtol=0, atol=1e-6)


def test_float_unit_range_maps_to_minus_one_one():
    y = to_model_range(np.array([0.0, 0.25, 1.0], dtype=np.float64))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-1.0, -0.5, 1.0], atol=1e-7)


def test_tensor_in_tensor_out():
    y = to_model_range(tf.constant([0, 255], dtype=tf.uint8))
    assert tf.is_tensor(y) and y.dtype == tf.float32
    np.testing.assert_allclose(y.numpy(), [-1.0, 1.0])
    z = from_model_range(tf.constant([-1.0, 0.0, 1.0]))
    assert tf.is_tensor(z)
    np.testing.assert_allclose(z.numpy(), [0.0, 0.5, 1.0])


def test_round_trip_and_clipping():
    x = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(from_model_range(to_model_range(x)), x, atol=1e-6)
    np.testing.assert_array_equal(from_model_range(np.array([-3.0, 2.0])), [0.0, 1.0])


@pytest.mark.parametrize(
    "bad", [np.array([-0.5, 0.5]), np.array([0.0, 255.0]), np.array([np.nan]), np.array([-1, 300])]
)
def test_out_of_range_numpy_raises(bad):
    with pytest.raises(ValueError, match="Received"):
        to_model_range(bad)


# ------------------------------------------------------------------------------------- the one converter
def _triangle_weights(n_in, n_out):
    """`(n_out, n_in)` weights of the antialiased bilinear kernel: a triangle of half-width `max(n_in / n_out, 1)`
    centred on each output pixel's centre in input coordinates, `(i + ½)·n_in/n_out − ½`, normalised to sum 1."""
    stretch = max(n_in / n_out, 1.0)
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None] - centres[:, None]) / stretch)
    return weights / weights.sum(axis=1, keepdims=True)


def _numpy_crop_and_resize(x, height, width):
    """NumPy reference of `resize_images`: the largest centred crop with the target's aspect ratio, then the
    separable triangle filter."""
    source_h, source_w = x.shape[1:3]
    crop_h, crop_w = min(source_h, source_w * height // width), min(source_w, source_h * width // height)
    top, left = (source_h - crop_h) // 2, (source_w - crop_w) // 2
    crop = x[:, top:top + crop_h, left:left + crop_w].astype(np.float64)
    return np.einsum("ih,bhwc,jw->bijc", _triangle_weights(crop_h, height), crop, _triangle_weights(crop_w, width))


@pytest.mark.parametrize("shape, size", [((20, 30), (8, 8)), ((6, 6), (15, 15)), ((13, 9), (4, 6)), ((7, 7), (3, 3))])
def test_resize_images_is_a_centre_crop_and_the_antialiased_triangle_filter(shape, size):
    x = np.random.default_rng(0).uniform(-1, 1, (2, *shape, 3)).astype(np.float32)
    out = resize_images(x, size)
    assert tuple(out.shape) == (2, *size, 3)
    np.testing.assert_allclose(out.numpy(), _numpy_crop_and_resize(x, *size), atol=1e-6)


def test_resize_images_at_size_is_the_identity():
    x = np.random.default_rng(1).uniform(-1, 1, (2, 5, 7, 1)).astype(np.float32)
    np.testing.assert_array_equal(resize_images(x, (5, 7)).numpy(), x)


def test_convert_images_range_rule_names_the_argument():
    pixels = np.array([[[[0], [51]], [[255], [128]]]], np.uint8)
    with pytest.raises(ValueError, match=r"style must be float images in \[-1, 1\], not integers.*style.dtype=uint8"):
        convert_images(pixels, argument="style")
    np.testing.assert_allclose(convert_images(pixels, integer_pixels=True).numpy(), pixels / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_allclose(convert_images(tf.constant(pixels), integer_pixels=True).numpy(),
                               pixels / 127.5 - 1.0, atol=1e-6)
    with pytest.raises(ValueError, match=r"Integer images must be in \[0, 255\]"):
        convert_images(pixels.astype(np.int32) * 2, integer_pixels=True)
    bright = np.abs(np.random.default_rng(2).uniform(-1, 1, (4, 4, 1))).astype(np.float32)
    np.testing.assert_array_equal(convert_images(bright).numpy(), bright[None])  # never rescaled
    bad = [(bright * 255, r"x must be float images in \[-1, 1\].*values in \[31.76, 226.9\]"),
           (np.where(bright > 0.5, np.nan, bright), "x contain NaN or Inf"),
           (np.full((2, 2, 1), np.inf, np.float32), "x contain NaN or Inf"),
           (bright > 0, "x must be uint8 images .*x.dtype=bool"),
           (bright[..., 0, 0], r"x must have shape \(H, W, C\) or \(n, H, W, C\). Received: x.shape=\(4,\)"),
           (bright[None][:0], r"x is empty.*x.shape=\(0, 4, 4, 1\)")]
    for value, pattern in bad:
        with pytest.raises(ValueError, match=pattern):
            convert_images(value, argument="x")


def test_convert_images_channels():
    rgba = np.random.default_rng(3).uniform(-1, 1, (2, 3, 3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=r"photo must have 1 channel\(s\). Received: photo.shape=\(2, 3, 3, 4\)"):
        convert_images(rgba, channels=1, argument="photo")
    np.testing.assert_array_equal(convert_images(rgba, channels=3, convert=True).numpy(), rgba[..., :3])
    np.testing.assert_array_equal(convert_images(rgba, convert=True).numpy(), rgba[..., :3])
    gray = convert_images(rgba, channels=1, convert=True).numpy()
    unit = (rgba[..., :3] + 1.0) / 2.0
    np.testing.assert_allclose(gray, (unit @ [0.2989, 0.5870, 0.1140])[..., None] * 2.0 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(convert_images(gray, channels=3, convert=True).numpy(), np.repeat(gray, 3, -1))
    with pytest.raises(ValueError, match="must have 1, 2, 3 or 4 channels"):
        convert_images(np.zeros((1, 3, 3, 5), np.float32), channels=3, convert=True)
    with pytest.raises(ValueError, match="channels must be 1, 3 or None. Received: channels=2"):
        convert_images(rgba, channels=2)


def test_every_image_path_resizes_with_the_one_kernel(tmp_path):
    """load_images' preprocessing, the generator's inputs, `upscale`, the CLI's image files and the metrics give the
    pixels of the NumPy reference for one 20×20 uint8 image brought to 8×8 (before the converter, the CLI resized with
    PIL's bicubic filter and `upscale` with TensorFlow's bicubic: both differ by far more than the tolerance)."""
    from PIL import Image

    from tests.tiny_models import tiny_generator
    from vqkeras.cli import _read_image
    from vqkeras.data import preprocess_image
    from vqkeras.metrics.feature_extractors import FeatureExtractor

    pixels = np.random.default_rng(4).integers(0, 256, (1, 20, 20, 1), dtype=np.uint8)
    expected = np.clip(_numpy_crop_and_resize(pixels / 127.5 - 1.0, 8, 8), -1, 1)
    Image.fromarray(pixels[0, ..., 0]).save(tmp_path / "image.png")

    class EightPixels(FeatureExtractor):
        image_size = 8

    generator = tiny_generator()
    paths = {
        "preprocess_image": preprocess_image(pixels, 8).numpy(),
        "prepare_images": generator.prepare_images(pixels).numpy(),
        "cli._read_image": _read_image(tmp_path / "image.png", 1, (8, 8))[None],
        "FeatureExtractor.prepare": EightPixels().prepare(pixels).numpy()[..., :1],
    }
    for name, out in paths.items():
        np.testing.assert_allclose(out, expected, atol=2e-6, err_msg=name)
    # upscale: 4×4 → 8×8 (an upsample by the same kernel), seen through the tokens of the upsampled image.
    low = pixels[:, ::5, ::5]
    _, tokens, _ = generator.upscale(low, factor=2, strength=0.0, seed=0, return_tokens=True)
    reference = np.clip(_numpy_crop_and_resize(low / 127.5 - 1.0, 8, 8), -1, 1).astype(np.float32)
    np.testing.assert_array_equal(tokens, generator.tokenizer.encode(reference).numpy())
