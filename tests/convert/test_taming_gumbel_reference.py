"""taming-transformers' Gumbel-softmax VQGAN (`GumbelVQ`, preset `taming_gumbel_f8`) converted into vqkeras.

At reduced width (channels multiples of 32), random weights go into taming's `Encoder`, `Decoder` and
`GumbelQuantize` (from the PyPI package `taming-transformers-rom1504`), are saved with `torch.save` as a Lightning
checkpoint and converted. taming's `GumbelQuantize` samples Gumbel noise even in eval mode and vqkeras takes the
`argmax`, so the comparison is of the parts that are deterministic in both: the encoder's latents, the logits
(`quantize.proj`), vqkeras' indices against `argmax` of taming's logits, and the decoder from the same indices
(taming: `embed` lookup → `post_quant_conv` → decoder).
"""

import numpy as np
import pytest

from tests.convert.test_taming_reference import TOLERANCE
from tests.convert.test_taming_reference import TamingVQModel
from tests.convert.test_taming_reference import _move_norms
from tests.convert.test_taming_reference import _images
from tests.convert.test_taming_reference import _random_model
from tests.convert.test_taming_reference import _reduced
from tests.convert.test_taming_reference import _save_lightning_checkpoint
from tests.convert.test_taming_reference import torch
from vqkeras.convert import from_taming
from vqkeras.presets import get_preset
from vqkeras.quantizers import GumbelQuantizer

taming_quantize = pytest.importorskip("taming.modules.vqvae.quantize")

CONFIG = _reduced(get_preset("taming_gumbel_f8")["config"])
RESOLUTION = 32  # f = 8: 4×4 tokens


class TamingGumbelVQ(TamingVQModel):
    """taming's `GumbelVQ` without its Lightning parts (the same submodules, hence the same state dict names):
    `encoder → quant_conv → quantize.proj` gives the logits; `quantize.embed → post_quant_conv → decoder`."""

    def __init__(self, config, resolution):
        super().__init__(config, resolution)
        self.quantize = taming_quantize.GumbelQuantize(config["z_channels"], config["latent_dim"],
                                                       n_embed=config["num_embeddings"], kl_weight=1e-8)

    def logits(self, x):
        return self.quantize.proj(self.latents(x))

    def decode_indices(self, indices):
        codes = self.quantize.embed(indices).permute(0, 3, 1, 2)  # nn.Embedding: N(0, 1) codes
        return self.decoder(self.post_quant_conv(codes))


def _random_gumbel_model(seed=0):
    torch.manual_seed(seed)
    return _move_norms(TamingGumbelVQ(CONFIG, RESOLUTION).eval())


@pytest.fixture(scope="module")
def gumbel(tmp_path_factory):
    model = _random_gumbel_model()
    path = _save_lightning_checkpoint(model, tmp_path_factory.mktemp("gumbel") / "last.ckpt")
    return model, path


def _compare(converted, model, images):
    """Asserts latents, logits, indices and decoder outputs equal taming's; returns the largest differences."""
    with torch.no_grad():
        latents = model.latents(images).permute(0, 2, 3, 1).numpy()
        logits = model.logits(images).permute(0, 2, 3, 1).numpy()
        expected_indices = np.argmax(logits, axis=-1)
        reconstructions = model.decode_indices(torch.from_numpy(expected_indices)).permute(0, 2, 3, 1).numpy()
        # taming's own (noisy) forward in eval mode: its hard one-hot picks an index of the same codebook
        sampled, _, (_, _, sampled_indices) = model.quantize(model.latents(images))
        assert sampled_indices.max() < CONFIG["num_embeddings"] and sampled.shape[1] == CONFIG["latent_dim"]
    x = images.permute(0, 2, 3, 1).numpy()
    ours_latents = converted.pre_quant(converted.encoder(x)).numpy()
    ours_logits = converted.quantizer.logits(ours_latents).numpy().reshape(logits.shape)
    indices = converted.encode(x).numpy()
    np.testing.assert_array_equal(indices, expected_indices)
    ours_reconstructions = converted.decode(indices).numpy()
    np.testing.assert_allclose(ours_latents, latents, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours_logits, logits, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours_reconstructions, reconstructions, atol=TOLERANCE, rtol=0)
    # The whole model in inference (argmax) is taming's decoder on taming's argmax.
    np.testing.assert_allclose(converted(x).numpy(), reconstructions, atol=TOLERANCE, rtol=0)
    return {name: float(np.abs(ours - theirs).max()) for name, ours, theirs in (
        ("latents", ours_latents, latents), ("logits", ours_logits, logits),
        ("reconstructions", ours_reconstructions, reconstructions))}


