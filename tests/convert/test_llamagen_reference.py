"""LlamaGen VQ-16 (reduced width) converted into vqkeras gives LlamaGen's own outputs.

The fixture holds random float16-exact weights, two images and the outputs of LlamaGen's
`tokenizer/tokenizer_image/vq_model.py` (made by `fixtures/make_llamagen_fixture.py`, see fixtures/README.md).
Here the weights are saved with `torch.save` as LlamaGen's training script saves them, converted, and compared.
"""

import argparse
import pathlib

import numpy as np
import pytest

from vqkeras.convert import from_llamagen

torch = pytest.importorskip("torch")

FIXTURE = pathlib.Path(__file__).with_name("fixtures") / "llamagen_vq16_reduced.npz"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(FIXTURE))


def _state(reference):
    state = {k[len("state/"):]: torch.from_numpy(v.astype(np.float32)) for k, v in reference.items()
             if k.startswith("state/")}
    state["quantize.codebook_used"] = torch.zeros(65536)  # the usage-log buffer LlamaGen keeps
    return state


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    """The layout of LlamaGen's vq_train.py: model, optimizer, discriminator, steps and the argparse args."""
    path = tmp_path_factory.mktemp("llamagen") / "0010000.pt"
    torch.save({
        "model": _state(reference),
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1, 2]}]},
        "discriminator": {"main.0.weight": torch.randn(8, 3, 4, 4)},
        "steps": 10000,
        "args": argparse.Namespace(vq_model="VQ-16", codebook_size=1024, image_size=64),
    }, path)
    return path


@pytest.fixture(scope="module")
def model(checkpoint):
    return from_llamagen(checkpoint)


def _nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


def test_inferred_architecture(model):
    assert model.channel_multipliers == (1, 1, 2, 2, 2) and model.base_channels == 32
    assert model.num_res_blocks == 2 and model.attention_levels == (4,)
    assert (model.z_channels, model.latent_dim, model.num_embeddings) == (64, 8, 1024)
    assert model.quantizer.l2_normalize and model.downsample_factor == 16


def test_outputs_match_llamagen(model, reference):
    images = _nhwc(reference["images"])
    latents = model.pre_quant(model.encoder(images)).numpy()
    np.testing.assert_allclose(latents, _nhwc(reference["latents"]), atol=TOLERANCE, rtol=0)
    np.testing.assert_array_equal(model.encode(images).numpy(), reference["indices"])
    np.testing.assert_allclose(model(images).numpy(), _nhwc(reference["reconstructions"]), atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(model.decode(reference["indices"]).numpy(), _nhwc(reference["decoded"]),
                               atol=TOLERANCE, rtol=0)


def test_prefers_the_ema_weights(reference, tmp_path):
    state = _state(reference)
    ema = {k: v + 0.5 for k, v in state.items()}
    path = tmp_path / "ema.pt"
    torch.save({"model": state, "ema": ema}, path)
    converted = from_llamagen(path)
    np.testing.assert_allclose(converted.quantizer.embeddings.numpy(), ema["quantize.embedding.weight"].numpy())


def test_taming_checkpoint_is_refused_naming_the_first_mismatched_key(tmp_path, reference):
    state = {k.replace("conv_blocks", "down").replace(".res.", ".block."): v for k, v in _state(reference).items()}
    path = tmp_path / "other.pt"
    torch.save({"model": state}, path)
    with pytest.raises(ValueError, match=r"tensor 'encoder\.conv_blocks\.0\.res\.0\.conv1\.weight' is missing"):
        from_llamagen(path)
