"""A converted tokenizer is a vqkeras model like any other: it continues as a VQ-GAN with a fresh discriminator, a
prior trains on its tokens, and it exports to a SavedModel (reduced width, random weights)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.convert.test_taming_reference import _random_model
from tests.convert.test_taming_reference import _reduced
from tests.convert.test_taming_reference import _save_lightning_checkpoint
from vqkeras.convert import from_taming
from vqkeras.export import export_saved_model
from vqkeras.models import VQGAN
from vqkeras.models import ImageGenerator
from vqkeras.presets import get_preset
from vqkeras.priors import TransformerPrior

pytest.importorskip("torch")

# taming's f8 layout, shallower (3 levels, one residual block each) to keep the VQ-GAN step's trace short.
CONFIG = {**_reduced(get_preset("taming_openimages_f8_256")["config"]), "channel_multipliers": [1, 1, 2],
          "num_res_blocks": 1, "attention_levels": [2]}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    model = _random_model(CONFIG, 32)
    return from_taming(_save_lightning_checkpoint(model, tmp_path_factory.mktemp("ft") / "last.ckpt"),
                       config=CONFIG)


def _images(count=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (count, 32, 32, 3)).astype("float32")


def test_continues_as_a_vqgan_with_a_fresh_discriminator(converted):
    images = _images()
    gan = VQGAN.from_vqvae(converted, perceptual_weight=0.0, disc_start=0, disc_filters=16, disc_num_layers=2)
    np.testing.assert_array_equal(gan.encode(images).numpy(), converted.encode(images).numpy())
    gan.compile(optimizer=keras.optimizers.Adam(1e-4), discriminator_optimizer=keras.optimizers.Adam(1e-4))
    before = [w.numpy().copy() for w in gan.decoder.weights]
    disc_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    history = gan.fit(images, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["discriminator_loss"][0]) and np.isfinite(history["generator_adv_loss"][0])
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, gan.decoder.weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(disc_before, gan.discriminator.trainable_weights))
    # The converted model itself is untouched.
    assert gan.decoder.weights[0] is not converted.decoder.weights[0]


def test_prior_trains_on_its_tokens_and_generates(converted):
    grid = (8, 8)
    prior = TransformerPrior(converted.num_embeddings, grid, embed_dim=16, num_layers=1, num_heads=2)
    generator = ImageGenerator(converted, prior)
    generator.fit_prior(_images(), epochs=1, batch_size=4, verbose=0)
    tokens = generator.generate_tokens(2, seed=0)
    assert tuple(tokens.shape) == (2, *grid)
    assert generator.generate(2, seed=0).shape == (2, 32, 32, 3)


def test_exports_encode_decode_and_serving_default(converted, tmp_path):
    images = _images(2)
    signatures = tf.saved_model.load(export_saved_model(converted, tmp_path, input_shape=(None, None, 3))).signatures
    assert {"serving_default", "encode", "decode"} <= set(signatures)
    indices = signatures["encode"](images=tf.constant(images))["indices"].numpy()
    np.testing.assert_array_equal(indices, converted.encode(images).numpy())
    decoded = signatures["decode"](indices=tf.constant(indices))["images"].numpy()
    np.testing.assert_allclose(decoded, converted.decode(indices).numpy(), atol=1e-4)
    served = signatures["serving_default"](images=tf.constant(images))["reconstructions"].numpy()
    np.testing.assert_allclose(served, converted(images).numpy(), atol=1e-4)
