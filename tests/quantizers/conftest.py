"""Shared helpers of the quantizer tests."""

import keras
import numpy as np
import pytest


def keras_round_trip(quantizer, inputs, tmp_path, training_inputs=None):
    """Saves a functional model around `quantizer` (after a training call) and checks the loaded copy's outputs,
    weights and config are identical; returns the loaded layer."""
    model_inputs = keras.Input(inputs.shape[1:])
    model = keras.Model(model_inputs, quantizer(model_inputs))
    model(inputs if training_inputs is None else training_inputs, training=True)
    path = tmp_path / "q.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())
    layer = loaded.layers[-1]
    assert layer.get_config() == quantizer.get_config()
    for a, b in zip(quantizer.weights, layer.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(layer.codes_to_indices(inputs).numpy(), quantizer.codes_to_indices(inputs).numpy())
    return layer


@pytest.fixture
def rng():
    return np.random.default_rng(0)
