import numpy as np
import pytest
import tensorflow as tf

from vqkeras.utils import from_model_range
from vqkeras.utils import to_model_range


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
