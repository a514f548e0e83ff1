import numpy as np
import pytest

import vqkeras
from vqkeras.generator import ImageGenerator
from vqkeras.models import VQVAE
from vqkeras.presets import registry


@pytest.mark.parametrize("name", ["fashion_mnist_28", "orl_faces_64"])
def test_shipped_preset_loads_the_file_its_config_describes(name):
    config = registry.get_preset(name)["config"]
    generator = ImageGenerator.from_preset(name)
    assert isinstance(generator, ImageGenerator)
    assert tuple(generator.image_shape) == tuple(config["image_shape"])
    tokenizer = generator.tokenizer
    for key in ("num_embeddings", "latent_dim", "base_channels", "channel_multipliers", "num_res_blocks"):
        assert tuple(np.atleast_1d(getattr(tokenizer, key))) == tuple(np.atleast_1d(config["tokenizer"][key])), key
    assert type(generator.prior).__name__ == config["prior"]["class"]
    assert generator.prior.embed_dim == config["prior"]["embed_dim"]
    assert generator.prior.num_layers == config["prior"]["num_layers"]


def test_tokenizer_class_gets_the_generators_tokenizer():
    tokenizer = VQVAE.from_preset("fashion_mnist_28")
    assert isinstance(tokenizer, VQVAE) and not isinstance(tokenizer, ImageGenerator)
    images = np.zeros((1, 28, 28, 1), "float32")
    assert tuple(tokenizer.encode(images).shape) == (1, 7, 7)


def test_unknown_preset_names_the_closest():
    with pytest.raises(ValueError, match=r"name='fashion_mnist_82'.*Did you mean 'fashion_mnist_28'"):
        ImageGenerator.from_preset("fashion_mnist_82")


def test_recipe_preset_is_not_a_model(monkeypatch):
    monkeypatch.setattr(registry, "_PRESETS", {"r": {"kind": "recipe", "description": "d", "config": {}}})
    with pytest.raises(ValueError, match=r"training recipe.*train_vqgan\(preset='r'\)"):
        VQVAE.from_preset("r")


def test_preset_without_weights_builds_from_config(monkeypatch):
    config = dict(image_channels=1, num_embeddings=16, latent_dim=4, base_channels=8, channel_multipliers=(1, 2),
                  num_res_blocks=0, use_attention=False)
    monkeypatch.setattr(registry, "_PRESETS", {"t": {"kind": "tokenizer", "description": "d", "config": config}})
    model = VQVAE.from_preset("t")
    assert isinstance(model, VQVAE) and model.num_embeddings == 16 and model.latent_dim == 4
    assert "fashion_mnist_28" not in vqkeras.presets.list_presets()  # the monkeypatched registry is in use


def test_pretrained_preset_goes_through_the_converter_and_says_both_ways_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import keras

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(ValueError, match=r"checkpoint="):
        VQVAE.from_preset("taming_imagenet_f16_1024")
