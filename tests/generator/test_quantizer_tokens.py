"""Priors and generators over every token kind: FSQ / LFQ / Gumbel vocabularies, residual (h, w, depth) grids,
`.keras` round trips and the SavedModel `encode` / `decode` / `generate` signatures."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import tiny_models
from vqkeras.export import export_saved_model
from vqkeras.models import ImageGenerator
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior
from vqkeras.quantizers import FSQ
from vqkeras.quantizers import LFQ
from vqkeras.quantizers import GumbelQuantizer
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizerEMA

LATENT = tiny_models.TOKENIZER_ARGS["latent_dim"]


def generator_with(quantizer, prior_cls=TransformerPrior):
    tokenizer = tiny_models.tiny_vqvae(quantizer=quantizer)
    depth = int(np.prod(quantizer.index_shape))
    h, w = tiny_models.GRID
    defaults = tiny_models.PIXELCNN_ARGS if prior_cls is PixelCNNPrior else tiny_models.TRANSFORMER_ARGS
    prior = prior_cls(tokenizer.num_embeddings, (h, w * depth), **defaults)
    return ImageGenerator(tokenizer, prior, prior_trained=True)


QUANTIZERS = {
    "fsq_2^16": lambda: FSQ([8, 8, 8, 8, 4, 4], embedding_dim=LATENT, name="quantizer"),  # the largest allowed
    "lfq": lambda: LFQ(10, embedding_dim=LATENT, name="quantizer"),
    "gumbel": lambda: GumbelQuantizer(32, LATENT, name="quantizer"),
}
PRIORS = {"transformer": TransformerPrior, "pixelcnn": PixelCNNPrior, "maskgit": MaskGITPrior}
FAST_PAIRS = [("fsq_2^16", "transformer"), ("lfq", "pixelcnn"), ("gumbel", "maskgit")]
ALL_PAIRS = [(q, p) for q in QUANTIZERS for p in PRIORS]


@pytest.mark.parametrize("quantizer, prior", FAST_PAIRS + [
    pytest.param(*pair, marks=pytest.mark.slow) for pair in ALL_PAIRS if pair not in FAST_PAIRS])
def test_priors_fit_and_generate_tokens_of_every_vocabulary(quantizer, prior):
    generator = generator_with(QUANTIZERS[quantizer](), PRIORS[prior])
    k = generator.num_embeddings
    tokens = generator.encode(tiny_models.images(4))
    assert tokens.shape == (4, 4, 4) and 0 <= tokens.numpy().min() and tokens.numpy().max() < k
    history = generator.fit_prior(tiny_models.images(8), epochs=1, batch_size=4, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    samples = generator.generate_tokens(2, seed=0).numpy()
    assert samples.shape == (2, 4, 4) and samples.min() >= 0 and samples.max() < k
    assert generator.decode(samples).shape == (2, 8, 8, 1)


@pytest.mark.parametrize("prior_cls", [TransformerPrior, PixelCNNPrior, MaskGITPrior])
def test_a_vocabulary_above_2_16_gets_a_clear_error(prior_cls):
    with pytest.raises(ValueError, match=r"at most 65536.*num_embeddings=131072"):
        prior_cls(LFQ(17).codebook_size, (4, 4))


def residual_generator():
    quantizer = ResidualQuantizer(VectorQuantizerEMA(16, LATENT), depth=3, name="quantizer")
    return generator_with(quantizer)


def test_residual_tokens_flatten_depth_into_the_sequence(tmp_path):
    generator = residual_generator()
    assert generator.depth == 3 and generator.grid_shape == (4, 12) and generator.image_shape == (8, 8, 1)
    x = tiny_models.images(4)
    indices = generator.tokenizer.encode(x)
    assert indices.shape == (4, 4, 4, 3)
    tokens = generator.encode(x)
    np.testing.assert_array_equal(tokens.numpy(), indices.numpy().reshape(4, 4, 12))
    np.testing.assert_array_equal(generator.to_tokenizer_indices(tokens).numpy(), indices.numpy())
    np.testing.assert_allclose(generator.decode(tokens).numpy(),
                               np.clip(generator.tokenizer.decode(indices).numpy(), -1, 1), atol=1e-6)
    # The KV-cache sampler and the full forward pass agree on the flattened sequence.
    samples = generator.generate_tokens(2, seed=1)
    cached, cached_logits = generator.prior.sample(2, seed=1, return_logits=True)
    full, full_logits = generator.prior.sample_recompute(2, seed=1, return_logits=True)
    np.testing.assert_array_equal(cached.numpy(), full.numpy())
    np.testing.assert_allclose(cached_logits.numpy(), full_logits.numpy(), atol=1e-4)
    assert samples.shape == (2, 4, 12)
    assert generator.generate(2, seed=1).shape == (2, 8, 8, 1)
    path = tmp_path / "residual.keras"
    generator.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.generate_tokens(2, seed=1).numpy(), samples.numpy())
    np.testing.assert_array_equal(loaded.encode(x).numpy(), tokens.numpy())


@pytest.mark.parametrize("make", [
    pytest.param(lambda: generator_with(FSQ([5, 4, 4], embedding_dim=LATENT, name="quantizer")),
                 marks=pytest.mark.slow),  # the residual case covers the same signatures with a non-trivial layout
    residual_generator,
], ids=["fsq", "residual"])
def test_saved_model_encode_decode_generate(make, tmp_path):
    generator = make()
    signatures = tf.saved_model.load(export_saved_model(generator, tmp_path)).signatures
    x = tiny_models.images(3)
    tokens = generator.encode(x).numpy()
    np.testing.assert_array_equal(signatures["encode"](images=tf.constant(x))["indices"].numpy(), tokens)
    np.testing.assert_allclose(signatures["decode"](indices=tf.constant(tokens))["images"].numpy(),
                               generator.decode(tokens).numpy(), atol=1e-5)
    out = signatures["generate"](num_images=tf.constant(2), seed=tf.constant(5, tf.int64),
                                 temperature=tf.constant(1.0), top_k=tf.constant(0))
    np.testing.assert_array_equal(out["tokens"].numpy(), generator.generate_tokens(2, seed=5).numpy())
    np.testing.assert_allclose(out["images"].numpy(), generator.decode(out["tokens"]).numpy(), atol=1e-5)


@pytest.mark.slow  # the generator's export above covers encode/decode with residual tokens
def test_tokenizer_export_takes_residual_indices(tmp_path):
    tokenizer = residual_generator().tokenizer
    signatures = tf.saved_model.load(export_saved_model(tokenizer, tmp_path, input_shape=(8, 8, 1))).signatures
    x = tiny_models.images(2)
    indices = signatures["encode"](images=tf.constant(x))["indices"].numpy()
    assert indices.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(signatures["decode"](indices=tf.constant(indices))["images"].numpy(),
                               tokenizer.decode(indices).numpy(), atol=1e-5)
