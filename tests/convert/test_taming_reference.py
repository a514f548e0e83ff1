"""taming-transformers checkpoints converted into vqkeras give taming's own outputs.

For each pretrained taming preset, at reduced width (channels multiples of 32), random weights go into taming's
`Encoder`, `Decoder` and `VectorQuantizer` (from the PyPI package `taming-transformers-rom1504`, whose model module
needs Lightning, so only `taming.modules.*` is imported), are saved with `torch.save` as a Lightning checkpoint
(`state_dict` with `loss.*` keys beside it, and non-tensor objects), converted, and compared on the same images.
"""

import argparse
import math

import numpy as np
import pytest

from vqkeras.convert import from_taming
from vqkeras.presets import get_preset

torch = pytest.importorskip("torch")
taming_model = pytest.importorskip("taming.modules.diffusionmodules.model")
taming_quantize = pytest.importorskip("taming.modules.vqvae.quantize")

TOLERANCE = 1e-4
PRESETS = ["taming_imagenet_f16_1024", "taming_imagenet_f16_16384", "taming_openimages_f8_256",
           "taming_openimages_f8_16384"]


def _reduced(config):
    """The preset's architecture at reduced width: 32 base channels, at most 64 latent channels."""
    return {**config, "base_channels": 32, "z_channels": min(config["z_channels"], 64),
            "latent_dim": min(config["latent_dim"], 64)}


