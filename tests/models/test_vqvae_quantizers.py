"""Every quantizer family inside a VQ-VAE: fit, encode/decode with the index shape, `.keras` round trips, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import tiny_models
from vqkeras.losses import CodeEntropy
from vqkeras.models import VQGAN
from vqkeras.quantizers import FSQ
from vqkeras.quantizers import LFQ
from vqkeras.quantizers import GumbelQuantizer
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizer
from vqkeras.quantizers import VectorQuantizerEMA

LATENT = tiny_models.TOKENIZER_ARGS["latent_dim"]  # 8

MEMBERS = {
    "ema_kmeans": lambda: VectorQuantizerEMA(16, LATENT, kmeans_init=True, name="quantizer"),
    "gradient": lambda: VectorQuantizer(16, LATENT, name="quantizer"),
    "fsq": lambda: FSQ([5, 4, 4], embedding_dim=LATENT, name="quantizer"),
    "lfq": lambda: LFQ(4, embedding_dim=LATENT, name="quantizer"),
    "bsq": lambda: LFQ(4, embedding_dim=LATENT, spherical=True, name="quantizer"),
    "gumbel": lambda: GumbelQuantizer(16, LATENT, hard=True, name="quantizer"),
    "residual_vq": lambda: ResidualQuantizer(VectorQuantizerEMA(16, LATENT), depth=2, quantize_dropout=True,
                                             name="quantizer"),
    "residual_fsq": lambda: ResidualQuantizer(FSQ([3] * LATENT, preserve_symmetry=True, hard_clamp=True), depth=2,
                                              name="quantizer"),
}


def trained(member):
    """A tiny VQ-VAE with `member`, after one eager training forward pass (the quantizer's state moves: k-means,
    EMA, usage, the Gumbel step) and the forward dict."""
    model = tiny_models.tiny_vqvae(quantizer=MEMBERS[member]())
    return model, model.forward(tiny_models.images(8), training=True)


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_every_member_fits_encodes_decodes_and_round_trips(member, tmp_path):
    model, out = trained(member)
    for name in ("vq_loss", "perplexity", "codebook_usage", "codebook_alive"):
        assert np.isfinite(out[name].numpy()), name
    x = tiny_models.images(4, seed=1)
    tokens = model.encode(x)
    assert tokens.dtype == tf.int32 and tokens.shape == (4, 4, 4, *model.index_shape)
    assert model.num_embeddings == model.quantizer.codebook_size
    np.testing.assert_allclose(model.decode(tokens).numpy(), model(x, training=False).numpy(), atol=1e-5)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded.quantizer) is type(model.quantizer)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    np.testing.assert_array_equal(loaded.encode(x).numpy(), tokens.numpy())
    np.testing.assert_array_equal(loaded.decode(tokens).numpy(), model.decode(tokens).numpy())


def test_decode_checks_the_index_shape():
    model = tiny_models.tiny_vqvae(quantizer=MEMBERS["residual_vq"]())
    model.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match=r"shape \(batch, h, w, 2\).*indices.shape=\(1, 4, 4\)"):
        model.decode(np.zeros((1, 4, 4), "int32"))
    with pytest.raises(ValueError, match=r"\[-1, 16\)"):
        model.decode(np.full((1, 4, 4, 2), 16, "int32"))


@pytest.mark.parametrize("member", ["fsq", "lfq", "gumbel", "residual_vq"])
@pytest.mark.parametrize("argument", [{"code_entropy_weight": 0.3}, {"code_regularizer": CodeEntropy(0.3)}])
def test_code_regularisers_need_distances(member, argument):
    name = type(MEMBERS[member]()).__name__
    with pytest.raises(ValueError, match=rf"CodeEntropy needs a quantizer with code distances.*weight=0.3\) with "
                                         rf"quantizer={name}"):
        tiny_models.tiny_vqvae(quantizer=MEMBERS[member](), **argument)


def test_vqgan_from_vqvae_copies_any_member():
    vqvae, _ = trained("fsq")
    gan = VQGAN.from_vqvae(vqvae, **tiny_models.VQGAN_ARGS)
    assert isinstance(gan.quantizer, FSQ)
    x = tiny_models.images(4, seed=2)
    np.testing.assert_array_equal(gan.encode(x).numpy(), vqvae.encode(x).numpy())


@pytest.mark.slow  # test_vqgan_from_vqvae_copies_any_member covers the fast path; this one adds a VQ-GAN fit
def test_vqgan_fits_and_round_trips_a_residual_fsq(tmp_path):
    x = tiny_models.images(4, seed=2)
    gan = tiny_models.tiny_vqgan(quantizer=MEMBERS["residual_fsq"]())
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), discriminator_optimizer=keras.optimizers.Adam(1e-3))
    gan.fit(tiny_models.images(8), epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "gan.keras"
    gan.save(path)
    np.testing.assert_array_equal(keras.models.load_model(path, safe_mode=True).encode(x).numpy(),
                                  gan.encode(x).numpy())
