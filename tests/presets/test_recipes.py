"""The training recipes are plain data, and the quality benchmark reads its recipe from the library."""

import importlib
import json
import os

import keras
import pytest

from vqkeras.models import VQVAE
from vqkeras.presets import get_preset
from vqkeras.presets import list_presets
from vqkeras.priors import TransformerPrior

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
NAME = "fashion_mnist_28_vqgan"


@pytest.fixture
def quality(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)  # the benchmark imports its sibling `common`
    return importlib.import_module("quality")


def _without_class(config):
    return {key: value for key, value in config.items() if key != "class"}


def _serialized(model):
    config = keras.saving.serialize_keras_object(model)
    config["config"].pop("name")
    return json.dumps(config, sort_keys=True)


def test_recipe_is_registered_as_plain_data():
    assert NAME in list_presets("recipe")
    config = get_preset(NAME, kind="recipe")["config"]
    json.dumps(config)  # plain data only: anything else (a layer, an optimizer) is a TypeError
    assert config["tokenizer"]["class"] == "VQVAE" and config["prior"]["class"] == "TransformerPrior"


def test_quality_benchmark_builds_its_models_from_the_recipe(quality):
    config = get_preset(NAME, kind="recipe")["config"]
    assert quality.RECIPE is config
    # The benchmark's default tokenizer is the recipe's, at K = 64 and 512.
    for key, k in (("vqkeras_k64", 64), ("vqkeras_k512", 512)):
        model = quality.RECONSTRUCTION_MODELS[key](quality.ours_config(quality.DEFAULTS["ours"]))
        reference = VQVAE(**{**_without_class(config["tokenizer"]), "num_embeddings": k})
        assert _serialized(model) == _serialized(reference), key
        assert quality.learning_rate(key, quality.DEFAULTS["ours"]) == config["tokenizer_training"]["learning_rate"]
    reference = TransformerPrior(64, (7, 7), **_without_class(config["prior"]))
    assert _serialized(quality.transformer_prior()) == _serialized(reference)
    # The optimisers and the VQ-GAN phase.
    assert (quality.ADAM_BETA_2, quality.DEFAULT_BATCH_SIZE) == (0.95, 32) == (
        config["tokenizer_training"]["beta_2"], config["tokenizer_training"]["batch_size"])
    assert {**quality.GAN_SETTINGS, "perceptual_image_size": quality.PERCEPTUAL_IMAGE_SIZE} == config["vqgan"]
    assert (quality.GAN_LEARNING_RATE, quality.GAN_BETA_1) == (config["vqgan_training"]["learning_rate"],
                                                               config["vqgan_training"]["beta_1"])
    prior_training = config["prior_training"]
    assert (quality.PRIOR_LEARNING_RATE, quality.PRIOR_WEIGHT_DECAY, quality.PRIOR_BATCH_SIZE,
            quality.PRIOR_JIT_COMPILE) == (prior_training["learning_rate"], prior_training["weight_decay"],
                                           prior_training["batch_size"], prior_training["jit_compile"])
    assert quality.DEFAULT_ANNEAL == config["anneal"]
    assert quality.floats(quality.GUIDE_SNAPSHOTS) == list(config["guidance"]["snapshots"])
    assert quality.floats(quality.GUIDANCE_SCALES) == list(config["guidance"]["scales"])


def test_default_tokenizer_is_the_one_the_benchmark_figures_came_from(quality):
    """The configuration `benchmarks/quality.py` used as its own constants before it read the recipe (commit
    60b5ba9, `OURS_PRESETS["shuffle"]` with K = 64, one channel and the L2 loss, Adam 2e-3, β₂ = 0.95, batch 32)."""
    before = VQVAE(image_channels=1, num_embeddings=64, reconstruction_loss="l2", latent_dim=32, base_channels=8,
                   channel_multipliers=(1, 4, 4), num_res_blocks=0, use_attention=False, normalization="none",
                   upsample="pixel_shuffle")
    model = quality.ours(64, quality.ours_config("shuffle"))
    assert _serialized(model) == _serialized(before)
    assert quality.learning_rate("vqkeras_k64", "shuffle") == 2e-3
    assert quality.learning_rate("vqkeras_k64", "wide") == 1e-3  # a variant keeps its own rate
