import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.layers import CausalCodePredictor


def gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def predictor_reference(layer, latents):
    """The layer's logits by explicit loops: shift the raster sequence right, causal convolutions, dense head."""
    b, h, w, d = latents.shape
    x = np.concatenate([np.zeros((b, 1, d)), latents.reshape(b, h * w, d)[:, :-1]], axis=1)
    for conv in layer.convs:
        kernel, bias = (v.numpy().astype("float64") for v in conv.weights)
        taps = kernel.shape[0]
        padded = np.concatenate([np.zeros((b, taps - 1, x.shape[2])), x], axis=1)
        x = gelu(np.stack([np.einsum("bkc,kco->bo", padded[:, t:t + taps], kernel) for t in range(h * w)], 1) + bias)
    kernel, bias = (v.numpy().astype("float64") for v in layer.head.weights)
    return (x @ kernel + bias).reshape(b, h, w, -1)


def test_matches_the_numpy_reference_and_is_causal_in_raster_order():
    rng = np.random.default_rng(0)
    layer = CausalCodePredictor(6, hidden_dim=5, num_layers=2, kernel_size=3)
    x = rng.normal(size=(2, 3, 4, 4)).astype("float32")
    logits = layer(x).numpy()
    assert logits.shape == (2, 3, 4, 6) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, predictor_reference(layer, x.astype("float64")), rtol=1e-4, atol=1e-5)
    # Changing position t (raster index 6) moves positions t+1 … t + num_layers·(kernel_size − 1) + 1 only.
    changed = x.copy()
    changed[:, 1, 2] += 1.0
    moved = np.abs(layer(changed).numpy() - logits).reshape(2, 12, 6).max(axis=(0, 2)) > 1e-6
    np.testing.assert_array_equal(np.flatnonzero(moved), [7, 8, 9, 10, 11])


def test_float32_logits_under_mixed_precision_and_any_grid_size():
    layer = CausalCodePredictor(8, dtype="mixed_float16")
    for shape in ((1, 2, 2, 3), (2, 5, 7, 3)):
        logits = layer(np.ones(shape, "float32"))
        assert logits.dtype == tf.float32 and tuple(logits.shape) == shape[:3] + (8,)
        assert layer.compute_output_shape(shape) == shape[:3] + (8,)


def test_config_round_trip():
    layer = CausalCodePredictor(16, hidden_dim=12, num_layers=3, kernel_size=5, name="p")
    clone = CausalCodePredictor.from_config(layer.get_config())
    assert (clone.num_embeddings, clone.hidden_dim, clone.num_layers, clone.kernel_size, clone.name) == (
        16, 12, 3, 5, "p")
    x = np.random.default_rng(1).normal(size=(1, 2, 3, 4)).astype("float32")
    layer(x)
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).kernel_size == 5


@pytest.mark.parametrize("kwargs", [{"num_embeddings": 1}, {"hidden_dim": 0}, {"num_layers": 0},
                                    {"kernel_size": 0}, {"kernel_size": 2.5}, {"kernel_size": True}])
def test_bad_arguments_are_rejected_with_the_value(kwargs):
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match=f"{name}={value!r}"):
        CausalCodePredictor(**{"num_embeddings": 8, **kwargs})


def test_wrong_rank_is_rejected_with_the_shape():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        CausalCodePredictor(8)(np.zeros((2, 3, 4), "float32"))
