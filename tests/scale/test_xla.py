"""`compile(jit_compile=True)` trains VQVAE, VQGAN and the priors with the same losses as without XLA."""

import keras
import numpy as np
import pytest

from tests.tiny_models import tiny_vqgan
from tests.tiny_models import tiny_vqvae
from vqkeras.layers import VectorQuantizerEMA
from vqkeras.models import VQGAN
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior

# Half the width of the shared tiny tokenizer.
SMALL = dict(latent_dim=4, base_channels=4)
STEPS = 3
# XLA fuses and reorders float32 reductions (≈1e-7 relative per op); over 3 Adam steps the losses agree to 1e-4.
RTOL, ATOL = 1e-4, 1e-5


def images(seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")


def tokens(seed=0):
    return np.random.default_rng(seed).integers(0, 8, (4, 4, 4)).astype("int32")


def make_vqvae():
    quantizer = VectorQuantizerEMA(16, 4, decay=0.5, dead_code_threshold=0.3, seed=2, name="quantizer")
    return tiny_vqvae(**SMALL, quantizer=quantizer)


def make_vqgan():
    return tiny_vqgan(**SMALL, disc_filters=4, disc_start=1)


MODELS = {
    "vqvae": (make_vqvae, images),
    "vqgan": (make_vqgan, images),
    "pixelcnn": (lambda: PixelCNNPrior(8, (4, 4), embed_dim=8, num_layers=2, kernel_size=3), tokens),
    "transformer": (lambda: TransformerPrior(8, (4, 4), embed_dim=8, num_layers=1, num_heads=2, dropout=0.0), tokens),
    "maskgit": (lambda: MaskGITPrior(8, (4, 4), embed_dim=8, num_layers=1, num_heads=2, dropout=0.0, seed=1), tokens),
}


def compiled(make, jit_compile):
    keras.utils.set_random_seed(0)
    model = make()
    optimizers = dict(optimizer=keras.optimizers.Adam(1e-3))
    if isinstance(model, VQGAN):
        optimizers["discriminator_optimizer"] = keras.optimizers.Adam(1e-3)
    model.compile(jit_compile=jit_compile, **optimizers)
    return model


def uniform_from_integer_bits(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """`keras.random.uniform` from 24 random integer bits. XLA draws the same Philox integers as TensorFlow's kernels
    but maps random bits to floats differently, so MaskGIT's random training masks would differ between the runs."""
    bits = keras.random.randint(shape, 0, 2**24, seed=seed, dtype="int32")
    return minval + (maxval - minval) * keras.ops.cast(bits, dtype or "float32") / 2**24


@pytest.mark.parametrize("name", sorted(MODELS))
def test_jit_compile_gives_the_same_losses(name, monkeypatch):
    if name == "maskgit":
        monkeypatch.setattr(keras.random, "uniform", uniform_from_integer_bits)
    make, data = MODELS[name]
    batches = [data(seed) for seed in range(STEPS)]
    plain, xla = compiled(make, False), compiled(make, True)
    plain.build(batches[0].shape)
    xla.build(batches[0].shape)
    xla.set_weights(plain.get_weights())
    for model in (plain, xla):
        model.history_ = [model.train_on_batch(batch, return_dict=True) for batch in batches]
    assert xla.jit_compile is True
    for step, (a, b) in enumerate(zip(plain.history_, xla.history_)):
        for metric, value in a.items():
            assert np.isfinite(b[metric]), (step, metric)
            assert b[metric] == pytest.approx(value, rel=RTOL, abs=ATOL), (step, metric, value, b[metric])


# The VQGAN case (two optimizers) is in the slow set: test_jit_compile_gives_the_same_losses[vqgan] fits a VQGAN under
# XLA too, and the suite must stay within 15 minutes on 2 cores.
@pytest.mark.parametrize("name", ["vqvae", pytest.param("vqgan", marks=pytest.mark.slow)])
def test_jit_compile_fit_builds_an_unbuilt_model_first(name):
    """XLA can't create variables in the compiled step; the model and its optimizers are built before it."""
    make, data = MODELS[name]
    model = compiled(make, True)
    assert not model.built
    history = model.fit(data(0), batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and model.optimizer.iterations.numpy() == 1
