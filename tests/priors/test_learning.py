"""Priors trained on grids drawn from a known distribution over three patterns reproduce its frequencies."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior

K = 8
GRID = (4, 4)
PROBS = np.array([0.5, 0.3, 0.2])


def _patterns():
    rng = np.random.default_rng(123)
    patterns = rng.integers(0, K, (3, 16))
    patterns[1, :6] = patterns[0, :6]  # patterns 0 and 1 share their first 6 tokens and branch mid-grid
    patterns[1, 6] = (patterns[0, 6] + 1) % K
    patterns[2, 0] = (patterns[0, 0] + 1) % K
    return patterns.reshape(3, *GRID)


def _dataset(patterns, n=2048):
    # exact proportions, so the empirical distribution is the target distribution
    which = np.repeat(np.arange(3), np.round(PROBS * n).astype(int))
    return tf.data.Dataset.from_tensor_slices(patterns[which].astype(np.int32)).shuffle(n, seed=0).batch(64)


EPOCHS = 12
STEPS = EPOCHS * 32


def _frequencies(samples, patterns):
    flat = samples.reshape(len(samples), -1)
    matches = (flat[:, None, :] == patterns.reshape(1, 3, -1)).all(-1)  # (n, 3)
    return matches.mean(0), matches.any(-1).mean()


@pytest.mark.parametrize(
    "make",
    [
        lambda: TransformerPrior(K, GRID, embed_dim=32, num_layers=2, num_heads=2, dropout=0.0),
        lambda: PixelCNNPrior(K, GRID, embed_dim=32, num_layers=3, kernel_size=3),
    ],
    ids=["transformer", "pixelcnn"],
)
def test_prior_learns_pattern_distribution(make):
    keras.utils.set_random_seed(0)
    patterns = _patterns()
    prior = make()
    prior.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(5e-3, STEPS)))
    prior.fit(_dataset(patterns), epochs=EPOCHS, verbose=0)
    samples = prior.sample(200, seed=11).numpy()
    freq, valid = _frequencies(samples, patterns)
    assert valid >= 0.95, f"only {valid:.2f} of the samples are one of the patterns"
    np.testing.assert_allclose(freq, PROBS, atol=0.1)


def test_frequency_check_can_fail():
    patterns = _patterns()
    wrong = patterns[np.r_[np.zeros(100, int), np.ones(100, int)]]  # 0.5 / 0.5 / 0
    freq, valid = _frequencies(wrong, patterns)
    assert valid == 1.0
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(freq, PROBS, atol=0.1)