class TamingVQModel(torch.nn.Module):
    """taming's `VQModel` without its Lightning parts: the same submodules, hence the same state dict names."""

    def __init__(self, config, resolution):
        super().__init__()
        levels = len(config["channel_multipliers"])
        ddconfig = dict(double_z=False, z_channels=config["z_channels"], resolution=resolution, in_channels=3,
                        out_ch=3, ch=config["base_channels"], ch_mult=config["channel_multipliers"],
                        num_res_blocks=config["num_res_blocks"],
                        attn_resolutions=[resolution // 2**level for level in config["attention_levels"]],
                        dropout=0.0)
        assert levels == len(ddconfig["ch_mult"])
        self.encoder = taming_model.Encoder(**ddconfig)
        self.decoder = taming_model.Decoder(**ddconfig)
        self.quantize = taming_quantize.VectorQuantizer(config["num_embeddings"], config["latent_dim"], beta=0.25)
        self.quant_conv = torch.nn.Conv2d(config["z_channels"], config["latent_dim"], 1)
        self.post_quant_conv = torch.nn.Conv2d(config["latent_dim"], config["z_channels"], 1)

    def latents(self, x):
        return self.quant_conv(self.encoder(x))

    def forward(self, x):
        quantized, _, (_, _, indices) = self.quantize(self.latents(x))
        return self.decoder(self.post_quant_conv(quantized)), indices


def _move_norms(model):
    """GroupNorm starts at (1, 0): moves its weights (randomly) so the affine map is tested. Returns `model`."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
    return model


def _random_model(config, resolution, seed=0):
    torch.manual_seed(seed)
    model = _move_norms(TamingVQModel(config, resolution).eval())
    with torch.no_grad():
        # A codebook on the latents' scale (as a trained one is), so nearest codes are well separated: taming's
        # default uniform(±1/K) codebook makes every latent nearly equidistant from all codes.
        z = model.latents(torch.rand(4, 3, resolution, resolution) * 2 - 1).permute(0, 2, 3, 1)
        z = z.reshape(-1, config["latent_dim"])
        picks = z[torch.randint(len(z), (config["num_embeddings"],))]
        model.quantize.embedding.weight.copy_(picks + z.std() * torch.randn_like(picks))
    return model


def _save_lightning_checkpoint(model, path, **extra):
    """What PyTorch Lightning writes: the state dict (with the discriminator and LPIPS weights under `loss.*`)
    beside training state and non-tensor objects."""
    state = dict(model.state_dict())
    state["loss.discriminator.main.0.weight"] = torch.randn(64, 3, 4, 4)
    state["loss.perceptual_loss.lin0.model.1.weight"] = torch.randn(1, 64, 1, 1)
    torch.save({"epoch": 3, "global_step": 1000, "pytorch-lightning_version": "1.0.8", "state_dict": state,
                "hparams": argparse.Namespace(embed_dim=model.quant_conv.out_channels), "lr_schedulers": [],
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 4.5e-6, "params": [0, 1]}]}],
                **extra}, path)
    return path


def _images(resolution, count=2, seed=1):
    return torch.rand(count, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _compare(converted, model, images, atol=TOLERANCE):
    """Asserts vqkeras' latents, indices and reconstructions equal taming's (to `atol`); returns the largest
    differences."""
    with torch.no_grad():
        latents = model.latents(images).permute(0, 2, 3, 1).numpy()
        reconstructions, indices = model(images)
    x = images.permute(0, 2, 3, 1).numpy()
    ours_latents = converted.pre_quant(converted.encoder(x)).numpy()
    ours_reconstructions = converted(x).numpy()
    expected = reconstructions.permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(converted.encode(x).numpy().reshape(-1), indices.numpy().reshape(-1))
    np.testing.assert_allclose(ours_latents, latents, atol=atol, rtol=0)
    np.testing.assert_allclose(ours_reconstructions, expected, atol=atol, rtol=0)
    return np.abs(ours_latents - latents).max(), np.abs(ours_reconstructions - expected).max()


@pytest.mark.parametrize("preset", PRESETS)
def test_reduced_width_preset_matches_taming(preset, tmp_path):
    config = _reduced(get_preset(preset)["config"])
    factor = 2 ** (len(config["channel_multipliers"]) - 1)
    resolution = 4 * factor
    model = _random_model(config, resolution)
    path = _save_lightning_checkpoint(model, tmp_path / "last.ckpt")
    converted = from_taming(path, config=config)
    assert converted.attention_levels == tuple(config["attention_levels"])
    _compare(converted, model, _images(resolution))
    # The architecture inferred from the tensor shapes is the preset's.
    inferred = from_taming(path)
    assert inferred.backbone.get_config()["attention_levels"] == config["attention_levels"]
    assert (inferred.z_channels, inferred.latent_dim) == (config["z_channels"], config["latent_dim"])


def test_cli_convert_writes_a_keras_file_with_taming_outputs(tmp_path):
    import keras

    from vqkeras.cli import main

    config = _reduced(get_preset("taming_imagenet_f16_1024")["config"])
    model = _random_model(config, 64)
    checkpoint = _save_lightning_checkpoint(model, tmp_path / "last.ckpt")
    out = tmp_path / "model.keras"
    assert main(["convert", "--from", "taming", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    _compare(keras.models.load_model(out, safe_mode=True), model, _images(64))


def test_legacy_format_checkpoint_converts(tmp_path):
    """Checkpoints written before torch 1.6 (the legacy format) convert the same."""
    config = _reduced(get_preset("taming_openimages_f8_256")["config"])
    model = _random_model(config, 32)
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": model.state_dict()}, path, _use_new_zipfile_serialization=False)
    _compare(from_taming(path, config=config), model, _images(32))


def test_full_size_f16_16384_matches_taming(tmp_path):
    """The full-size ImageNet f16-16384 architecture (about 76M parameters) at 256×256: indices identical, latents
    and decoder outputs within 1e-4. (With Keras' `GroupNormalization`, whose float32 statistics sum 262,144 values
    at once at 256×256, the decoder outputs missed 1e-4; see `tests/layers/test_group_norm.py`.)"""
    config = get_preset("taming_imagenet_f16_16384")["config"]
    model = _random_model(config, 256)
    assert math.isclose(sum(p.numel() for p in model.parameters()) / 1e6, 76, rel_tol=0.05)
    path = _save_lightning_checkpoint(model, tmp_path / "last.ckpt")
    converted = from_taming(path, config=config)
    _compare(converted, model, _images(256, count=1))
