"""`StableDecaySchedule` against its formula, its config round trip, and the training functions that anneal with it."""

import keras
import numpy as np
import pytest

import vqkeras
from vqkeras.optimizers import StableDecaySchedule


def test_schedule_matches_the_formula():
    schedule = StableDecaySchedule(2e-3, total_steps=100, decay_fraction=0.2)
    steps = np.arange(0, 121)
    expected = 2e-3 * np.clip((100 - steps) / 20.0, 0.0, 1.0)  # flat to step 80, then linear to 0 at 100, then 0
    got = np.array([float(schedule(s)) for s in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    assert got[80] == pytest.approx(2e-3) and got[90] == pytest.approx(1e-3) and got[100] == 0.0


def test_schedule_round_trips_inside_an_optimizer_config():
    optimizer = keras.optimizers.Adam(StableDecaySchedule(1e-3, 50, 0.5))
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored.learning_rate_schedule if hasattr(restored, "learning_rate_schedule")
                      else restored._learning_rate, StableDecaySchedule)
    assert restored._learning_rate.get_config() == {"learning_rate": 1e-3, "total_steps": 50, "decay_fraction": 0.5}


@pytest.mark.parametrize("kwargs, words", [
    (dict(learning_rate=0.0), "learning_rate=0.0"),
    (dict(total_steps=0), "total_steps=0"),
    (dict(decay_fraction=1.5), "decay_fraction=1.5"),
    (dict(decay_fraction=0.0), "decay_fraction=0.0"),
])
def test_schedule_rejects_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        StableDecaySchedule(**{"learning_rate": 1e-3, "total_steps": 10, "decay_fraction": 0.2, **kwargs})


def _images(n=16):
    return np.random.default_rng(0).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


TINY = dict(image_size=8, num_embeddings=8, latent_dim=4, base_channels=8, channel_multipliers=(1, 2),
            num_res_blocks=0, use_attention=False, prior_kwargs=dict(embed_dim=8, num_layers=1, num_heads=1),
            verbose=0, batch_size=8)


def test_train_vqvae_anneals_every_phase_to_zero_and_takes_optimizer_configs():
    generator = vqkeras.train_vqvae(
        _images(), epochs=2, prior_epochs=3, anneal=0.5,
        optimizer={"class_name": "Adam", "config": {"learning_rate": 1e-3, "beta_2": 0.95}},
        prior_optimizer={"class_name": "AdamW", "config": {"learning_rate": 2e-3, "weight_decay": 0.02}},
        prior_batch_size=4, **TINY)
    tokenizer_optimizer, prior_optimizer = generator.tokenizer.optimizer, generator.prior.optimizer
    assert tokenizer_optimizer.beta_2 == 0.95 and prior_optimizer.weight_decay == 0.02
    # Tokenizer: 2 epochs × 2 batches; prior: 3 epochs × 16 grids / 4 per batch. Both end at a rate of 0.
    assert int(tokenizer_optimizer.iterations) == 4 and int(prior_optimizer.iterations) == 12
    assert tokenizer_optimizer._learning_rate.get_config() == pytest.approx(
        {"learning_rate": 1e-3, "total_steps": 4, "decay_fraction": 0.5})
    assert prior_optimizer._learning_rate.get_config()["total_steps"] == 12
    assert float(tokenizer_optimizer.learning_rate) == 0.0 and float(prior_optimizer.learning_rate) == 0.0


@pytest.mark.parametrize("kwargs, words", [
    (dict(optimizer="adam", learning_rate=1e-3), "optimizer='adam', learning_rate=0.001"),
    (dict(prior_optimizer="adamw", prior_learning_rate=1e-3), "prior_optimizer='adamw'"),
    (dict(anneal=1.5), "anneal=1.5"),
    (dict(prior_batch_size=0), "prior_batch_size=0"),
    (dict(prior_jit_compile="yes"), "jit_compile='yes'"),
    (dict(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)), anneal=0.2),
     "already has a schedule"),
])
def test_training_arguments_are_checked(kwargs, words):
    with pytest.raises(ValueError, match=words):
        vqkeras.train_vqvae(_images(), epochs=1, prior_epochs=1, **{**TINY, **kwargs})