def test_preset_config_is_taming_gumbel_f8():
    """taming's `vqgan_gumbel_f8` `model.yaml`: `embed_dim 256`, `n_embed 8192`, `z_channels 256`, `ch 128`,
    `ch_mult [1, 1, 2, 4]`, `num_res_blocks 2`, `attn_resolutions [32]` at `resolution 256`."""
    preset = get_preset("taming_gumbel_f8")
    assert preset["weights"]["format"] == "taming"
    assert preset["config"] == {"image_channels": 3, "num_embeddings": 8192, "latent_dim": 256, "z_channels": 256,
                                "base_channels": 128, "channel_multipliers": [1, 1, 2, 4], "num_res_blocks": 2,
                                "attention_levels": [3], "l2_normalize": False, "quantizer": "gumbel"}


def test_reduced_width_gumbel_matches_taming(gumbel):
    model, path = gumbel
    converted = from_taming(path, config=CONFIG)
    assert isinstance(converted.quantizer, GumbelQuantizer)
    assert converted.quantizer.kl_weight == 1e-8
    differences = _compare(converted, model, _images(RESOLUTION))
    assert max(differences.values()) < TOLERANCE


def test_cli_convert_detects_gumbel(gumbel, tmp_path, capsys):
    """Without a config (`vqkeras convert --from taming`), the `quantize.proj.weight` key selects the Gumbel
    quantizer, and the architecture inferred from the tensor shapes is the preset's."""
    import keras

    from vqkeras.cli import main

    model, path = gumbel
    out = tmp_path / "gumbel.keras"
    assert main(["convert", "--from", "taming", "--checkpoint", str(path), "--out", str(out)]) == 0
    assert f"{CONFIG['num_embeddings']} codes of dim {CONFIG['latent_dim']}" in capsys.readouterr().out
    loaded = keras.models.load_model(out, safe_mode=True)
    assert isinstance(loaded.quantizer, GumbelQuantizer)
    assert loaded.backbone.get_config()["attention_levels"] == CONFIG["attention_levels"]
    assert (loaded.z_channels, loaded.latent_dim, loaded.num_embeddings) == (
        CONFIG["z_channels"], CONFIG["latent_dim"], CONFIG["num_embeddings"])
    _compare(loaded, model, _images(RESOLUTION))


def test_vector_quantized_checkpoint_with_gumbel_config_names_the_first_mismatch(tmp_path):
    """A (non-Gumbel) taming VQGAN of the same width given the Gumbel preset's config: everything up to the
    quantizer loads, then `quantize.proj.weight` is named as missing."""
    vq_config = {**CONFIG, "quantizer": "vector"}
    path = _save_lightning_checkpoint(_random_model(vq_config, RESOLUTION), tmp_path / "vq.ckpt")
    with pytest.raises(ValueError, match=r"tensor 'quantize\.proj\.weight' is missing \(the model expects shape "
                                         rf"\({CONFIG['num_embeddings']}, {CONFIG['latent_dim']}, 1, 1\)\)"):
        from_taming(path, config=CONFIG)


def test_gumbel_checkpoint_with_vector_config_names_the_codebook(gumbel):
    _, path = gumbel
    with pytest.raises(ValueError, match=r"tensor 'quantize\.embedding\.weight' is missing"):
        from_taming(path, config={**CONFIG, "quantizer": "vector"})


def test_bad_quantizer_in_config_is_named(gumbel):
    _, path = gumbel
    with pytest.raises(ValueError, match=r"quantizer must be one of \('vector', 'gumbel'\)\. Received: "
                                         r"quantizer='ema'"):
        from_taming(path, config={**CONFIG, "quantizer": "ema"})
