"""The training recipes are plain data, and the quality benchmark reads its recipe from the library."""

import importlib
import json
import os

import keras
import pytest

from vqkeras.models import VQVAE
from vqkeras.presets import get_recipe
from vqkeras.presets import list_presets
from vqkeras.priors import TransformerPrior

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
NAME = "fashion_mnist_28"


@pytest.fixture
def quality(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)  # the benchmark imports its sibling `common`
    return importlib.import_module("quality")


def _serialized(model):
    config = keras.saving.serialize_keras_object(model)
    config["config"].pop("name")
    return json.dumps(config, sort_keys=True)


def test_recipe_is_registered_as_plain_data():
    assert NAME in list_presets("generator")
    config = get_recipe(NAME)
    assert json.loads(json.dumps(config)) == config  # plain data only: a layer or an optimizer is a TypeError
    for key in ("optimizer", "reconstruction_optimizer", "prior_optimizer"):
        assert isinstance(keras.optimizers.get(config[key]), keras.optimizers.Optimizer), key


def test_quality_benchmark_builds_its_models_from_the_recipe(quality):
    config = get_recipe(NAME)
    assert quality.RECIPE is config
    # The benchmark's default tokenizer is the recipe's, at K = 64 and 512.
    tokenizer = {key: config[key] for key in quality.TOKENIZER_KEYS}
    for key, k in (("vqkeras_k64", 64), ("vqkeras_k512", 512)):
        model = quality.RECONSTRUCTION_MODELS[key](quality.ours_config(quality.DEFAULTS["ours"]))
        reference = VQVAE(**{**tokenizer, "image_channels": 1, "num_embeddings": k})
        assert _serialized(model) == _serialized(reference), key
        assert quality.learning_rate(key, quality.DEFAULTS["ours"]) == (
            config["reconstruction_optimizer"]["config"]["learning_rate"])
    reference = TransformerPrior(64, (7, 7), **config["prior_kwargs"])
    assert _serialized(quality.transformer_prior()) == _serialized(reference)
    # The optimisers and the VQ-GAN phase.
    assert (quality.ADAM_BETA_2, quality.DEFAULT_BATCH_SIZE) == (0.95, 32) == (
        config["reconstruction_optimizer"]["config"]["beta_2"], config["batch_size"])
    assert {**quality.GAN_SETTINGS, "perceptual_image_size": quality.PERCEPTUAL_IMAGE_SIZE} == {
        key: config[key] for key in quality.VQGAN_KEYS}
    assert (quality.GAN_LEARNING_RATE, quality.GAN_BETA_1) == (config["optimizer"]["config"]["learning_rate"],
                                                               config["optimizer"]["config"]["beta_1"])
    prior_optimizer = config["prior_optimizer"]["config"]
    assert (quality.PRIOR_LEARNING_RATE, quality.PRIOR_WEIGHT_DECAY, quality.PRIOR_BATCH_SIZE,
            quality.PRIOR_JIT_COMPILE) == (prior_optimizer["learning_rate"], prior_optimizer["weight_decay"],
                                           config["prior_batch_size"], config["prior_jit_compile"])
    assert quality.DEFAULT_ANNEAL == config["anneal"]
    assert config["guide_fraction"] in quality.floats(quality.GUIDE_SNAPSHOTS)


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
