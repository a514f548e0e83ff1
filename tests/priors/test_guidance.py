"""Guided sampling (`sample(guide=..., guidance_scale=...)`) and `BasePrior.snapshot`."""

import numpy as np
import pytest
import keras

from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior
from vqkeras.priors import sampling

K = 9
GRID = (2, 3)


def _transformer(seed, **kwargs):
    keras.utils.set_random_seed(seed)
    return TransformerPrior(K, GRID, embed_dim=16, num_layers=1, num_heads=2, dropout=0.0, **kwargs)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_guided_logits_match_numpy():
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(4, K)).astype(np.float32), rng.normal(size=(4, K)).astype(np.float32)
    for w in (0.0, 0.5, 3.0):
        expected = (1 + w) * _log_softmax(p) - w * _log_softmax(q)
        np.testing.assert_allclose(sampling.guided_logits(p, q, w).numpy(), expected, atol=1e-5)
    # softmax of the result ∝ p · (p / q)^w
    probs_p, probs_q = np.exp(_log_softmax(p)), np.exp(_log_softmax(q))
    target = probs_p * (probs_p / probs_q) ** 2.0
    target /= target.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.exp(_log_softmax(sampling.guided_logits(p, q, 2.0).numpy())), target, atol=1e-5)


@pytest.mark.parametrize("num_classes", [None, 2])
def test_guided_sampling_uses_both_models_logits_at_every_position(num_classes):
    prior, guide = _transformer(0, num_classes=num_classes), _transformer(1, num_classes=num_classes)
    labels = None if num_classes is None else np.array([0, 1, 1])
    tokens, logits = prior.sample(3, seed=4, labels=labels, guide=guide, guidance_scale=1.5, return_logits=True)
    # Teacher-forced logits of both models on the drawn grid: the KV caches of both must have followed it.
    expected = 2.5 * _log_softmax(prior.logits(tokens, labels).numpy()) - 1.5 * _log_softmax(
        guide.logits(tokens, labels).numpy())
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-4)


def test_a_guide_equal_to_the_prior_or_scale_zero_changes_nothing():
    prior, other = _transformer(0), _transformer(1)
    plain = prior.sample(8, seed=3, top_k=5).numpy()
    np.testing.assert_array_equal(prior.sample(8, seed=3, top_k=5, guide=prior, guidance_scale=2.0).numpy(), plain)
    np.testing.assert_array_equal(prior.sample(8, seed=3, top_k=5, guide=other, guidance_scale=0.0).numpy(), plain)
    assert not np.array_equal(prior.sample(8, seed=3, top_k=5, guide=other, guidance_scale=3.0).numpy(), plain)


def test_a_pixelcnn_can_guide_a_transformer_and_the_reverse():
    transformer = _transformer(0)
    keras.utils.set_random_seed(2)
    pixelcnn = PixelCNNPrior(K, GRID, embed_dim=8, num_layers=2)
    tokens, logits = transformer.sample(2, seed=1, guide=pixelcnn, return_logits=True)  # w defaults to 1
    expected = 2 * _log_softmax(transformer.logits(tokens).numpy()) - _log_softmax(pixelcnn.logits(tokens).numpy())
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-4)
    assert pixelcnn.sample(2, seed=1, guide=transformer, guidance_scale=0.5).shape == (2, *GRID)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(guidance_scale=1.0), "guidance_scale needs a guide prior. Received: guidance_scale=1.0"),
        (dict(guide="early", guidance_scale=1.0), "guide must be an autoregressive vqkeras prior"),
        (dict(guide="other_k"), r"num_embeddings, grid_shape and num_classes \(9, \(2, 3\), None\). Received: guide "
                                r"with \(7, \(2, 3\), None\)"),
        (dict(guide="self", guidance_scale=-0.5), "guidance_scale must be a float ≥ 0. Received: guidance_scale=-0.5"),
    ],
)
def test_guidance_errors_name_the_argument_and_value(kwargs, message):
    prior = _transformer(0)
    guides = {"self": prior, "other_k": TransformerPrior(7, GRID, embed_dim=8, num_layers=1, num_heads=2)}
    if "guide" in kwargs:
        kwargs = {**kwargs, "guide": guides.get(kwargs["guide"], kwargs["guide"])}
    with pytest.raises(ValueError, match=message):
        prior.sample(2, seed=0, **kwargs)


def test_snapshot_is_an_independent_frozen_copy():
    prior = _transformer(0)
    tokens = np.random.default_rng(0).integers(0, K, size=(16, *GRID))
    copy = prior.snapshot()
    assert copy is not prior and copy.name == f"{prior.name}_snapshot" and not copy.trainable_weights
    np.testing.assert_array_equal(copy.logits(tokens).numpy(), prior.logits(tokens).numpy())
    prior.compile(optimizer=keras.optimizers.Adam(1e-2))
    prior.fit(tokens, epochs=2, batch_size=8, verbose=0)
    assert not np.allclose(copy.logits(tokens).numpy(), prior.logits(tokens).numpy())


def test_snapshot_of_a_pixelcnn_builds_before_copying():
    keras.utils.set_random_seed(0)
    prior = PixelCNNPrior(K, GRID, embed_dim=8, num_layers=2, num_classes=3)
    tokens, labels = np.zeros((2, *GRID), np.int32), np.array([0, 2])
    expected = prior.logits(tokens, labels).numpy()
    np.testing.assert_array_equal(prior.snapshot(name="early").logits(tokens, labels).numpy(), expected)


def test_guidance_by_an_untrained_snapshot_sharpens_towards_the_learned_patterns():
    """Two fixed grids make the data; after a short fit the prior puts most but not all of its mass on them. Guided
    by its own untrained snapshot (near uniform), it draws the patterns more often than unguided."""
    patterns = np.array([[[0, 1, 2], [3, 4, 5]], [[8, 7, 6], [5, 4, 3]]], np.int32)
    prior = _transformer(0)
    guide = prior.snapshot()
    prior.compile(optimizer=keras.optimizers.Adam(3e-3))
    prior.fit(np.repeat(patterns, 64, axis=0), epochs=4, batch_size=32, verbose=0)

    def hit_rate(**kwargs):
        grids = prior.sample(400, seed=0, **kwargs).numpy()
        return np.mean([any((g == p).all() for p in patterns) for g in grids])

    plain, guided = hit_rate(), hit_rate(guide=guide, guidance_scale=2.0)
    assert 0.03 < plain < 0.5, plain  # the short fit leaves room to sharpen (measured: 0.11)
    assert guided > plain + 0.3, (plain, guided)  # measured: 0.86
