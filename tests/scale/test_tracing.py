"""The first `fit` traces the training step once: weights and optimizers are built before the trace."""

import types

import keras
import numpy as np
import pytest

from tests import tiny_models

IMAGES = tiny_models.images(8)
TOKENS = np.random.default_rng(0).integers(0, 16, (8, *tiny_models.GRID)).astype("int32")
MODELS = {
    "vqvae": lambda: (tiny_models.tiny_vqvae(), dict(optimizer=keras.optimizers.Adam(1e-3)), IMAGES),
    "vqgan": lambda: (tiny_models.tiny_vqgan(disc_start=0), dict(optimizer=keras.optimizers.Adam(1e-3),
                      discriminator_optimizer=keras.optimizers.Adam(1e-3)), IMAGES),
    "transformer": lambda: (tiny_models.tiny_transformer_prior(), dict(optimizer=keras.optimizers.AdamW(1e-3)),
                            TOKENS),
    "pixelcnn": lambda: (tiny_models.tiny_pixelcnn_prior(), dict(optimizer=keras.optimizers.AdamW(1e-3)), TOKENS),
}


def traces_of_first_fit(name, deferred=False):
    """How often `train_step` runs in Python (once per trace) during a fresh model's first 2-step `fit`;
    `deferred` bypasses the library's build for Keras' own (the build inside the first trace)."""
    model, optimizers, data = MODELS[name]()
    model.compile(**optimizers)
    if deferred:
        model._maybe_symbolic_build = types.MethodType(
            lambda self, iterator=None, data_batch=None: keras.Model._maybe_symbolic_build(
                self, iterator=iterator, data_batch=data_batch), model)
    calls, train_step = [], model.train_step

    def counted(data):
        calls.append(1)
        return train_step(data)

    model.train_step = counted
    history = model.fit(data, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    return len(calls)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_first_fit_traces_the_training_step_once(name):
    assert traces_of_first_fit(name) == 1


def test_keras_deferred_build_traces_twice():
    """The control: with Keras' deferred build, the optimizer's variables are created in the first trace, and
    `tf.function` traces again."""
    assert traces_of_first_fit("transformer", deferred=True) == 2
