"""The quantizer contract on the codebook quantizers, and files saved before the move still loading."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import vqkeras
from vqkeras.quantizers import VectorQuantizer
from vqkeras.quantizers import VectorQuantizerEMA

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_layers_reexports_the_moved_classes():
    assert vqkeras.layers.VectorQuantizer is VectorQuantizer
    assert vqkeras.layers.VectorQuantizerEMA is VectorQuantizerEMA
    assert keras.saving.get_registered_name(VectorQuantizerEMA) == "vqkeras>VectorQuantizerEMA"
    assert keras.saving.get_registered_name(VectorQuantizer) == "vqkeras>VectorQuantizer"


def test_shipped_model_saved_before_the_move_loads_and_encodes():
    generator = keras.models.load_model(ROOT / "saved_models" / "faces_vqgan.keras", safe_mode=True)
    quantizer = generator.tokenizer.quantizer
    assert isinstance(quantizer, VectorQuantizerEMA)
    assert quantizer.codebook_size == 256 and quantizer.index_shape == ()
    images = np.random.default_rng(0).uniform(-1, 1, (4, 64, 64, 1)).astype("float32")
    tokens = generator.tokenizer.encode(images)
    assert tokens.shape == (4, 8, 8)
    # The codebook loaded is the one saved: each token is the nearest code of its latent.
    z = generator.tokenizer.pre_quant(generator.tokenizer.encoder(images))
    e = quantizer.embeddings.numpy()
    flat = z.numpy().reshape(-1, e.shape[1]).astype("float64")
    expected = ((flat[:, None] - e[None]) ** 2).sum(-1).argmin(1).reshape(4, 8, 8)
    assert (tokens.numpy() == expected).mean() > 0.99  # float32 vs float64 ties


@pytest.mark.parametrize("cls", [VectorQuantizerEMA, VectorQuantizer])
def test_contract_round_trip_and_named_losses(cls):
    vq = cls(num_embeddings=16, embedding_dim=4, commitment_cost=0.5)
    z = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    out = vq.quantize_with_stats(z)
    assert set(out) >= {"quantized", "indices", "loss", "losses", "perplexity", "codebook_usage", "codebook_alive"}
    e = vq.embeddings.numpy()[out["indices"].numpy()]
    commitment = 0.5 * np.mean((z - e) ** 2)
    np.testing.assert_allclose(out["losses"]["commitment_loss"].numpy(), commitment, rtol=1e-5)
    np.testing.assert_allclose(out["loss"].numpy(), sum(v.numpy() for v in out["losses"].values()), rtol=1e-6)
    np.testing.assert_array_equal(vq.codes_to_indices(z).numpy(), out["indices"].numpy())
    np.testing.assert_allclose(vq.indices_to_codes(out["indices"]).numpy(), out["quantized"].numpy(), atol=1e-6)


def test_indices_out_of_range_are_refused_eagerly_and_in_graphs():
    vq = VectorQuantizerEMA(num_embeddings=8, embedding_dim=4)
    vq.build((None, 4))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 8\).*\[0, 8\]"):
        vq.indices_to_codes(np.array([[0, 8]]))
    with pytest.raises(ValueError, match=r"\[-1, 3\]"):
        vq.indices_to_codes(np.array([3, -1]))
    with pytest.raises(ValueError, match="indices.dtype=float32"):
        vq.indices_to_codes(np.array([1.0], "float32"))
    fn = tf.function(vq.indices_to_codes)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices must be in \[0, 8\)"):
        fn(tf.constant([9]))
    assert fn(tf.constant([7])).shape == (1, 4)


def test_decode_checks_its_indices_once():
    """One index check (`Quantizer.check_indices`): a graph `decode` holds its two bound assertions once, not once in
    `VQVAE.checked_indices` and again in the quantizer's look-up."""
    from tests.tiny_models import tiny_vqvae

    model = tiny_vqvae()
    model.build((None, 8, 8, 1))
    graph = tf.function(model.decode).get_concrete_function(tf.TensorSpec((None, 4, 4), tf.int32)).graph
    definition = graph.as_graph_def()
    nodes = list(definition.node) + [n for f in definition.library.function for n in f.node_def]
    assert sum(node.op == "Assert" for node in nodes) == 2
    with pytest.raises(ValueError, match=r"codes must be in \[0, 16\), the codebook size K.*values in \[16, 16\]"):
        model.checked_indices(np.full((1, 4, 4), 16, np.int32), argument="codes")
