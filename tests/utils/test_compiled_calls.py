"""Eager `encode` / `decode` / `generate` run through one `tf.function` per model, traced at most twice for any
number of batch sizes, with the eager argument checks first and the eager results unchanged.

Indices and tokens are exactly the eager ones. Images agree to float32 rounding (`ATOL`): in a graph, grappler's
remapper fuses Conv2D + BiasAdd (+ activation) into one kernel that rounds differently (the SavedModel signatures
and `predict` run the same fused kernels)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import images
from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_vqvae
from vqkeras.utils.compiled_calls import compiled_function

ATOL = 1e-5


def _eager_encode(model, x):
    """The reference: `encode`'s layers called op by op (what `VQVAE.encode` ran before it was compiled)."""
    return model.quantizer.get_code_indices(model.pre_quant(model.encoder(tf.constant(x), training=False)))


def _eager_decode(model, indices):
    vectors = model.quantizer.get_codebook_entries(tf.constant(indices))
    return model.decoder(model.post_quant(vectors), training=False)


def test_vqvae_calls_trace_at_most_twice_over_batch_sizes_and_match_eager_layers():
    model = tiny_vqvae()
    model.build((None, 8, 8, 1))
    backbone = model.backbone  # the task's encode/decode are the backbone's compiled calls
    assert compiled_function(backbone, "encode") is None  # nothing is made before the first call
    for batch in (1, 3, 7, 2):
        x = images(batch, seed=batch)
        indices = model.encode(x)
        np.testing.assert_array_equal(indices.numpy(), _eager_encode(model, x).numpy())
        decoded = model.decode(indices)
        np.testing.assert_allclose(decoded.numpy(), _eager_decode(model, indices.numpy()).numpy(), rtol=0, atol=ATOL)
    for name in ("encode", "decode"):
        assert compiled_function(backbone, name).experimental_get_tracing_count() <= 2, name
    # Another image size relaxes the spatial dimensions once more at most.
    model.encode(images(2, size=16))
    assert compiled_function(backbone, "encode").experimental_get_tracing_count() <= 3


def test_generator_calls_trace_at_most_twice_and_keep_eager_checks():
    generator = tiny_generator()
    for batch in (1, 3, 7):
        tokens = generator.generate_tokens(batch, seed=batch, top_k=4)
        out = generator.generate(batch, seed=batch, top_k=4)
        reference = tf.clip_by_value(_eager_decode(generator.tokenizer, tokens.numpy()), -1.0, 1.0)
        np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=0, atol=ATOL)
        np.testing.assert_array_equal(generator.encode(images(batch)).numpy(),
                                      _eager_encode(generator.tokenizer, images(batch)).numpy())
    assert compiled_function(generator, "decode").experimental_get_tracing_count() <= 2
    assert compiled_function(generator.tokenizer.backbone, "encode").experimental_get_tracing_count() <= 2
    # The checks still run eagerly, before the compiled call, and name the argument.
    with pytest.raises(ValueError, match=r"indices must be in \[0, 16\).*Received: indices with values in \[16, 16\]"):
        generator.decode(np.full((1, 4, 4), 16, "int32"))
    with pytest.raises(ValueError, match="indices must be an integer tensor"):
        generator.decode(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"images must be float images in \[-1, 1\].*Received: images with values in \[3, 3\]"):
        generator.tokenizer.encode(np.full((1, 8, 8, 1), 3.0, "float32"))
    assert compiled_function(generator, "decode").experimental_get_tracing_count() <= 2


def test_compiled_functions_stay_out_of_saving_and_config(tmp_path):
    model = tiny_vqvae()
    x = images(3)
    model.build((None, 8, 8, 1))
    config = model.get_config()
    before = model.decode(model.encode(x)).numpy()
    assert model.get_config() == config
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert compiled_function(loaded.backbone, "encode") is None
    np.testing.assert_allclose(loaded.decode(loaded.encode(x)).numpy(), before, rtol=0, atol=0)
    checkpoint = tf.train.Checkpoint(model=model)
    names = [name for name, _ in tf.train.list_variables(checkpoint.write(str(tmp_path / "ckpt")))]
    assert not any("compiled" in name for name in names)
